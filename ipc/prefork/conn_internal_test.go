package prefork

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// acceptRaw dials the raw listening descriptor lfd at addr and accepts the
// connection as a worker does, returning both ends.
func acceptRaw(t testing.TB, network, addr string, lfd int) (net.Conn, accepted) {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	fds := []unix.PollFd{{Fd: int32(lfd), Events: unix.POLLIN}}
	if n, e := sys.Ppoll(fds, 5*time.Second); n != 1 || e != 0 {
		t.Fatalf("poll: %d, %v", n, e)
	}
	var a accepted
	var e unix.Errno
	if a.fd, e = sys.Accept4Peer(lfd, &a.peer); e != 0 {
		t.Fatal(e)
	}
	return c, a
}

// A connection's addresses are what the net package gives the client's
// end: IPv4, IPv6 and Unix sockets; the peer's as accept4 wrote it, or
// read in one system call when it did not (not given, or a Unix socket's);
// the local one of a listener bound to one address is the listener's, and
// of a wildcard listener the connection's own.
func TestSockConnAddrs(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0", "0.0.0.0:0"} {
		f, bound, err := listen(addr)
		if err != nil {
			t.Logf("%s: %v (no such address here?)", addr, err)
			continue
		}
		dial := bound.String()
		if addr == "0.0.0.0:0" {
			dial = net.JoinHostPort("127.0.0.1", portOf(bound))
		}
		w := &worker{}
		lfd := int(f.Fd())
		c, a := acceptRaw(t, "tcp", dial, lfd)
		local := w.listenerAddr(lfd)
		if (local == nil) != (addr == "0.0.0.0:0") || (local != nil && local.String() != bound.String()) {
			t.Errorf("%s: listener address %v, want %v (nil for a wildcard)", addr, local, bound)
		}
		if again := w.listenerAddr(lfd); again != local {
			t.Errorf("%s: listener address not cached", addr)
		}
		if a.peer.Family != unix.AF_INET && a.peer.Family != unix.AF_INET6 {
			t.Errorf("%s: accept4 gave a peer of family %d", addr, a.peer.Family)
		}
		sc := newSockConn(a.fd, local, &a.peer)
		asked := &sockConn{fd: a.fd, local: local} // the peer from getpeername
		for _, conn := range []*sockConn{sc, asked} {
			if conn.LocalAddr().String() != c.RemoteAddr().String() || conn.RemoteAddr().String() != c.LocalAddr().String() {
				t.Errorf("%s: connection %v -> %v, want %v -> %v", addr, conn.RemoteAddr(), conn.LocalAddr(), c.LocalAddr(), c.RemoteAddr())
			}
			if _, ok := conn.RemoteAddr().(*net.TCPAddr); !ok {
				t.Errorf("%s: remote address is a %T", addr, conn.RemoteAddr())
			}
		}
		sc.Close()
		c.Close()
		f.Close()
	}

	path := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lf, err := l.(*net.UnixListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	unix.SetNonblock(int(lf.Fd()), true)
	w := &worker{}
	c, ua := acceptRaw(t, "unix", path, int(lf.Fd()))
	defer c.Close()
	if a := w.listenerAddr(int(lf.Fd())); a != nil {
		t.Errorf("unix listener address %v, want nil (asked per connection)", a)
	}
	sc := newSockConn(ua.fd, nil, &ua.peer)
	defer sc.Close()
	if a, ok := sc.LocalAddr().(*net.UnixAddr); !ok || a.Name != path {
		t.Errorf("unix local address %#v, want %s", sc.LocalAddr(), path)
	}
	if _, ok := sc.RemoteAddr().(*net.UnixAddr); !ok {
		t.Errorf("unix remote address %#v", sc.RemoteAddr())
	}
}

func portOf(a net.Addr) string {
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

// What an http.Server asks of every connection it is handed: both
// addresses. The listener is bound to one address, as ipc serve's usually
// is; the peer's address is the one accept4 gave (accept4) or asked of
// getpeername (asked).
func BenchmarkConnAddrs(b *testing.B) {
	f, bound, err := listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := &worker{}
	lfd := int(f.Fd())
	c, a := acceptRaw(b, "tcp", bound.String(), lfd)
	defer c.Close()
	defer unix.Close(a.fd)
	for _, bc := range []struct {
		name string
		peer *unix.RawSockaddrInet6
	}{{"accept4", &a.peer}, {"asked", nil}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sc := &sockConn{fd: a.fd, local: w.listenerAddr(lfd)}
				if bc.peer != nil {
					sc.peer = *bc.peer
				}
				_ = sc.LocalAddr()
				_ = sc.RemoteAddr()
			}
		})
	}
}
