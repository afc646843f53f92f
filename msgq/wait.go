package msgq

import (
	"context"

	"github.com/ipctoolkit/ipc/internal/intr"
	"golang.org/x/sys/unix"
)

// msgsnd and msgrcv have no timed form, so SendContext and ReceiveContext
// are the only ones that can give up. They first try with IPC_NOWAIT, so a
// call that need not wait costs one system call and sets up nothing; one
// that must wait goes through internal/intr, which signals its thread when
// the context is done.

// wouldBlock reports whether a call with IPC_NOWAIT failed only because it
// would have had to wait: EAGAIN from msgsnd, ENOMSG from msgrcv.
func wouldBlock(e unix.Errno) bool { return e == unix.EAGAIN || e == unix.ENOMSG }

// withContext runs op (one msgsnd or msgrcv with the extra flags given, raw
// or not) until it completes or ctx is done.
func withContext(ctx context.Context, op func(flags int, raw bool) unix.Errno) (unix.Errno, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	e := retryNoWait(op)
	if !wouldBlock(e) {
		return e, nil
	}
	if !intr.TrySlot() {
		done, err := intr.Slot(ctx, func() bool { e = retryNoWait(op); return !wouldBlock(e) })
		if done || err != nil {
			return e, err
		}
	}
	defer intr.Release()
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
