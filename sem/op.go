package sem

import (
	"context"
	"time"
	"unsafe"

	"github.com/ipctoolkit/ipc/internal/intr"
	"github.com/ipctoolkit/ipc/internal/sys"
	"github.com/ipctoolkit/ipc/ipc"
	"golang.org/x/sys/unix"
)

// Op is one operation on one semaphore of a set (struct sembuf, and laid out
// as it is, so a []Op goes to the kernel as it stands): add Delta to
// semaphore Num, waiting while that would make it negative; or, with Delta
// 0, wait until it is 0.
type Op struct {
	Num   uint16
	Delta int16
	Flags OpFlags
}

// OpFlags change how one operation behaves.
type OpFlags int16

const (
	// NoWait makes the whole call fail at once, with an error matching
	// ipc.ErrWouldBlock, instead of waiting for this operation (IPC_NOWAIT).
	NoWait OpFlags = unix.IPC_NOWAIT
	// Undo has the kernel reverse this operation when the process exits,
	// however it exits (SEM_UNDO): what makes a lock survive kill -9 of
	// its holder.
	Undo OpFlags = sys.SEM_UNDO
)

// The kernel reads []Op as []struct sembuf; this fails to compile if the
// layouts ever part.
var _ [unsafe.Sizeof(Op{}) - unsafe.Sizeof(sys.Sembuf{})]struct{}
var _ [unsafe.Sizeof(sys.Sembuf{}) - unsafe.Sizeof(Op{})]struct{}

// Inc adds n to semaphore num (a V, or post, when n is 1).
func Inc(num int, n int16) Op { return Op{Num: uint16(num), Delta: n} }

// Dec takes n from semaphore num, waiting until it can (a P, or wait, when n
// is 1).
func Dec(num int, n int16) Op { return Op{Num: uint16(num), Delta: -n} }

// WaitZero waits until semaphore num is 0.
func WaitZero(num int) Op { return Op{Num: uint16(num)} }

// NoWait returns o with the NoWait flag.
func (o Op) NoWait() Op { o.Flags |= NoWait; return o }

// Undo returns o with the Undo flag.
func (o Op) Undo() Op { o.Flags |= Undo; return o }

func sembufs(ops []Op) []sys.Sembuf {
	return unsafe.Slice((*sys.Sembuf)(unsafe.Pointer(unsafe.SliceData(ops))), len(ops))
}

// Do applies ops atomically (semop): all of them happen, or none and the
// call waits. It retries EINTR.
func (s *Set) Do(ops ...Op) error {
	if len(ops) == 0 {
		return s.noOps()
	}
	sops := sembufs(ops)
	if allNoWait(ops) {
		// It cannot wait: nothing for the scheduler to know.
		for {
			if errno := sys.SemopRaw(s.id, sops); errno != unix.EINTR {
				return s.opErr(errno)
			}
		}
	}
	// A hand-off between processes waits microseconds, for which the
	// scheduler's system call bookkeeping costs more than the wait: see
	// package rawwait.
	return s.opErr(s.waits.Wait(func(raw bool) unix.Errno {
		if raw {
			return sys.SemopRaw(s.id, sops)
		}
		return sys.Semop(s.id, sops)
	}, nil))
}

func allNoWait(ops []Op) bool {
	for _, o := range ops {
		if o.Flags&NoWait == 0 {
			return false
		}
	}
	return true
}

// DoTimeout is Do that gives up after d with an error matching
// os.ErrDeadlineExceeded (semtimedop). Interrupted by a signal it goes on
// waiting for what is left of d, not for d again. A d of 0 or less tries
// once without waiting.
func (s *Set) DoTimeout(d time.Duration, ops ...Op) error {
	if len(ops) == 0 {
		return s.noOps()
	}
	sops := sembufs(ops)
	deadline := time.Now().Add(d)
	for {
		ts := unix.NsecToTimespec(max(int64(d), 0))
		errno := sys.Semtimedop(s.id, sops, &ts)
		switch {
		case errno == unix.EINTR:
			d = time.Until(deadline)
			continue
		case errno == unix.EAGAIN && !anyNoWait(ops):
			return s.timeoutErr(ipc.ErrTimeout)
		}
		return s.opErr(errno)
	}
}

// DoContext is Do that gives up when ctx is done, returning an error that
// matches ctx.Err(). A context with a deadline waits in semtimedop; any
// other is cancelled by signalling the waiting thread (see package doc). A
// context that can never be done costs nothing over Do.
func (s *Set) DoContext(ctx context.Context, ops ...Op) error {
	if ctx.Done() == nil {
		return s.Do(ops...)
	}
	if len(ops) == 0 {
		return s.noOps()
	}
	sops := sembufs(ops)
	deadline, hasDeadline := ctx.Deadline()
	timedOut := false
	errno, err := intr.Call(ctx, func() unix.Errno {
		if !hasDeadline {
			return sys.Semop(s.id, sops)
		}
		left := time.Until(deadline)
		if left <= 0 {
			// Past the deadline the context is done, even if its timer
			// has not fired yet.
			timedOut = true
			return unix.EAGAIN
		}
		ts := unix.NsecToTimespec(int64(left))
		e := sys.Semtimedop(s.id, sops, &ts)
		if e == unix.EAGAIN && !anyNoWait(ops) {
			timedOut = true
		}
		return e
	})
	switch {
	case err != nil:
		return s.timeoutErr(err)
	case timedOut:
		return s.timeoutErr(context.DeadlineExceeded)
	}
	return s.opErr(errno)
}

func anyNoWait(ops []Op) bool {
	for _, o := range ops {
		if o.Flags&NoWait != 0 {
			return true
		}
	}
	return false
}

func (s *Set) opErr(errno unix.Errno) error {
	if errno == 0 {
		return nil
	}
	return s.err("operate on", "semop", errno)
}

func (s *Set) timeoutErr(cause error) error {
	return &ipc.Error{Pkg: "sem", Op: "operate on", Kind: ipc.Semaphore, ID: s.id, Call: "semtimedop", Err: cause}
}

func (s *Set) noOps() error {
	return &ipc.Error{Pkg: "sem", Op: "operate on", Kind: ipc.Semaphore, ID: s.id, Err: unix.EINVAL, Detail: "no operations given"}
}
