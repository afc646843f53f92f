package ipc

import "github.com/ipctoolkit/ipc/internal/intr"

// DefaultMaxBlockedCalls is how many calls of this module may block in the
// kernel at once unless SetMaxBlockedCalls says otherwise: a tenth of the
// runtime's default thread limit, well above what a program that bounds its
// own waiters uses.
const DefaultMaxBlockedCalls = 1000

func init() { intr.SetMaxBlocked(DefaultMaxBlockedCalls) }

// SetMaxBlockedCalls bounds the calls of packages sem and msgq that block in
// the kernel at once (semop, semtimedop, msgsnd, msgrcv: Do, Lock, Acquire,
// Send, Receive and their Context and Timeout forms), process-wide, and
// returns the previous bound. Each such call holds an OS thread while it
// waits, and the Go runtime aborts the process past 10,000 threads
// (runtime/debug.SetMaxThreads), so without a bound 20,000 goroutines
// blocked in Receive would kill it.
//
// A call that finds the bound reached waits in Go, as a parked goroutine
// that holds no thread, until a blocked call returns; it stays cancellable
// through its context. While it waits it tries its operation with
// IPC_NOWAIT now and then (at most every 250ms once it has waited a while),
// so that it completes even if every call blocked in the kernel waits for
// something that never comes. Calls that cannot wait (NoWait) are never
// bounded. The default, DefaultMaxBlockedCalls, is 1000; n is at least 1.
// Lowering the bound does not interrupt calls already blocked.
func SetMaxBlockedCalls(n int) (previous int) { return intr.SetMaxBlocked(n) }
