package rawwait

import (
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkGetppid is the cost of a trivial system call made each way:
// what the layers around a raw call cost with warm caches.
func BenchmarkGetppid(b *testing.B) {
	b.Run("rawSyscall6", func(b *testing.B) {
		for b.Loop() {
			rawSyscall6(unix.SYS_GETPPID, 0, 0, 0, 0, 0)
		}
	})
	b.Run("unix.RawSyscall", func(b *testing.B) {
		for b.Loop() {
			unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
		}
	})
	b.Run("unix.Syscall", func(b *testing.B) {
		for b.Loop() {
			unix.Syscall(unix.SYS_GETPPID, 0, 0, 0)
		}
	})
	var h Hint
	b.Run("Hint.Syscall", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h.Syscall(unix.SYS_GETPPID, 0, nil, 0, 0, 0)
		}
	})
}
