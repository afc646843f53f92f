package rawwait

import "golang.org/x/sys/unix"

// rawSyscall6 is unix.RawSyscall6 in one frame (syscall_amd64.s).

func rawSyscall6(trap, a1, a2, a3, a4, a5 uintptr) (r uintptr, errno unix.Errno)
