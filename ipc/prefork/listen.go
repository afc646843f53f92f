package prefork

import (
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// listen binds addr and returns the listening socket as a file for the
// workers to inherit, non-blocking, and registered with no poller: the Go
// listener that made it is closed, and the file is made while the
// descriptor is briefly blocking, because os.NewFile would otherwise add it
// to this process's epoll set (waking the supervisor for every connection)
// and exec.Cmd's Fd call would then make it blocking for every process.
func listen(addr string) (*os.File, net.Addr, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, serverErr("start", err, "")
	}
	bound := l.Addr()
	rc, err := l.(*net.TCPListener).SyscallConn()
	if err != nil {
		l.Close()
		return nil, nil, serverErr("start", err, "")
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 3) }); err != nil {
		derr = err
	}
	l.Close()
	if derr != nil {
		return nil, nil, serverErr("start", derr, "dup the listener")
	}
	// Accepted sockets inherit TCP_NODELAY from the listener: set it once
	// here, as Go does on every connection it accepts itself.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		unix.Close(fd)
		return nil, nil, serverErr("start", err, "set TCP_NODELAY")
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, nil, serverErr("start", err, "")
	}
	f := os.NewFile(uintptr(fd), "listener "+bound.String())
	if err := unix.SetNonblock(fd, true); err != nil {
		f.Close()
		return nil, nil, serverErr("start", err, "")
	}
	return f, bound, nil
}
