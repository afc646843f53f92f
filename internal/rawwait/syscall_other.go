//go:build !amd64

package rawwait

import "golang.org/x/sys/unix"

// rawSyscall6 is unix.RawSyscall6; on amd64 it is one frame of assembly.
func rawSyscall6(trap, a1, a2, a3, a4, a5 uintptr) (uintptr, unix.Errno) {
	r, _, e := unix.RawSyscall6(trap, a1, a2, a3, a4, a5, 0)
	return r, e
}
