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
	if err := tuneTCPListener(fd); err != nil {
		unix.Close(fd)
		return nil, nil, serverErr("start", err, bound.String())
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

// Go's defaults for the TCP keep-alive of the connections its listeners
// accept (a zero net.KeepAliveConfig): the first probe after 15 s of
// silence, then one every 15 s, and the connection is dropped after 9
// unanswered.
const (
	keepAliveIdle     = 15 // seconds
	keepAliveInterval = 15 // seconds
	keepAliveCount    = 9
)

// tuneTCPListener sets on a TCP listening socket what Go sets on each
// connection its own listeners accept: TCP_NODELAY, and TCP keep-alive with
// Go's default timings. Linux copies them to every socket accept4 returns,
// so they cost no system call per connection (net/http's own listener
// makes five setsockopt for each). Without keep-alive, a kept-alive HTTP
// connection whose client vanished without a FIN (a machine switched off, a
// NAT entry dropped) would hold a descriptor in its worker for good; with
// it the kernel gives up on it after about 2.5 minutes and the read waiting
// on it fails.
func tuneTCPListener(fd int) error {
	for _, o := range []struct {
		level, name, value int
		what               string
	}{
		{unix.IPPROTO_TCP, unix.TCP_NODELAY, 1, "TCP_NODELAY"},
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1, "SO_KEEPALIVE"},
		{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, keepAliveIdle, "TCP_KEEPIDLE"},
		{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, keepAliveInterval, "TCP_KEEPINTVL"},
		{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, keepAliveCount, "TCP_KEEPCNT"},
	} {
		if err := unix.SetsockoptInt(fd, o.level, o.name, o.value); err != nil {
			return os.NewSyscallError("setsockopt "+o.what, err)
		}
	}
	return nil
}
