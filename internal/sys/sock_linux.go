//go:build linux && (amd64 || arm64 || riscv64 || loong64)

package sys

import (
	"encoding/binary"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The prefork server's accept path uses the listening descriptor raw: handing
// it to the Go runtime (net.FileListener, or os.NewFile of a non-blocking
// descriptor) would register it with the process's epoll set, and every
// worker's poller would then wake for every connection whether or not it
// holds the accept lock.

// Accept4 calls accept4(2) on fd, close-on-exec and non-blocking (so that
// os.NewFile hands the connection to the runtime's poller), without decoding
// the peer's address (unix.Accept4 allocates a sockaddr).
func Accept4(fd int) (int, unix.Errno) {
	r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), 0, 0, unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0, 0)
	return int(r), e
}

// Accept4Peer is Accept4 that also keeps what accept4(2) writes of the
// peer's address into peer (as much of it as fits: all of an AF_INET or
// AF_INET6 one), so that a server need not ask getpeername(2) for it, one
// system call less per connection.
func Accept4Peer(fd int, peer *unix.RawSockaddrInet6) (int, unix.Errno) {
	n := uint32(unix.SizeofSockaddrInet6)
	r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(peer)), uintptr(unsafe.Pointer(&n)),
		unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0, 0)
	return int(r), e
}

// Ppoll calls ppoll(2) on fds, waiting at most d, with no allocation
// (unix.Poll allocates its timespec). fds must not be empty.
func Ppoll(fds []unix.PollFd, d time.Duration) (int, unix.Errno) {
	ts := unix.NsecToTimespec(int64(d))
	r, _, e := unix.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), uintptr(len(fds)),
		uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	return int(r), e
}

// IsListener reports whether fd is a listening socket (SO_ACCEPTCONN).
func IsListener(fd int) bool {
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	return err == nil && v == 1
}

// NewWake makes an eventfd for a loop that polls raw descriptors to poll as
// well, so that another goroutine can end its wait (Wake): close-on-exec,
// and non-blocking, because nobody reads it and a full counter must not
// block the waker.
func NewWake() (int, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return -1, &os.SyscallError{Syscall: "eventfd", Err: err}
	}
	return fd, nil
}

// Wake makes the eventfd fd readable: a poll on it returns.
func Wake(fd int) {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	unix.Write(fd, one[:])
}
