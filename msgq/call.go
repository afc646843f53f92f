package msgq

import (
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// How a blocking msgsnd or msgrcv is made.
//
// The plain way, unix.Syscall, tells the scheduler that the goroutine is in
// a system call. When the call waits only a few microseconds, as in a
// request/reply exchange with another process, that bookkeeping costs more
// than the wait: sysmon keeps finding a P "in a syscall", takes it away and
// wakes another thread to run it, and the goroutine has to get a P back when
// the call returns. Measured here with both processes on one CPU it made a
// round trip 1.6-1.8 times as long as in C.
//
// So a blocking call is first made with RawSyscall, keeping the P, as a
// goroutine busy computing would. That cannot starve the program: the
// runtime preempts a goroutine that has held its P for 10ms, and for
// garbage collection at once, by signalling its thread; the signal makes
// the call fail with EINTR (msgsnd and msgrcv are never restarted), and
// then the call yields the P (runtime.Gosched) and goes on waiting the
// plain way.
//
// Whether the waits of a queue are short enough for that is judged at those
// interruptions, which come about every 10ms of holding the P, and not at
// every call: reading the clock around each call cost more than the rest of
// the wrapper together. If fewer than minCalls raw calls completed since the
// previous interruption, the waits are long (or the peer is a goroutine of
// this process that needs the very P the waiter holds): that is a strike
// against the queue, and its next 2^strikes blocking calls of that kind go
// the plain way at once. An interruption after many calls takes a strike
// away. Interruptions closer together than burst (a garbage collection
// signals several times) are judged once. Sends and receives keep separate
// counts: sends that found room say nothing about how long receives wait.
//
// With GODEBUG=asyncpreemptoff=1 the runtime cannot interrupt such a call
// (a garbage collection would wait for it for ever), so every blocking call
// goes the plain way.

const (
	minCalls   = 64
	burst      = 2 * time.Millisecond
	maxStrikes = 16
)

var rawWaits = !asyncPreemptOff(os.Getenv("GODEBUG"))

// asyncPreemptOff reports whether a GODEBUG value turns asynchronous
// preemption off (the last setting wins, as in the runtime).
func asyncPreemptOff(godebug string) bool {
	off := false
	for _, kv := range strings.Split(godebug, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(kv), "asyncpreemptoff="); ok {
			off = v == "1"
		}
	}
	return off
}

// epoch makes monotonic clock readings fit an int64.
var epoch = time.Now()

// waitHint is what a queue remembers of its recent blocking calls. Its
// fields are used through sync/atomic functions rather than atomic types so
// that a Queue stays a plain value that may be copied (the copy starts with
// the same hint, which is harmless).
type waitHint struct {
	plain    int32 // blocking calls still to make the plain way
	strikes  int32 // as above, at most maxStrikes
	calls    int32 // raw calls completed since the last interruption, up to minCalls
	lastIntr int64 // time since epoch of the last judged interruption
}

// usePlain reports whether the next blocking call should go the plain way,
// counting it down.
func (h *waitHint) usePlain() bool {
	if !rawWaits {
		return true
	}
	if atomic.LoadInt32(&h.plain) <= 0 {
		return false
	}
	return atomic.AddInt32(&h.plain, -1) >= 0
}

// rawDone records a raw call that completed. The count saturates, so a
// busy queue's calls only read it.
func (h *waitHint) rawDone() {
	if atomic.LoadInt32(&h.calls) < minCalls {
		atomic.AddInt32(&h.calls, 1)
	}
}

// rawInterrupted judges the queue's waits when a signal interrupted a raw
// call.
func (h *waitHint) rawInterrupted() {
	now := int64(time.Since(epoch))
	if last := atomic.LoadInt64(&h.lastIntr); last != 0 && now-last < int64(burst) {
		return
	}
	atomic.StoreInt64(&h.lastIntr, now)
	if atomic.SwapInt32(&h.calls, 0) < minCalls {
		s := atomic.AddInt32(&h.strikes, 1)
		if s >= maxStrikes {
			s = maxStrikes
			atomic.StoreInt32(&h.strikes, s)
		}
		atomic.StoreInt32(&h.plain, 1<<s)
	} else if s := atomic.LoadInt32(&h.strikes); s > 0 {
		atomic.CompareAndSwapInt32(&h.strikes, s, s-1)
	}
}

// wait makes one blocking msgsnd or msgrcv, op, the raw way first if h
// allows, and retries EINTR until stop says the wait is over; it then
// returns EINTR. msgsnd and msgrcv below are the same without a stop.
func (h *waitHint) wait(op func(raw bool) unix.Errno, stop func() bool) unix.Errno {
	if !h.usePlain() {
		e := op(true)
		if e != unix.EINTR {
			h.rawDone()
			return e
		}
		h.rawInterrupted()
		// The runtime may want this P (preemption, garbage collection):
		// give it up before waiting on, the plain way.
		runtime.Gosched()
		if stop() {
			return e
		}
	}
	for {
		if e := op(false); e != unix.EINTR || stop() {
			return e
		}
	}
}

// msgsnd sends, retrying EINTR: msgsnd is never restarted after a signal
// handler ran, and a Go process handles signals all the time. It is wait
// spelled out, without the function values, for the hot path.
//
// Trying IPC_NOWAIT first would spare nothing now that no clock is read,
// and costs a second system call for every send to a full queue, the
// steady state of a stream.
func (q *Queue) msgsnd(b []byte, size, flags int) unix.Errno {
	nowait := flags&unix.IPC_NOWAIT != 0 // never waits: nothing to judge
	if nowait || !q.sendHint.usePlain() {
		e := sys.MsgsndRaw(q.id, b, size, flags)
		if e != unix.EINTR {
			if !nowait {
				q.sendHint.rawDone()
			}
			return e
		}
		if !nowait {
			q.sendHint.rawInterrupted()
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
	if nowait || !q.recvHint.usePlain() {
		n, e := sys.MsgrcvRaw(q.id, b, size, msgtyp, flags)
		if e != unix.EINTR {
			if !nowait {
				q.recvHint.rawDone()
			}
			return n, e
		}
		if !nowait {
			q.recvHint.rawInterrupted()
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
