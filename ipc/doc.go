// Package ipc holds what the System V IPC families share: keys (including
// ftok exactly as glibc computes it), open flags and permission bits, the
// typed errors every package of this module returns, and the host-wide view
// of objects and limits that ipcs, ipcrm and lsipc show.
//
// The families themselves live in their own packages: semaphore sets in
// package sem, message queues in package msgq, shared memory in package shm,
// each with its one record type (Info), its List of every object, and its
// handle (sem.Set, msgq.Queue, shm.Segment).
//
// # Conventions every package follows
//
//   - Kernel flags are typed bit sets combined with |, given as one trailing
//     argument, 0 for the default: ipc.Flags for the *get calls (Create,
//     Exclusive, and shm's HugeTLB and NoReserve), and one Flags type per
//     package for its own calls (sem.NoWait and sem.Undo on an operation,
//     msgq.NoWait and msgq.Truncate on a send or receive, shm.ReadOnly on an
//     attach, pipe.NonBlocking and pipe.Packet).
//   - A blocking verb has two forms, X and XContext; a third, XTimeout,
//     exists only where the kernel has a timed call (semtimedop: sem's Do,
//     Lock and Acquire).
//   - A handle not made by a constructor, such as the zero sem.Set or a
//     nil *msgq.Queue, refuses every call with an error matching
//     ErrInvalidHandle.
//   - Errors are *Error values that name the package, the operation, the
//     object and the system call, and match the errno and this package's
//     sentinels (package pipe reports descriptors as package os does).
package ipc
