package prefork

import (
	"io"
	"io/fs"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sockConn is an accepted connection served through the runtime's poller as
// a non-blocking *os.File, which gives it Read, Write, Close and deadlines.
// net.FileConn would do the same after a dup, an fcntl and three more
// calls (getsockopt, getsockname, getpeername) per connection; here the
// peer's address is the one accept4 wrote (asked of getpeername only for a
// descriptor from elsewhere or a Unix-domain peer), decoded only if asked
// for, and the local one is not looked up at all when the listener is
// bound to one address (it is then the listener's).
// TCP_NODELAY and TCP keep-alive, which Go sets on the connections it
// accepts, are inherited from the listener, where the supervisor (or, in
// reuseport mode, the worker) set them: tuneTCPListener.
type sockConn struct {
	*os.File
	fd            int
	local, remote net.Addr
	// peer is the peer's address as accept4 wrote it (family 0: not
	// known, asked of getpeername when wanted).
	peer unix.RawSockaddrInet6
	once sync.Once
}

// accepted is a connection a worker accepted: its descriptor and its
// peer's address as accept4 gave it.
type accepted struct {
	fd   int
	peer unix.RawSockaddrInet6
}

// newSockConn makes a connection of fd; local, if not nil, is its local
// address, and peer, if not nil, its peer's as accept4 gave it.
func newSockConn(fd int, local net.Addr, peer *unix.RawSockaddrInet6) *sockConn {
	c := &sockConn{File: os.NewFile(uintptr(fd), "tcp connection"), fd: fd, local: local}
	if peer != nil {
		c.peer = *peer
	}
	return c
}

// Read and Write return the errors a net.Conn does: net/http takes a
// deadline's error for the end of its own background read only if it is a
// net.Error, and an *os.PathError is not one (no Temporary), so without
// this every request after the first on a keep-alive connection had its
// context cancelled at once.
func (c *sockConn) Read(p []byte) (int, error) {
	n, err := c.File.Read(p)
	return n, netError("read", err)
}

func (c *sockConn) Write(p []byte) (int, error) {
	n, err := c.File.Write(p)
	return n, netError("write", err)
}

func netError(op string, err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return &net.OpError{Op: op, Net: "tcp", Err: pe.Err}
	}
	return err
}

func (c *sockConn) addrs() {
	c.once.Do(func() {
		if c.local == nil {
			c.local = sockAddr(c.fd, unix.SYS_GETSOCKNAME)
		}
		if c.remote = inetAddr(unsafe.Pointer(&c.peer)); c.remote == nil {
			c.remote = sockAddr(c.fd, unix.SYS_GETPEERNAME)
		}
	})
}

// LocalAddr is the address the connection was accepted on.
func (c *sockConn) LocalAddr() net.Addr { c.addrs(); return c.local }

// RemoteAddr is the client's address.
func (c *sockConn) RemoteAddr() net.Addr { c.addrs(); return c.remote }

// sockAddr is a socket's own address (trap SYS_GETSOCKNAME) or its peer's
// (SYS_GETPEERNAME), in one system call: unix.Getsockname and
// unix.Getpeername also ask SO_PROTOCOL of every AF_INET socket (to tell
// L2TP apart), which an http.Server, asking for both addresses of every
// connection, would pay twice per connection.
func sockAddr(fd int, trap uintptr) net.Addr {
	var rsa unix.RawSockaddrAny
	n := uint32(unix.SizeofSockaddrAny)
	_, _, e := unix.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n)))
	if e != 0 {
		return &net.TCPAddr{}
	}
	if a := inetAddr(unsafe.Pointer(&rsa)); a != nil {
		return a
	}
	// A Unix-domain socket: x/sys decodes those without asking more.
	var sa unix.Sockaddr
	var err error
	if trap == unix.SYS_GETSOCKNAME {
		sa, err = unix.Getsockname(fd)
	} else {
		sa, err = unix.Getpeername(fd)
	}
	if err != nil {
		return &net.UnixAddr{Net: "unix"}
	}
	return netAddr(sa)
}

// inetAddr decodes the raw AF_INET or AF_INET6 address at rsa (at least a
// unix.RawSockaddrInet6 of room), nil for any other family.
func inetAddr(rsa unsafe.Pointer) net.Addr {
	switch (*unix.RawSockaddr)(rsa).Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(rsa)
		return &net.TCPAddr{IP: net.IPv4(a.Addr[0], a.Addr[1], a.Addr[2], a.Addr[3]), Port: port(a.Port)}
	case unix.AF_INET6:
		a := (*unix.RawSockaddrInet6)(rsa)
		return &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: port(a.Port)}
	}
	return nil
}

// port is a port in network byte order as a number.
func port(p uint16) int {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return int(b[0])<<8 | int(b[1])
}

// listenerAddr is the local address of every connection accepted on the
// listening descriptor lfd when it is bound to one TCP address, nil when
// each connection's must be asked (a wildcard address, a Unix socket).
// Resolved once per listener.
func (w *worker) listenerAddr(lfd int) net.Addr {
	if a, ok := w.lnAddrs[lfd]; ok {
		return a
	}
	var a net.Addr
	if t, ok := sockAddr(lfd, unix.SYS_GETSOCKNAME).(*net.TCPAddr); ok && t.IP != nil && !t.IP.IsUnspecified() {
		a = t
	}
	if w.lnAddrs == nil {
		w.lnAddrs = map[int]net.Addr{}
	}
	w.lnAddrs[lfd] = a
	return a
}

// CloseWrite shuts down the sending side, as (*net.TCPConn).CloseWrite.
func (c *sockConn) CloseWrite() error {
	rc, err := c.File.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Shutdown(int(fd), unix.SHUT_WR) }); err != nil {
		return err
	}
	return serr
}

func tcpAddr(sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
	}
	return &net.TCPAddr{}
}

// countedConn counts a connection's bytes and activity in the worker's
// scoreboard slot, and its end in the slot's active count (once, however
// many times it is closed).
type countedConn struct {
	net.Conn
	w      *worker
	closed atomic.Bool
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.w.slot[wBytesIn].Add(uint64(n))
		c.w.slot[wLastActive].Store(now())
	}
	return n, err
}

func (c *countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.w.slot[wBytesOut].Add(uint64(n))
	}
	return n, err
}

// ReadFrom sends r into the connection. A regular file (an *os.File, or an
// io.LimitedReader of one, as http.ServeContent gives) goes with
// sendfile(2), from the file's offset, as (*net.TCPConn).ReadFrom sends it:
// without this, http.FileServer in a worker copied every byte through user
// space. Anything else is copied through a buffer.
func (c *countedConn) ReadFrom(r io.Reader) (int64, error) {
	n, handled, err := c.sendFile(r)
	if !handled {
		var m int64
		m, err = io.Copy(writerOnly{c}, r)
		return n + m, err
	}
	return n, err
}

// writerOnly hides its Writer's ReadFrom from io.Copy, which would
// otherwise call it again.
type writerOnly struct{ io.Writer }

// sendFile sends r with sendfile(2) if it is a file that can be sent so and
// the connection is a socket of this package's; handled is false if it sent
// nothing and the caller must copy r.
func (c *countedConn) sendFile(r io.Reader) (written int64, handled bool, err error) {
	remain := int64(1<<63 - 1)
	lr, limited := r.(*io.LimitedReader)
	if limited {
		remain, r = lr.N, lr.R
		if remain <= 0 {
			return 0, true, nil
		}
	}
	f, ok := r.(*os.File)
	sc, isSock := c.Conn.(*sockConn)
	if !ok || !isSock {
		return 0, false, nil
	}
	src, err := f.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	dst, err := sc.File.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	var sendErr error
	regular := false
	readErr := src.Read(func(sfd uintptr) bool {
		// Only a regular file: sendfile from an empty non-blocking pipe
		// says EAGAIN, which the loop below would take for a full
		// socket, and spin on. (Fstat here, not f.Stat, which
		// allocates.)
		var st unix.Stat_t
		if unix.Fstat(int(sfd), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			return true
		}
		regular = true
		sendErr = dst.Write(func(dfd uintptr) bool {
			for remain > 0 {
				n, e := sendfile(int(dfd), int(sfd), nil, int(min(remain, maxSendfile)))
				if n > 0 {
					written += int64(n)
					remain -= int64(n)
					c.w.slot[wBytesOut].Add(uint64(n))
				}
				switch {
				case e == unix.EINTR:
				case e == unix.EAGAIN:
					return false // the poller waits until the socket can take more
				case e != nil:
					err = e
					return true
				case n == 0:
					return true // the end of the file
				}
			}
			return true
		})
		return true
	})
	if !regular {
		return 0, false, nil
	}
	if limited {
		lr.N = remain
	}
	if written == 0 && (err == unix.EINVAL || err == unix.ENOSYS) {
		// A file system whose files sendfile cannot read: copy instead.
		return 0, false, nil
	}
	switch {
	case err != nil:
		err = os.NewSyscallError("sendfile", err)
	case sendErr != nil: // the write deadline, or the connection closed
		err = sendErr
	case readErr != nil:
		err = readErr
	default:
		return written, true, nil
	}
	// In the words of (*net.TCPConn).ReadFrom.
	return written, true, &net.OpError{Op: "readfrom", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// maxSendfile is the most one sendfile(2) is asked to send, as the poll
// package asks (the kernel sends at most about 2 GiB at a time anyway).
const maxSendfile = 4 << 20

// sendfile is sendfile(2), a variable so that a test can see it called.
var sendfile = unix.Sendfile

// Close closes the connection and counts it closed. The count comes after
// the descriptor's close, so that a worker that shows no open connection
// holds none (closed is set first: describe reads the peer's address only
// while the descriptor is the connection's).
func (c *countedConn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return c.Conn.Close()
	}
	err := c.Conn.Close()
	c.w.slot[wActive].Add(^uint64(0))
	c.w.slot[wLastActive].Store(now())
	return err
}

// CloseWrite half-closes a TCP connection, for handlers that signal the end
// of their output that way.
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// Unwrap returns the connection underneath, for handlers that need the
// *net.TCPConn itself (its bytes are then no longer counted).
func (c *countedConn) Unwrap() net.Conn { return c.Conn }

// chanListener hands the connections the accept loop took to an
// http.Server, which wants a net.Listener.
type chanListener struct {
	ch   chan net.Conn
	addr net.Addr
	once sync.Once
	done chan struct{}
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{ch: make(chan net.Conn, 16), addr: addr, done: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	// A connection already taken is served even when the listener is
	// closed meanwhile: it was accepted, and dropping it would cut it.
	select {
	case c := <-l.ch:
		return c, nil
	default:
	}
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		// Both may be ready, and select picks at random: a connection
		// handed over just before the close must not be left behind.
		select {
		case c := <-l.ch:
			return c, nil
		default:
		}
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// give hands c to the http.Server, or closes it if the server is gone.
func (l *chanListener) give(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		c.Close()
	}
}
