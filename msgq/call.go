package msgq

import (
	"runtime"

	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// A blocking msgsnd or msgrcv is first made raw, keeping the P, then the
// plain way if the runtime interrupts it: see package rawwait, whose Hint
// each queue keeps for its sends and for its receives (sends that found
// room say nothing about how long receives wait).

// msgsnd sends, retrying EINTR: msgsnd is never restarted after a signal
// handler ran, and a Go process handles signals all the time. It is wait
// spelled out, without the function values, for the hot path.
//
// Trying IPC_NOWAIT first would spare nothing now that no clock is read,
// and costs a second system call for every send to a full queue, the
// steady state of a stream.
func (q *Queue) msgsnd(b []byte, size, flags int) unix.Errno {
	nowait := flags&unix.IPC_NOWAIT != 0 // never waits: nothing to judge
	if nowait || !q.sendHint.UsePlain() {
		e := sys.MsgsndRaw(q.id, b, size, flags)
		if e != unix.EINTR {
			if !nowait {
				q.sendHint.RawDone()
			}
			return e
		}
		if !nowait {
			q.sendHint.RawInterrupted()
			runtime.Gosched()
		}
	}
	for {
		if e := sys.Msgsnd(q.id, b, size, flags); e != unix.EINTR {
			return e
		}
	}
}

// msgrcv receives, retrying EINTR, as msgsnd sends.
func (q *Queue) msgrcv(b []byte, size int, msgtyp int64, flags int) (int, unix.Errno) {
	nowait := flags&unix.IPC_NOWAIT != 0
	if nowait || !q.recvHint.UsePlain() {
		n, e := sys.MsgrcvRaw(q.id, b, size, msgtyp, flags)
		if e != unix.EINTR {
			if !nowait {
				q.recvHint.RawDone()
			}
			return n, e
		}
		if !nowait {
			q.recvHint.RawInterrupted()
			runtime.Gosched()
		}
	}
	for {
		if n, e := sys.Msgrcv(q.id, b, size, msgtyp, flags); e != unix.EINTR {
			return n, e
		}
	}
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
