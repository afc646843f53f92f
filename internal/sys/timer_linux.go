//go:build linux && (amd64 || arm64 || riscv64 || loong64)

package sys

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// SIGEV_THREAD_ID makes a POSIX timer signal one thread (a Linux
// extension that x/sys/unix does not name).
const SIGEV_THREAD_ID = 4

// Sigevent is struct sigevent as timer_create reads it, with the
// SIGEV_THREAD_ID member of its union (sigev_notify_thread_id).
type Sigevent struct {
	Value  uint64 // sigev_value
	Signo  int32
	Notify int32
	Tid    int32 // sigev_notify_thread_id
	_      [44]byte
}

// TimerCreate calls timer_create(2) and returns the new timer's id.
func TimerCreate(clock int, ev *Sigevent) (int32, unix.Errno) {
	var id int32
	_, _, e := unix.RawSyscall(unix.SYS_TIMER_CREATE, uintptr(clock), uintptr(unsafe.Pointer(ev)), uintptr(unsafe.Pointer(&id)))
	return id, e
}

// TimerSettime calls timer_settime(2) with no old value; flags is 0 or
// unix.TIMER_ABSTIME.
func TimerSettime(id int32, flags int, spec *unix.ItimerSpec) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_TIMER_SETTIME, uintptr(id), uintptr(flags), uintptr(unsafe.Pointer(spec)), 0, 0, 0)
	return e
}

// TimerDelete calls timer_delete(2).
func TimerDelete(id int32) unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_TIMER_DELETE, uintptr(id), 0, 0)
	return e
}
