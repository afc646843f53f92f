package msgq

import (
	"context"

	"github.com/ipctoolkit/ipc/internal/intr"
	"golang.org/x/sys/unix"
)

// A call that may block in the kernel holds an OS thread; at most
// ipc.SetMaxBlockedCalls of them block at once (internal/intr has the
// rule). snd and rcv are msgsnd and msgrcv under that bound: a call that
// finds it reached waits in Go, trying with IPC_NOWAIT now and then.

func (q *Queue) snd(b []byte, size, flags int) unix.Errno {
	if flags&unix.IPC_NOWAIT != 0 {
		return q.msgsnd(b, size, flags)
	}
	if !intr.TrySlot() {
		var e unix.Errno
		if done, _ := intr.Slot(context.Background(), func() bool {
			e = retryNoWait(func(f int, raw bool) unix.Errno { return q.snd1(b, size, flags|f, raw) })
			return !wouldBlock(e)
		}); done {
			return e
		}
	}
	e := q.msgsnd(b, size, flags)
	intr.Release()
	return e
}

func (q *Queue) rcv(b []byte, size int, msgtyp int64, flags int) (n int, e unix.Errno) {
	if flags&unix.IPC_NOWAIT != 0 {
		return q.msgrcv(b, size, msgtyp, flags)
	}
	if !intr.TrySlot() {
		if done, _ := intr.Slot(context.Background(), func() bool {
			e = retryNoWait(func(f int, raw bool) (e unix.Errno) {
				n, e = q.rcv1(b, size, msgtyp, flags|f, raw)
				return e
			})
			return !wouldBlock(e)
		}); done {
			return n, e
		}
	}
	n, e = q.msgrcv(b, size, msgtyp, flags)
	intr.Release()
	return n, e
}
