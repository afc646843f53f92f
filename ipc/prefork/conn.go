package prefork

import (
	"io/fs"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// sockConn is an accepted connection served through the runtime's poller as
// a non-blocking *os.File, which gives it Read, Write, Close and deadlines.
// net.FileConn would do the same after a dup, an fcntl and three more
// calls (getsockopt, getsockname, getpeername) per connection; here the
// addresses are looked up only if asked for. TCP_NODELAY, which Go sets on
// the connections it accepts, is inherited from the listener, where the
// supervisor set it.
type sockConn struct {
	*os.File
	fd            int
	local, remote net.Addr
	once          sync.Once
}

func newSockConn(fd int) *sockConn {
	return &sockConn{File: os.NewFile(uintptr(fd), "tcp connection"), fd: fd}
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
		c.local, c.remote = &net.TCPAddr{}, &net.TCPAddr{}
		if sa, err := unix.Getsockname(c.fd); err == nil {
			c.local = netAddr(sa)
		}
		if sa, err := unix.Getpeername(c.fd); err == nil {
			c.remote = netAddr(sa)
		}
	})
}

// LocalAddr is the address the connection was accepted on.
func (c *sockConn) LocalAddr() net.Addr { c.addrs(); return c.local }

// RemoteAddr is the client's address.
func (c *sockConn) RemoteAddr() net.Addr { c.addrs(); return c.remote }

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

func (c *countedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.w.slot[wActive].Add(^uint64(0))
		c.w.slot[wLastActive].Store(now())
	}
	return c.Conn.Close()
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
