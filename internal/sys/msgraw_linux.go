//go:build linux && (amd64 || arm64 || riscv64 || loong64)

package sys

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// MsgsndRaw is Msgsnd through RawSyscall6: the Go scheduler is not told
// about the call, so the goroutine keeps its P (and the P is not handed to
// another thread) for as long as the call blocks. That saves the runtime's
// blocking-syscall bookkeeping, which dominates a short wait, but stalls
// whatever else wants that P: callers must only use it for calls that do not
// wait (IPC_NOWAIT) or that they expect to wait briefly, and must give the
// P back (runtime.Gosched) when the call fails with EINTR, which is how the
// runtime's preemption signal reaches a goroutine blocked here.
func MsgsndRaw(id int, buf []byte, size int, flag int) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_MSGSND, uintptr(id), uintptr(unsafe.Pointer(&buf[0])), uintptr(size), uintptr(flag), 0, 0)
	return e
}

// MsgrcvRaw is Msgrcv through RawSyscall6, with the same caveats as
// MsgsndRaw.
func MsgrcvRaw(id int, buf []byte, size int, typ int64, flag int) (int, unix.Errno) {
	n, _, e := unix.RawSyscall6(unix.SYS_MSGRCV, uintptr(id), uintptr(unsafe.Pointer(&buf[0])), uintptr(size), uintptr(typ), uintptr(flag), 0)
	return int(n), e
}
