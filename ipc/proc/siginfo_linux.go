//go:build linux && (amd64 || arm64 || riscv64 || loong64)

package proc

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// siginfoChild is the SIGCHLD member of the kernel's siginfo_t, as waitid
// fills it, on 64-bit architectures other than MIPS (where errno and code
// trade places): the union starts after 4 bytes of padding.
type siginfoChild struct {
	Signo  int32
	Errno  int32
	Code   int32
	_      int32
	Pid    int32
	UID    uint32
	Status int32
	_      [128 - 28]byte
}

var _ [unsafe.Sizeof(unix.Siginfo{}) - unsafe.Sizeof(siginfoChild{})]byte // same size
var _ [unsafe.Sizeof(siginfoChild{}) - unsafe.Sizeof(unix.Siginfo{})]byte

// si_code values of SIGCHLD (include/uapi/asm-generic/siginfo.h).
const (
	cldExited    = 1
	cldKilled    = 2
	cldDumped    = 3
	cldTrapped   = 4
	cldStopped   = 5
	cldContinued = 6
)

// waitid returns the pid and wait status of the state change it found; pid
// 0 with WNOHANG when there was none.
func waitid(idtype, id, options int) (int, syscall.WaitStatus, unix.Errno) {
	var info siginfoChild
	_, _, e := unix.Syscall6(unix.SYS_WAITID, uintptr(idtype), uintptr(id), uintptr(unsafe.Pointer(&info)), uintptr(options), 0, 0)
	if e != 0 {
		return 0, 0, e
	}
	return int(info.Pid), info.waitStatus(), 0
}

// waitStatus rebuilds the status word wait4 would have given, which is what
// syscall.WaitStatus decodes.
func (s *siginfoChild) waitStatus() syscall.WaitStatus {
	const (
		core      = 0x80
		stopped   = 0x7f
		continued = 0xffff
	)
	switch s.Code {
	case cldExited:
		return syscall.WaitStatus(s.Status&0xff) << 8
	case cldKilled:
		return syscall.WaitStatus(s.Status & 0x7f)
	case cldDumped:
		return syscall.WaitStatus(s.Status&0x7f) | core
	case cldTrapped, cldStopped:
		return syscall.WaitStatus(s.Status&0xff)<<8 | stopped
	case cldContinued:
		return continued
	}
	return 0
}
