// Package msgq wraps System V message queues (msgget, msgsnd, msgrcv,
// msgctl): typed messages that any process knowing the queue's key or id can
// send and receive, each taking the oldest message of the type it asks for.
//
//	q, err := msgq.Create(ipc.Private, ipc.DefaultMode)
//	...
//	err = q.Send(1, []byte("hello"), 0)
//	typ, n, err := q.Receive(buf, msgq.Any(), 0)
//
// Each verb has two forms, Send and SendContext, Receive and
// ReceiveContext, and one flags argument of type Flags, the same for both:
// NoWait (IPC_NOWAIT) for either, Truncate (MSG_NOERROR) for a receive.
//
// # What this package takes care of
//
//   - EINTR. msgsnd and msgrcv fail with EINTR whenever a signal handler
//     runs, SA_RESTART or not, and a Go process handles signals all the time
//     (the scheduler's own SIGURG among them). Every call here retries.
//   - Buffers. The kernel wants the type (a C long) and the text in one
//     buffer; callers pass only the text. Each call uses a buffer on its
//     stack (texts up to 512 bytes) or borrows one from a per-size-class
//     pool, so Send and Receive allocate nothing in steady state, and a
//     Queue is safe for concurrent use.
//   - Selection. Receive takes a Selector: Any (FIFO), Type(t) (exactly t),
//     UpTo(t) (lowest type <= t: priorities) and Except(t) (MSG_EXCEPT).
//     Types are int64: negative selectors never need a wrap-around cast.
//   - Waiting. A blocking call that waits a few microseconds, as in a
//     request/reply exchange, costs more in the Go scheduler's bookkeeping
//     than in the kernel. So it is first made without telling the scheduler,
//     keeping the goroutine's P as a computing goroutine would, which the
//     runtime's own preemption bounds to about 10ms; a queue whose waits turn
//     out long soon stops trying (call.go has the details). A round trip
//     between two processes on one CPU then takes about 1.1 times as long as
//     in C, against 1.6-1.8 times through the plain system call.
//   - Time limits. msgsnd and msgrcv have no timed form, so there is no
//     SendTimeout: give SendContext or ReceiveContext a context with a
//     deadline. They first try without waiting; only a call that must wait
//     is made interruptible, by signalling its thread when the context is
//     done (internal/intr). A deadline that passes gives an error matching
//     ipc.ErrTimeout, os.ErrDeadlineExceeded and context.DeadlineExceeded.
//   - Errors. Every error is an *ipc.Error naming the call and the queue,
//     and matches the errno, ipc.ErrRemoved (EIDRM), ipc.ErrWouldBlock,
//     ipc.ErrNoMessage, ipc.ErrTooBig, fs.ErrExist, fs.ErrNotExist,
//     fs.ErrPermission and os.ErrDeadlineExceeded as they apply.
//   - IPC_SET. SetMaxBytes, SetOwner and SetMode read the queue's state and
//     write it back with one field changed: the kernel assigns every
//     settable field, so a fresh buffer would zero the others.
//
// # Limits worth knowing
//
// A message's text is at most kernel.msgmax bytes (8192 by default), and a
// queue holds at most msg_qbytes bytes of text (kernel.msgmnb, 16384 by
// default, at creation): two 8000-byte messages fill it. Raising a queue's
// capacity above msgmnb needs CAP_SYS_RESOURCE. Each call blocked in Send or
// Receive holds an OS thread, and the Go runtime aborts past 10,000 threads:
// at most ipc.SetMaxBlockedCalls of them (1000 by default, shared with
// package sem) block in the kernel at once; the rest wait in Go, holding no
// thread, and stay cancellable.
package msgq
