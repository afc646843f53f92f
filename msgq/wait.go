package msgq

import (
	"context"
	"runtime"
	"time"

	"github.com/ipctoolkit/ipc/internal/intr"
	"github.com/ipctoolkit/ipc/internal/rawwait"
	"github.com/ipctoolkit/ipc/internal/sys"
	"github.com/ipctoolkit/ipc/ipc"
	"golang.org/x/sys/unix"
)

// msgsnd and msgrcv have no timed form. A call that must give up after a
// while is first made with IPC_NOWAIT, so one that need not wait costs one
// system call and sets up nothing. One that must wait is made on a thread
// of its own (runtime.LockOSThread) with a POSIX timer armed to signal that
// thread (SIGEV_THREAD_ID) when the time is up, and every millisecond after,
// in case the first signal came just before the call began: the signal makes
// the call fail with EINTR, and the clock says whether that was the end.
// SIGURG is the signal, as it is for the runtime's own preemption, so the Go
// runtime already handles it and nothing else notices. This allocates
// nothing and needs no helper goroutine. Were timer_create to fail, the
// wait goes through internal/intr with a context deadline instead.

// wouldBlock reports whether a call with IPC_NOWAIT failed only because it
// would have had to wait: EAGAIN from msgsnd, ENOMSG from msgrcv.
func wouldBlock(e unix.Errno) bool { return e == unix.EAGAIN || e == unix.ENOMSG }

// timed runs op (one msgsnd or msgrcv with the extra flags given, raw or
// not) for at most d. The error is ipc.ErrTimeout when d passed first.
func timed(h *rawwait.Hint, d time.Duration, op func(flags int, raw bool) unix.Errno) (unix.Errno, error) {
	e := retryNoWait(op)
	if !wouldBlock(e) {
		return e, nil
	}
	if d <= 0 {
		return 0, ipc.ErrTimeout
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ev := sys.Sigevent{Signo: int32(unix.SIGURG), Notify: sys.SIGEV_THREAD_ID, Tid: int32(unix.Gettid())}
	timer, te := sys.TimerCreate(unix.CLOCK_MONOTONIC, &ev)
	if te != 0 {
		return timedByContext(d, op)
	}
	defer sys.TimerDelete(timer)
	start := time.Now()
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d)), Interval: unix.NsecToTimespec(int64(time.Millisecond))}
	if te := sys.TimerSettime(timer, 0, &spec); te != 0 {
		return timedByContext(d, op)
	}
	expired := func() bool { return time.Since(start) >= d }
	e = h.Wait(func(raw bool) unix.Errno { return op(0, raw) }, expired)
	if e == unix.EINTR {
		return 0, ipc.ErrTimeout
	}
	return e, nil
}

// timedByContext is timed's wait when no timer can be had.
func timedByContext(d time.Duration, op func(flags int, raw bool) unix.Errno) (unix.Errno, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	e, err := intr.Call(ctx, func() unix.Errno { return op(0, false) })
	if err != nil {
		return 0, ipc.ErrTimeout
	}
	return e, nil
}

// withContext runs op until it completes or ctx is done, trying IPC_NOWAIT
// first as timed does; the wait itself goes through internal/intr.
func withContext(ctx context.Context, op func(flags int, raw bool) unix.Errno) (unix.Errno, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	e := retryNoWait(op)
	if !wouldBlock(e) {
		return e, nil
	}
	e, err := intr.Call(ctx, func() unix.Errno { return op(0, false) })
	if err != nil {
		return 0, err
	}
	return e, nil
}

func retryNoWait(op func(flags int, raw bool) unix.Errno) unix.Errno {
	for {
		if e := op(unix.IPC_NOWAIT, true); e != unix.EINTR {
			return e
		}
	}
}
