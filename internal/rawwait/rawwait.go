// Package rawwait decides how a blocking System V call (semop, msgsnd,
// msgrcv) is made: the plain way, unix.Syscall, or first the raw way,
// RawSyscall, keeping the P.
//
// The plain way tells the scheduler that the goroutine is in a system call.
// When the call waits only some microseconds, as in a request/reply hand-off
// with another process, that bookkeeping costs more than the wait: sysmon
// finds a P "in a syscall" for over 20µs, takes it away and wakes another
// thread to run it, and the goroutine has to get a P back when the call
// returns. Measured here, that made a round trip between two processes on
// two CPUs up to twice as long as in C.
//
// So a blocking call is first made raw, keeping the P, as a goroutine busy
// computing would. That cannot starve the program: the runtime preempts a
// goroutine that has held its P for 10ms, and for garbage collection at
// once, by signalling its thread; the signal makes the call fail with EINTR
// (these calls are never restarted), and the caller then yields the P
// (runtime.Gosched) and goes on waiting the plain way.
//
// Whether an object's waits are short enough is judged at those
// interruptions, not at every call (reading the clock around each call cost
// more than the rest of a wrapper). If fewer than minCalls raw calls
// completed since the previous interruption, the waits are long: a strike,
// and the next 2^strikes blocking calls go the plain way at once. An
// interruption after many calls takes a strike away. Interruptions closer
// together than burst (a garbage collection signals several times) are
// judged once.
//
// With GODEBUG=asyncpreemptoff=1 the runtime cannot interrupt a raw call (a
// garbage collection would wait for it for ever), so every call goes the
// plain way.
package rawwait

import (
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

const (
	minCalls   = 64
	burst      = 2 * time.Millisecond
	maxStrikes = 16
)

var enabled = !asyncPreemptOff(os.Getenv("GODEBUG"))

// SetEnabled turns the raw first attempt on or off for every Hint, so that
// a benchmark can show what it buys, and returns the previous setting. It
// must not be called while blocking calls are being made.
func SetEnabled(on bool) bool {
	old := enabled
	enabled = on
	return old
}

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

// Hint is what an object remembers of its recent blocking calls of one
// kind. The zero Hint is ready to use. Its fields are used through
// sync/atomic functions rather than atomic types so that the object holding
// it stays a plain value that may be copied (the copy starts with the same
// hint, which is harmless).
type Hint struct {
	plain    int32 // blocking calls still to make the plain way
	strikes  int32 // as above, at most maxStrikes
	calls    int32 // raw calls completed since the last interruption, up to minCalls
	lastIntr int64 // time since epoch of the last judged interruption
}

// UsePlain reports whether the next blocking call should go the plain way,
// counting it down. With RawDone and RawInterrupted it lets a hot path
// spell Wait out without function values.
func (h *Hint) UsePlain() bool {
	if !enabled {
		return true
	}
	if atomic.LoadInt32(&h.plain) <= 0 {
		return false
	}
	return atomic.AddInt32(&h.plain, -1) >= 0
}

// RawDone records a raw call that completed. The count saturates, so a
// busy object's calls only read it.
func (h *Hint) RawDone() {
	if atomic.LoadInt32(&h.calls) < minCalls {
		atomic.AddInt32(&h.calls, 1)
	}
}

// RawInterrupted judges the waits when a signal interrupted a raw call;
// the caller then yields its P (runtime.Gosched) and goes on plainly.
func (h *Hint) RawInterrupted() {
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

// Wait makes one blocking call, op(raw), the raw way first if h allows,
// and retries EINTR until stop (if not nil) says the wait is over; it then
// returns EINTR.
func (h *Hint) Wait(op func(raw bool) unix.Errno, stop func() bool) unix.Errno {
	if !h.UsePlain() {
		e := op(true)
		if e != unix.EINTR {
			h.RawDone()
			return e
		}
		h.RawInterrupted()
		// The runtime may want this P (preemption, garbage collection):
		// give it up before waiting on, the plain way.
		runtime.Gosched()
		if stop != nil && stop() {
			return e
		}
	}
	for {
		if e := op(false); e != unix.EINTR || stop != nil && stop() {
			return e
		}
	}
}
