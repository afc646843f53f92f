package prefork

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultSocketMode is the mode of a Unix-domain socket file the server
// makes when Server.SocketMode is 0: the owner and its group may connect
// (PHP-FPM's listen.mode), nobody else.
const DefaultSocketMode fs.FileMode = 0o660

// listener is one listening socket: held by the supervisor, inherited by
// every worker (as descriptor 3, 4, ... in the order of Server.Addrs).
type listener struct {
	// file is the socket, non-blocking and in no poller (see listen).
	file *os.File
	addr net.Addr
	// path, dev and ino: the socket file this server made, which it
	// removes on exit if it is still the same file.
	path     string
	dev, ino uint64
}

// addrs is the list of addresses s listens on: Addrs, or Addr alone.
func (s *Server) addrs() []string {
	if len(s.Addrs) > 0 {
		return s.Addrs
	}
	return []string{s.Addr}
}

// listenAll makes the server's listening sockets: those systemd passed
// (fromSystemd), if the process was socket-activated, or else one per
// address of c (TCP "host:port", or "unix:/path" for a Unix-domain stream
// socket). On an error none is left open or on disk.
func listenAll(c *config) (ls []*listener, fromSystemd bool, err error) {
	if ls, err = inheritedListeners(); err != nil || ls != nil {
		return ls, false, err
	}
	if ls, err = activated(); err != nil || ls != nil {
		return ls, ls != nil, err
	}
	uid, gid := -1, -1
	if c.SocketOwner != "" {
		if uid, gid, err = lookupOwner(c.SocketOwner); err != nil {
			return nil, false, serverErr("start", err, "socket owner "+strconv.Quote(c.SocketOwner))
		}
	}
	mode := c.SocketMode
	if mode == 0 {
		mode = DefaultSocketMode
	}
	for _, a := range c.addrs() {
		var l *listener
		if path, ok := strings.CutPrefix(a, "unix:"); ok {
			var stale bool
			if l, stale, err = listenUnix(path, mode, uid, gid); stale {
				c.logger().Warn("replaced a socket file nobody listened on (left by a server that is gone)", "path", path)
			}
		} else {
			l = &listener{}
			l.file, l.addr, err = listen(a)
		}
		if err != nil {
			closeListeners(ls)
			return nil, false, err
		}
		ls = append(ls, l)
	}
	return ls, false, nil
}

// closeListeners closes the sockets and removes the socket files that are
// still the ones this server made (a file another server has put there
// since is left alone).
func closeListeners(ls []*listener) {
	for _, l := range ls {
		if l.path != "" {
			if dev, ino, ok := statIno(l.path); ok && dev == l.dev && ino == l.ino {
				os.Remove(l.path)
			}
		}
		l.file.Close()
	}
}

// listenUnix binds a Unix-domain stream socket at path (an abstract one if
// path starts with '@'), with mode and, unless -1, owner uid and group gid.
// A socket file left by a server that is gone (nothing accepts on it) is
// replaced; one that a live server listens on, or a file that is not a
// socket, is refused. stale says a file was replaced.
func listenUnix(path string, mode fs.FileMode, uid, gid int) (l *listener, stale bool, err error) {
	const op = "start"
	detail := "unix:" + path
	if path == "" {
		return nil, stale, serverErr(op, errors.New("an empty unix: address"), "")
	}
	abstract := path[0] == '@'
	if !abstract {
		// Under an flock of the directory from the check to the listen,
		// so that two servers starting at once cannot both take the file
		// for stale and each replace the other's.
		d, err := os.Open(filepath.Dir(path))
		if err != nil {
			return nil, stale, serverErr(op, err, detail)
		}
		defer d.Close()
		if err := unix.Flock(int(d.Fd()), unix.LOCK_EX); err != nil {
			return nil, stale, serverErr(op, err, "lock the directory of "+detail)
		}
		if stale, err = removeStaleSocket(path); err != nil {
			return nil, stale, serverErr(op, err, detail)
		}
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, stale, serverErr(op, err, detail)
	}
	l = &listener{addr: &net.UnixAddr{Name: path, Net: "unix"}}
	fail := func(err error, what string) (*listener, bool, error) {
		if fd >= 0 {
			unix.Close(fd)
		}
		if l.path != "" {
			os.Remove(l.path)
		}
		return nil, stale, serverErr(op, err, what+detail)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return fail(err, "bind ")
	}
	if !abstract {
		l.path = path
		// Before listen: until then a client's connect is refused, so no
		// one gets in under the mode the umask gave.
		if err := os.Chmod(path, mode); err != nil {
			return fail(err, "chmod ")
		}
		if uid >= 0 || gid >= 0 {
			if err := os.Lchown(path, uid, gid); err != nil {
				return fail(err, "chown ")
			}
		}
		var ok bool
		if l.dev, l.ino, ok = statIno(path); !ok {
			return fail(unix.ENOENT, "stat ")
		}
	}
	if afterUnixBind != nil {
		afterUnixBind()
	}
	if err := unix.Listen(fd, backlog()); err != nil {
		return fail(err, "listen on ")
	}
	if l.file, err = listenerFile(fd, "listener "+detail); err != nil {
		fd = -1 // closed
		return fail(err, "")
	}
	return l, stale, nil
}

// afterUnixBind is a seam for the package's tests: called by listenUnix
// between bind and listen, where a socket file exists that no one accepts
// on, which is what a stale one looks like to another server's check.
var afterUnixBind func()

// removeStaleSocket removes the socket file at path if no one accepts on
// it, and says whether there was one.
func removeStaleSocket(path string) (bool, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return false, errors.New("the path exists and is not a socket")
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return false, errors.New("a running server listens on it")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		// A timeout is a server too busy to accept: still alive.
		return false, errors.New("cannot tell whether a running server listens on it: " + err.Error())
	}
	return true, os.Remove(path)
}

// rawListener makes a listener of a listening socket someone else opened
// (systemd), on a descriptor of its own: fd is left open for the caller.
func rawListener(fd int, name string) (*listener, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, err
	}
	if _, ok := sa.(*unix.SockaddrUnix); !ok {
		// What Go's own listener on it (net.FileListener) would set
		// on each connection, whatever the socket unit set.
		if err := tuneTCPListener(fd); err != nil {
			return nil, err
		}
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(dup, false); err != nil {
		unix.Close(dup)
		return nil, err
	}
	f, err := listenerFile(dup, "listener "+name)
	if err != nil {
		return nil, err
	}
	return &listener{file: f, addr: netAddr(sa)}, nil
}

// listenerFile makes an *os.File of a blocking listening descriptor and
// then makes the descriptor non-blocking: os.NewFile of a non-blocking one
// would add it to this process's epoll set, waking the supervisor for every
// connection, and exec would make it blocking again for every process
// (O_NONBLOCK belongs to the shared open file). On error fd is closed.
func listenerFile(fd int, name string) (*os.File, error) {
	f := os.NewFile(uintptr(fd), name)
	if err := unix.SetNonblock(fd, true); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// backlog is the listen backlog Go's net package uses: the kernel's
// net.core.somaxconn.
func backlog() int {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if n, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil && n > 0 {
		return min(n, 1<<16-1)
	}
	return unix.SOMAXCONN
}

func statIno(path string) (dev, ino uint64, ok bool) {
	var st unix.Stat_t
	if unix.Lstat(path, &st) != nil {
		return 0, 0, false
	}
	return st.Dev, st.Ino, true
}

// netAddr is a socket address as the net package spells it.
func netAddr(sa unix.Sockaddr) net.Addr {
	if u, ok := sa.(*unix.SockaddrUnix); ok {
		return &net.UnixAddr{Name: u.Name, Net: "unix"}
	}
	return tcpAddr(sa)
}
