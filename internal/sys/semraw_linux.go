//go:build linux && (amd64 || arm64 || riscv64 || loong64)

package sys

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// SemopRaw is Semop through RawSyscall, with the caveats of MsgsndRaw: the
// goroutine keeps its P while the call blocks, so callers use it only for
// calls that do not wait or are expected to wait briefly, and give the P
// back when it fails with EINTR (see package rawwait).
func SemopRaw(id int, sops []Sembuf) unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_SEMOP, uintptr(id), uintptr(unsafe.Pointer(&sops[0])), uintptr(len(sops)))
	return e
}
