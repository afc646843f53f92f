package sem

import (
	"context"
	"strconv"
	"time"
	"unsafe"

	"github.com/ipctoolkit/ipc/internal/intr"
	"github.com/ipctoolkit/ipc/internal/sys"
	"github.com/ipctoolkit/ipc/ipc"
	"golang.org/x/sys/unix"
)

// Op is one operation on one semaphore of a set: add a delta to it, waiting
// while that would make it negative, or wait until it is 0. Make one with
// Inc, Dec or WaitZero, which check their arguments: an Op they refused makes
// the Do call that gets it fail, and the zero Op waits for semaphore 0 to be
// 0. An Op is laid out as struct sembuf, so a []Op goes to the kernel as it
// stands.
type Op struct {
	num   uint16
	delta int16
	flags Flags
}

// Flags change how one operation behaves; combine them with |. 0 is the
// default: wait, and leave nothing for the kernel to undo.
type Flags int16

const (
	// NoWait makes the whole call fail at once, with an error matching
	// ipc.ErrWouldBlock, instead of waiting for this operation (IPC_NOWAIT).
	NoWait Flags = unix.IPC_NOWAIT
	// Undo has the kernel reverse this operation when the process exits,
	// however it exits (SEM_UNDO): what makes a lock survive kill -9 of
	// its holder. The undo record is per process, not per goroutine.
	Undo Flags = sys.SEM_UNDO
)

const (
	opFlags = NoWait | Undo
	// Marks of an Op that Inc, Dec or WaitZero refused, in flag bits the
	// kernel never sees (Do refuses such an Op before the call).
	badNum   Flags = 0x2000
	badDelta Flags = 0x4000
	badFlags Flags = 0x0200
	bad            = badNum | badDelta | badFlags

	maxNum = 1<<16 - 1 // sem_num is an unsigned short
	semvmx = 32767     // the largest value, and so the largest useful delta
)

// The kernel reads []Op as []struct sembuf; this fails to compile if the
// layouts ever part.
var _ [unsafe.Sizeof(Op{}) - unsafe.Sizeof(sys.Sembuf{})]struct{}
var _ [unsafe.Sizeof(sys.Sembuf{}) - unsafe.Sizeof(Op{})]struct{}

func op(num, delta int, flags Flags) Op {
	o := Op{num: uint16(num), delta: int16(delta), flags: flags & opFlags}
	if num < 0 || num > maxNum {
		o.flags |= badNum
	}
	if delta < -semvmx || delta > semvmx {
		o.flags |= badDelta
	}
	if flags&^opFlags != 0 {
		o.flags |= badFlags
	}
	return o
}

// Inc adds n to semaphore num (a V, or post, when n is 1). num is 0 to
// 65535 and n 1 to 32767 (SEMVMX); other values make Do fail with an error
// matching unix.EFBIG (the number) or unix.ERANGE (n), never a wrapped-around
// operation on another semaphore.
func Inc(num, n int, flags Flags) Op {
	if n <= 0 {
		return op(num, semvmx+1, flags)
	}
	return op(num, n, flags)
}

// Dec takes n from semaphore num, waiting until it can (a P, or wait, when n
// is 1). The ranges are those of Inc.
func Dec(num, n int, flags Flags) Op {
	if n <= 0 {
		return op(num, semvmx+1, flags)
	}
	return op(num, -n, flags)
}

// WaitZero waits until semaphore num is 0.
func WaitZero(num int, flags Flags) Op { return op(num, 0, flags) }

// checkOps refuses an empty call and any Op that Inc, Dec or WaitZero
// refused, and reports whether every operation has NoWait.
func (s *Set) checkOps(ops []Op) (allNoWait bool, err error) {
	if err := s.check("operate on"); err != nil {
		return false, err
	}
	if len(ops) == 0 {
		return false, s.noOps()
	}
	allNoWait = true
	for i, o := range ops {
		if o.flags&bad != 0 {
			e := &ipc.Error{Pkg: "sem", Op: "operate on", Kind: ipc.Semaphore, ID: s.id, Err: unix.ERANGE}
			switch {
			case o.flags&badNum != 0:
				e.Err, e.Detail = unix.EFBIG, "operation "+strconv.Itoa(i)+": a semaphore number is 0 to 65535"
			case o.flags&badDelta != 0:
				e.Detail = "operation " + strconv.Itoa(i) + ": a delta is 1 to 32767"
			default:
				e.Err, e.Detail = unix.EINVAL, "operation "+strconv.Itoa(i)+": flags other than NoWait and Undo"
			}
			return false, e
		}
		allNoWait = allNoWait && o.flags&NoWait != 0
	}
	return allNoWait, nil
}

func sembufs(ops []Op) []sys.Sembuf {
	return unsafe.Slice((*sys.Sembuf)(unsafe.Pointer(unsafe.SliceData(ops))), len(ops))
}

// Do applies ops atomically (semop): all of them happen, or none and the
// call waits. It retries EINTR.
func (s *Set) Do(ops ...Op) error {
	allNoWait, err := s.checkOps(ops)
	if err != nil {
		return err
	}
	sops := sembufs(ops)
	if allNoWait {
		// It cannot wait: nothing for the scheduler to know.
		for {
			if errno := sys.SemopRaw(s.id, sops); errno != unix.EINTR {
				return s.opErr(errno)
			}
		}
	}
	if done, e := s.slot(context.Background(), sops); done {
		return s.opErr(e)
	}
	defer intr.Release()
	// A hand-off between processes waits microseconds, for which the
	// scheduler's system call bookkeeping costs more than the wait: see
	// package rawwait.
	_, e := s.waits.Syscall(unix.SYS_SEMOP, uintptr(s.id), unsafe.Pointer(&sops[0]), uintptr(len(sops)), 0, 0)
	return s.opErr(e)
}

// DoTimeout is Do that gives up after d with an error matching
// os.ErrDeadlineExceeded (semtimedop). Interrupted by a signal it goes on
// waiting for what is left of d, not for d again. A d of 0 or less tries
// once without waiting.
func (s *Set) DoTimeout(d time.Duration, ops ...Op) error {
	if _, err := s.checkOps(ops); err != nil {
		return err
	}
	sops := sembufs(ops)
	deadline := time.Now().Add(d)
	if !intr.TrySlot() {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		done, e := s.slot(ctx, sops)
		cancel()
		switch {
		case done && e == unix.EAGAIN && !anyNoWait(ops):
			return s.timeoutErr(ipc.ErrTimeout)
		case done:
			return s.opErr(e)
		}
	}
	defer intr.Release()
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
	if _, err := s.checkOps(ops); err != nil {
		return err
	}
	sops := sembufs(ops)
	if done, e := s.slot(ctx, sops); done {
		if e == unix.EAGAIN && !anyNoWait(ops) {
			return s.timeoutErr(ctx.Err())
		}
		return s.opErr(e)
	}
	defer intr.Release()
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
		return s.timeoutErr(ipc.ErrTimeout)
	}
	return s.opErr(errno)
}

// slot takes one of the slots for calls blocked in the kernel (see package
// internal/intr), or, when they are all taken, waits in Go for one, trying
// the operations with IPC_NOWAIT now and then. done reports that the call
// is over without a slot: it completed, failed, or ctx ended (errno EAGAIN
// then, and ctx.Err() is set).
func (s *Set) slot(ctx context.Context, sops []sys.Sembuf) (done bool, errno unix.Errno) {
	if intr.TrySlot() {
		return false, 0
	}
	// The kernel must not see the caller's operations changed: try a copy
	// with every one made IPC_NOWAIT. (An operation that had NoWait itself
	// and cannot proceed makes the real call fail at once once it has a
	// slot, as it would have.)
	nowait := append([]sys.Sembuf(nil), sops...)
	for i := range nowait {
		nowait[i].Flg |= unix.IPC_NOWAIT
	}
	errno = unix.EAGAIN
	done, err := intr.Slot(ctx, func() bool {
		errno = intr.Retry(func() unix.Errno { return sys.SemopRaw(s.id, nowait) })
		return errno != unix.EAGAIN
	})
	return done || err != nil, errno
}

func anyNoWait(ops []Op) bool {
	for _, o := range ops {
		if o.flags&NoWait != 0 {
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
	if cause == context.DeadlineExceeded {
		// ipc.ErrTimeout matches it, and words it as every timeout is.
		cause = ipc.ErrTimeout
	}
	return &ipc.Error{Pkg: "sem", Op: "operate on", Kind: ipc.Semaphore, ID: s.id, Call: "semtimedop", Err: cause}
}

func (s *Set) noOps() error {
	return &ipc.Error{Pkg: "sem", Op: "operate on", Kind: ipc.Semaphore, ID: s.id, Err: unix.EINVAL, Detail: "no operations given"}
}
