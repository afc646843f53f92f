package msgq

import (
	"context"
	"time"

	"github.com/ipctoolkit/ipc/internal/intr"
	"github.com/ipctoolkit/ipc/ipc"
	"golang.org/x/sys/unix"
)

// wouldBlock reports whether a call with IPC_NOWAIT failed only because it
// would have had to wait: EAGAIN from msgsnd, ENOMSG from msgrcv.
func wouldBlock(e unix.Errno) bool { return e == unix.EAGAIN || e == unix.ENOMSG }

// timed runs op, which is one msgsnd or msgrcv with its flags or'ed with
// the flags op is given, for at most d. It first tries with IPC_NOWAIT, so a
// call that need not wait costs one system call and sets up nothing; only a
// call that must wait arms a timer. The error is ipc.ErrTimeout when d
// passed first.
func timed(d time.Duration, op func(flags int) unix.Errno) (unix.Errno, error) {
	e := retryNoWait(op)
	if !wouldBlock(e) {
		return e, nil
	}
	if d <= 0 {
		return 0, ipc.ErrTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	e, err := intr.Call(ctx, func() unix.Errno { return op(0) })
	if err != nil {
		return 0, ipc.ErrTimeout
	}
	return e, nil
}

// withContext runs op until it completes or ctx is done, trying IPC_NOWAIT
// first as timed does.
func withContext(ctx context.Context, op func(flags int) unix.Errno) (unix.Errno, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	e := retryNoWait(op)
	if !wouldBlock(e) {
		return e, nil
	}
	e, err := intr.Call(ctx, func() unix.Errno { return op(0) })
	if err != nil {
		return 0, err
	}
	return e, nil
}

func retryNoWait(op func(flags int) unix.Errno) unix.Errno {
	for {
		if e := op(unix.IPC_NOWAIT); e != unix.EINTR {
			return e
		}
	}
}
