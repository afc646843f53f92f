package prefork

import (
	"net"
	"sync"
	"sync/atomic"
)

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
