package msgq

import (
	"unsafe"

	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// A blocking msgsnd or msgrcv is made raw first, keeping the P, and the
// plain way once the runtime interrupts it: package rawwait decides, with
// the Hint each queue keeps for its sends and one for its receives (sends
// that found room say nothing about how long receives wait). Both retry
// EINTR: msgsnd and msgrcv are never restarted after a signal handler ran,
// and a Go process handles signals all the time.

// msgsnd sends b (the type, then size bytes of text).
func (q *Queue) msgsnd(b []byte, size, flags int) unix.Errno {
	_, e := q.sendHint.Syscall(unix.SYS_MSGSND, uintptr(q.id), unsafe.Pointer(&b[0]), uintptr(size), uintptr(flags), 0)
	return e
}

// msgrcv receives into b, as msgsnd sends.
func (q *Queue) msgrcv(b []byte, size int, msgtyp int64, flags int) (int, unix.Errno) {
	n, e := q.recvHint.Syscall(unix.SYS_MSGRCV, uintptr(q.id), unsafe.Pointer(&b[0]), uintptr(size), uintptr(msgtyp), uintptr(flags))
	return int(n), e
}

// snd1 is one msgsnd: raw if it cannot wait or raw says so.
func (q *Queue) snd1(b []byte, size, flags int, raw bool) unix.Errno {
	if raw || flags&unix.IPC_NOWAIT != 0 {
		return sys.MsgsndRaw(q.id, b, size, flags)
	}
	return sys.Msgsnd(q.id, b, size, flags)
}

// rcv1 is one msgrcv, as snd1 is one msgsnd.
func (q *Queue) rcv1(b []byte, size int, msgtyp int64, flags int, raw bool) (int, unix.Errno) {
	if raw || flags&unix.IPC_NOWAIT != 0 {
		return sys.MsgrcvRaw(q.id, b, size, msgtyp, flags)
	}
	return sys.Msgrcv(q.id, b, size, msgtyp, flags)
}
