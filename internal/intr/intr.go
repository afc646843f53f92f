// Package intr makes blocking System V IPC calls cancellable.
//
// A semop or msgrcv has no file descriptor, so the runtime's poller cannot
// wake it. What does work is a signal: the kernel never restarts these calls
// after a handler ran, whatever SA_RESTART says (signal(7)), so a signal sent
// to the very thread that is blocked makes the call fail with EINTR. Call
// locks the calling goroutine to its thread for the duration, and when the
// context is done sends that thread SIGURG (which the Go runtime already
// handles and ignores outside preemption) until the call returns.
package intr

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// resendInterval is how often the thread is signalled again while the call
// has not returned: a signal that lands between the context check and the
// system call's entry is lost, the next one is not.
const resendInterval = time.Millisecond

// Retry calls fn until it returns something other than EINTR.
func Retry(fn func() unix.Errno) unix.Errno {
	for {
		if e := fn(); e != unix.EINTR {
			return e
		}
	}
}

// Call runs fn, retrying EINTR, until it succeeds, fails otherwise, or ctx is
// done. It returns fn's last errno, and ctx.Err() when the call was
// interrupted because ctx is done. A call that completed is reported as
// completed even if ctx was done meanwhile: the operation happened, and the
// caller must not think otherwise.
//
// A context that can never be done takes the plain path: no thread locking,
// no goroutine.
func Call(ctx context.Context, fn func() unix.Errno) (unix.Errno, error) {
	if ctx.Done() == nil {
		return Retry(fn), nil
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	pid, tid := unix.Getpid(), unix.Gettid()
	var returned atomic.Bool
	stop := context.AfterFunc(ctx, func() {
		for !returned.Load() {
			_ = unix.Tgkill(pid, tid, unix.SIGURG)
			time.Sleep(resendInterval)
		}
	})
	defer func() {
		returned.Store(true)
		stop()
	}()
	for {
		e := fn()
		if e != unix.EINTR {
			return e, nil
		}
		if err := ctx.Err(); err != nil {
			return e, err
		}
	}
}
