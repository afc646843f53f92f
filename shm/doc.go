// Package shm wraps System V shared memory: shmget, shmat, shmdt and every
// shmctl command a program needs (IPC_STAT, IPC_SET, IPC_RMID, SHM_LOCK and
// SHM_UNLOCK as LockMemory and UnlockMemory), with a Mapping type that makes
// an attachment safe to use from Go.
//
// Kernel flags are typed bit sets combined with |: shmget's own (HugeTLB,
// NoReserve) are ipc.Flags, given to Get with ipc.Create and ipc.Exclusive;
// shmat's (ReadOnly, Round, Remap) are Flags, given to Attach or AttachAt.
//
// A Segment is the kernel object, known by its id; a Mapping is one
// attachment of it into this process. The memory of a Mapping lives outside
// the Go heap: the garbage collector neither moves nor frees it, and it stays
// valid until Detach (or the end of the process), whatever happens to the
// Segment. Removing a segment that is still attached only marks it: the kernel
// clears its key at once (the key is free for a new segment), and destroys it
// when the last process detaches.
//
// # Safety
//
// ReadAt, WriteAt and the other methods of a Mapping check its state under a
// lock, so using a Mapping after Detach, or while another goroutine detaches
// it, returns an error instead of faulting. What no wrapper can protect is a
// slice returned by Bytes or a counter returned by Uint64: they point straight
// at the attachment and must not be touched after Detach. A write through a
// read-only attachment is a fault the kernel turns into SIGSEGV, which kills a
// Go program unless runtime/debug.SetPanicOnFault is on; WriteAt checks for
// that case and returns ErrReadOnly instead.
//
// # Sharing data between processes
//
// Plain loads and stores into shared memory are not ordered between
// processes. Use the atomic counters (Mapping.Uint64, Mapping.Uint32) for
// single words, and guard larger records with a lock both sides agree on,
// such as a binary semaphore from package sem (see the example).
//
// Errors are *ipc.Error values that wrap the kernel's errno, so errors.Is
// works with fs.ErrExist, fs.ErrNotExist and fs.ErrPermission. The two states
// of a Mapping that are not errnos have their own sentinels: ErrDetached and
// ErrReadOnly.
package shm
