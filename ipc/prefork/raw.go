package prefork

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The accept path uses the listening descriptor raw. Handing it to the Go
// runtime (net.FileListener, or even os.NewFile of a non-blocking
// descriptor) would register it with this process's epoll set, and every
// worker's poller would then wake for every connection whether or not it
// holds the accept lock: the herd the lock is there to prevent.

// accept4 accepts one connection on fd, close-on-exec and non-blocking (so
// that os.NewFile hands it to the runtime's poller), without decoding the
// peer's address.
func accept4(fd int) (int, unix.Errno) {
	r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), 0, 0, unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0, 0)
	return int(r), e
}

// ppoll waits up to d for fds, with no allocation (unix.Poll allocates its
// timespec).
func ppoll(fds []unix.PollFd, d time.Duration) (int, unix.Errno) {
	ts := unix.NsecToTimespec(int64(d))
	r, _, e := unix.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), uintptr(len(fds)),
		uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	return int(r), e
}

// isListener reports whether fd is a listening socket.
func isListener(fd int) bool {
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	return err == nil && v == 1
}
