//go:build linux

package sys

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Read calls read(2); with raw it goes through RawSyscall, with the caveats
// of MsgsndRaw.
func Read(fd int, p []byte, raw bool) (int, unix.Errno) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	var n uintptr
	var e unix.Errno
	if raw {
		n, _, e = unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	} else {
		n, _, e = unix.Syscall(unix.SYS_READ, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	}
	return int(n), e
}

// Write calls write(2), raw or not as Read.
func Write(fd int, p []byte, raw bool) (int, unix.Errno) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	var n uintptr
	var e unix.Errno
	if raw {
		n, _, e = unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	} else {
		n, _, e = unix.Syscall(unix.SYS_WRITE, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	}
	return int(n), e
}
