package prefork

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// accepted dials the raw listening descriptor lfd at addr and accepts the
// connection as a worker does, returning both ends.
func accepted(t testing.TB, network, addr string, lfd int) (net.Conn, int) {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	fds := []unix.PollFd{{Fd: int32(lfd), Events: unix.POLLIN}}
	if n, e := sys.Ppoll(fds, 5*time.Second); n != 1 || e != 0 {
		t.Fatalf("poll: %d, %v", n, e)
	}
	cfd, e := sys.Accept4(lfd)
	if e != 0 {
		t.Fatal(e)
	}
	return c, cfd
}

// A connection's addresses, read in one system call each, are what the
// net package gives the client's end: IPv4, IPv6 and Unix sockets; the
// local one of a listener bound to one address is the listener's, and of
// a wildcard listener the connection's own.
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
		c, cfd := accepted(t, "tcp", dial, lfd)
		local := w.listenerAddr(lfd)
		if (local == nil) != (addr == "0.0.0.0:0") || (local != nil && local.String() != bound.String()) {
			t.Errorf("%s: listener address %v, want %v (nil for a wildcard)", addr, local, bound)
		}
		if again := w.listenerAddr(lfd); again != local {
			t.Errorf("%s: listener address not cached", addr)
		}
		sc := newSockConn(cfd, local)
		if sc.LocalAddr().String() != c.RemoteAddr().String() || sc.RemoteAddr().String() != c.LocalAddr().String() {
			t.Errorf("%s: connection %v -> %v, want %v -> %v", addr, sc.RemoteAddr(), sc.LocalAddr(), c.LocalAddr(), c.RemoteAddr())
		}
		if _, ok := sc.RemoteAddr().(*net.TCPAddr); !ok {
			t.Errorf("%s: remote address is a %T", addr, sc.RemoteAddr())
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
	c, cfd := accepted(t, "unix", path, int(lf.Fd()))
	defer c.Close()
	if a := w.listenerAddr(int(lf.Fd())); a != nil {
		t.Errorf("unix listener address %v, want nil (asked per connection)", a)
	}
	sc := newSockConn(cfd, nil)
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
// is.
func BenchmarkConnAddrs(b *testing.B) {
	f, bound, err := listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := &worker{}
	lfd := int(f.Fd())
	c, cfd := accepted(b, "tcp", bound.String(), lfd)
	defer c.Close()
	defer unix.Close(cfd)
	b.ReportAllocs()
	for b.Loop() {
		sc := &sockConn{fd: cfd, local: w.listenerAddr(lfd)}
		_ = sc.LocalAddr()
		_ = sc.RemoteAddr()
	}
}
