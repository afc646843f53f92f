// Package sem wraps System V semaphore sets: semget, semop, semtimedop and
// every semctl command, with a binary-semaphore Mutex and a counting
// Semaphore built on them.
//
// A Set is just its kernel id, so it is cheap to copy and safe for concurrent
// use; the kernel keeps all state. Several operations given to one Do call
// are applied atomically, each with its own Flags (Undo, NoWait), given to
// the Inc, Dec or WaitZero that makes it: that is
// the one thing System V semaphores do that a futex cannot, and it halves the
// cost of a hand-off between two processes (take mine and give yours in one
// call).
//
// Blocking calls retry EINTR, which a Go process gets whenever any signal
// handler runs (the kernel never restarts semop); DoTimeout (semtimedop,
// the one timed call System V IPC has) retries with the time that is left,
// not the whole timeout again. DoContext can be cancelled: see package
// internal/intr for how. Do and DoTimeout allocate nothing. Mutex and
// Semaphore have the same three forms: Lock, LockContext, LockTimeout;
// Acquire, AcquireContext, AcquireTimeout (a timeout of 0 tries once).
//
// Each call blocked in the kernel holds an OS thread, and the Go runtime
// aborts past 10,000 threads: at most ipc.SetMaxBlockedCalls of them (1000
// by default, shared with package msgq) block at once; the rest wait in Go,
// holding no thread, and stay cancellable.
//
// Semaphore numbers are 0 to 65535 and deltas 1 to 32767 (SEMVMX): an Op
// outside those ranges makes Do fail with an error matching unix.EFBIG or
// unix.ERANGE; it is never wrapped around onto another semaphore.
//
// Errors are *ipc.Error values. A waiter whose set is removed gets an error
// matching ipc.ErrRemoved; an operation that asked not to wait, one matching
// ipc.ErrWouldBlock; a timeout, one matching os.ErrDeadlineExceeded.
package sem
