// Package rawwait makes the module's blocking System V calls (semop in
// package sem, msgsnd and msgrcv in package msgq): one function,
// Hint.Syscall, that every such call goes through.
//
// # Why raw first
//
// A call made the plain way (unix.Syscall) tells the scheduler that the
// goroutine is in a system call: entersyscall and exitsyscall around it,
// and if it blocks for more than about 20µs sysmon takes its P away, so
// that it must get a P back when it returns. When the call waits only
// microseconds, as in a request/reply hand-off with another process, that
// bookkeeping is a large part of the round trip. A call made the raw way
// (unix.RawSyscall) keeps the P, as a goroutine busy computing would.
// Measured on two processes pinned to one CPU (ipc bench sem --ref, against
// the C reference and bare Go loops of both kinds in the same run; with
// IPC_RAWWAIT=0 for the plain way), a split semaphore round trip took
// 1.06 times the C program's time raw first and 1.11 times plain, and the
// plain way degrades far more under load (1.3-1.5 times at a load of 4-5);
// across CPUs the two are alike (0.94-1.09).
//
// # Why that cannot starve the program
//
// The runtime preempts a goroutine that has held its P for 10ms, and stops
// every goroutine for a garbage collection, by signalling its thread. The
// signal makes the call fail with EINTR, and Syscall then gives up the P
// (runtime.Gosched) and goes on waiting the plain way. So a raw wait holds
// a P for at most about 10ms, and delays a garbage collection by no more
// than a signal.
//
// That holds only for calls that a signal handler interrupts whatever its
// SA_RESTART flag: semop, semtimedop, msgsnd and msgrcv (signal(7)). The
// kernel restarts most others, among them a read or write on a pipe (Go's
// handlers are SA_RESTART): made raw, such a call would hold its P until
// it completes, and a garbage collection would freeze the whole process
// meanwhile. Syscall makes every other call the plain way.
//
// On amd64 the raw call is one frame of assembly (syscall_amd64.s) rather
// than unix.RawSyscall6's three Go frames: BenchmarkGetppid shows what they
// cost with warm caches, and after each context switch of a ping-pong the
// caches are cold.
//
// # Which calls go raw
//
// A wait that was interrupted is judged by how many raw calls of its Hint
// completed since the previous interruption: fewer than minCalls means the
// waits are long (a lock held for seconds), and the next 2^strikes calls of
// that Hint go the plain way at once, strikes growing by one at each such
// interruption up to maxStrikes; an interruption after many calls (the 10ms
// preemption of a busy ping-pong) takes a strike away. Interruptions closer
// together than burst (a garbage collection signals several times) are
// judged once. Nothing is timed on the way of a call that is not
// interrupted.
//
// # Turning it off
//
// With IPC_RAWWAIT=0 in the environment every blocking call goes the plain
// way, from the start of the process. With GODEBUG=asyncpreemptoff=1 the
// runtime could not interrupt a raw call (a garbage collection would wait
// for it for ever), so raw waits are off then too. SetEnabled does the same
// at run time, for tests and benchmarks.
package rawwait

import (
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	// Not used here: it stops a build for an unsupported system with its
	// one error (see internal/sys/unsupported.go), before this package's
	// own undefined names can pile up.
	_ "github.com/ipctoolkit/ipc/internal/sys"
)

const (
	minCalls   = 64
	burst      = 2 * time.Millisecond
	maxStrikes = 16
)

// Env is the environment variable that turns raw waits off when it is "0".
const Env = "IPC_RAWWAIT"

// enabled is read on every call and written only by SetEnabled, which
// must not run beside calls: a plain bool costs nothing to read.
var enabled = Default(os.Getenv(Env), os.Getenv("GODEBUG"))

// Default reports whether raw waits are on in a process started with these
// values of IPC_RAWWAIT and GODEBUG: on unless IPC_RAWWAIT is "0" or
// GODEBUG turns asynchronous preemption off (the last setting wins, as in
// the runtime).
func Default(rawwait, godebug string) bool {
	if strings.TrimSpace(rawwait) == "0" {
		return false
	}
	off := false
	for _, kv := range strings.Split(godebug, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(kv), "asyncpreemptoff="); ok {
			off = v == "1"
		}
	}
	return !off
}

// Enabled reports whether blocking calls are made raw first.
func Enabled() bool { return enabled }

// SetEnabled turns raw waits on or off for every Hint, so that a test or
// benchmark can show what they buy, and returns the previous setting. It
// must not be called while blocking calls are being made.
func SetEnabled(on bool) bool {
	old := enabled
	enabled = on
	return old
}

// epoch makes monotonic clock readings fit an int64.
var epoch = time.Now()

// Hint is what an object remembers of its recent blocking calls of one
// kind (a queue has one for sends and one for receives: sends that find
// room say nothing about how long receives wait). The zero Hint is ready
// to use, and a Hint may be used by any number of goroutines at once. Its
// fields are used through sync/atomic functions rather than atomic types so
// that the object holding it stays a plain value that may be copied (the
// copy starts with the same hint, which is harmless).
type Hint struct {
	plain    int32 // blocking calls still to make the plain way
	strikes  int32 // as above, at most maxStrikes
	calls    int32 // raw calls completed since the last interruption, up to minCalls
	lastIntr int64 // time since epoch of the last judged interruption
}

// Syscall makes the blocking system call trap(a1, a2, a3, a4, a5), raw
// first if h allows and the call is one that signals interrupt (see the
// package doc; any other goes the plain way), and retries EINTR until the
// call completes. a2 is the call's pointer argument (the sembuf array, the
// message buffer), passed as an unsafe.Pointer so that what it points to
// stays alive, and in place, through the call.
func (h *Hint) Syscall(trap, a1 uintptr, a2 unsafe.Pointer, a3, a4, a5 uintptr) (uintptr, unix.Errno) {
	if enabled && neverRestarted(trap) {
		if atomic.LoadInt32(&h.plain) <= 0 || atomic.AddInt32(&h.plain, -1) < 0 {
			r, e := rawSyscall6(trap, a1, uintptr(a2), a3, a4, a5)
			if e != unix.EINTR {
				// Saturating, so that a busy Hint's calls only read it.
				if atomic.LoadInt32(&h.calls) < minCalls {
					atomic.AddInt32(&h.calls, 1)
				}
				return r, e
			}
			h.interrupted()
			// The runtime wants this P (preemption, garbage
			// collection): give it up before waiting on, plainly.
			runtime.Gosched()
		}
	}
	for {
		r, _, e := unix.Syscall6(trap, a1, uintptr(a2), a3, a4, a5, 0)
		if e != unix.EINTR {
			return r, e
		}
	}
}

// neverRestarted reports whether the kernel fails the call with EINTR when
// a signal handler runs, SA_RESTART or not (signal(7) lists them): only
// such a call can be made raw, since the runtime's preemption signal must
// bring it back. A read or write on a pipe is restarted instead, so a raw
// one would hold its P, and stall a garbage collection, until it completes.
func neverRestarted(trap uintptr) bool {
	switch trap {
	case unix.SYS_SEMOP, unix.SYS_SEMTIMEDOP, unix.SYS_MSGSND, unix.SYS_MSGRCV:
		return true
	}
	return false
}

// interrupted judges the waits when a signal interrupted a raw call.
func (h *Hint) interrupted() {
	now := int64(time.Since(epoch))
	if last := atomic.LoadInt64(&h.lastIntr); last != 0 && now-last < int64(burst) {
		return
	}
	atomic.StoreInt64(&h.lastIntr, now)
	if atomic.SwapInt32(&h.calls, 0) < minCalls {
		s := min(atomic.AddInt32(&h.strikes, 1), maxStrikes)
		atomic.StoreInt32(&h.strikes, s)
		atomic.StoreInt32(&h.plain, 1<<s)
	} else if s := atomic.LoadInt32(&h.strikes); s > 0 {
		atomic.CompareAndSwapInt32(&h.strikes, s, s-1)
	}
}
