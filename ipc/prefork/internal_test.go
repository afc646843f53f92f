package prefork

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipctoolkit/ipc/internal/sys"
	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/ipctoolkit/ipc/shm"
)

func TestMessageRoundTrip(t *testing.T) {
	buf := make([]byte, msgBufSize)
	in := message{kind: kindExiting, slot: 4095, pid: 1 << 30, gen: 1<<40 + 3, arg: reasonMaxRequests, text: []byte("served its 5 requests")}
	out, ok := decode(in.encode(buf))
	if !ok || out.kind != in.kind || out.slot != in.slot || out.pid != in.pid || out.gen != in.gen || out.arg != in.arg || !bytes.Equal(out.text, in.text) {
		t.Errorf("%+v came back as %+v", in, out)
	}
	if _, ok := decode(buf[:msgHeader-1]); ok {
		t.Error("a message shorter than the header decoded")
	}
	// A text too long for the buffer is cut, not written past it.
	long := message{kind: kindBroadcast, text: bytes.Repeat([]byte("x"), 2*msgBufSize)}
	if n := len(long.encode(buf)); n != msgBufSize {
		t.Errorf("encoded %d bytes into a %d-byte buffer", n, msgBufSize)
	}
}

func TestBootRoundTrip(t *testing.T) {
	in := boot{slot: 3, slots: 8, gen: 7, semID: 32768, queueID: 5, segID: 0, supervisor: 1234,
		maxRequests: 1000, graceful: 30 * time.Second, timeout: time.Second, accept: AcceptShared}
	k, v, _ := strings.Cut(in.encode(), "=")
	if k != bootEnv {
		t.Fatalf("variable %q", k)
	}
	out, err := parseBoot(v)
	if err != nil || out != in {
		t.Errorf("%+v came back as %+v, %v", in, out, err)
	}
	for _, bad := range []string{"", "slot=1", "slot=x," + v, "slot=-1," + v, strings.Replace(v, "slot=3", "slot=9", 1)} {
		if _, err := parseBoot(bad); err == nil {
			t.Errorf("parseBoot(%q) accepted it", bad)
		}
	}
}

func TestStartTicks(t *testing.T) {
	a, ok1 := startTicks(1)
	b, ok2 := startTicks(1)
	if !ok1 || !ok2 || a != b {
		t.Errorf("start ticks of pid 1: %d %v, %d %v", a, ok1, b, ok2)
	}
	if _, ok := startTicks(1 << 30); ok {
		t.Error("start ticks of a pid that cannot exist")
	}
}

// The accept path's own work per connection: lock, poll bookkeeping and
// unlock, with no allocation.
func BenchmarkAcceptLockCycle(b *testing.B) {
	m, err := sem.CreateMutex(ipc.Private, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Set().Remove()
	b.ReportAllocs()
	for b.Loop() {
		if err := m.LockTimeout(time.Second); err != nil {
			b.Fatal(err)
		}
		if err := m.Unlock(); err != nil {
			b.Fatal(err)
		}
	}
}

// Updating the scoreboard as a connection is served: atomic stores and adds
// in shared memory, no allocation.
func BenchmarkScoreboardUpdate(b *testing.B) {
	bd := testBoard(b, 4)
	w := &bd.slots[2]
	b.ReportAllocs()
	for b.Loop() {
		t := now()
		w[wHeartbeat].Store(t)
		w[wConns].Add(1)
		w[wActive].Add(1)
		w[wBytesIn].Add(64)
		w[wBytesOut].Add(64)
		w[wLastActive].Store(t)
		w[wActive].Add(^uint64(0))
	}
}

func BenchmarkMessage(b *testing.B) {
	var buf [msgBufSize]byte
	m := message{kind: kindBroadcast, slot: 3, pid: 1234, gen: 2, text: []byte("a line of chat\n")}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := decode(m.encode(buf[:])); !ok {
			b.Fatal("decode")
		}
	}
}

// The supervisor's listener stays non-blocking after it is wrapped in the
// file the workers inherit (exec.Cmd calls its Fd), and the connections
// accepted on it inherit TCP_NODELAY and TCP keep-alive, as Go's own
// accepted connections have.
func TestListenerFlags(t *testing.T) {
	f, addr, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK == 0 {
		t.Errorf("listener flags %#x, %v after Fd(): not non-blocking", fl, err)
	}
	if _, e := sys.Accept4(fd); e != unix.EAGAIN {
		t.Errorf("accept with nothing waiting: %v, want EAGAIN", e)
	}
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if n, e := sys.Ppoll(fds, time.Second); n != 1 || e != 0 {
		t.Fatalf("poll: %d, %v", n, e)
	}
	var peer unix.RawSockaddrInet6
	cfd, e := sys.Accept4Peer(fd, &peer)
	if e != 0 {
		t.Fatal(e)
	}
	sc := newSockConn(cfd, nil, &peer)
	defer sc.Close()
	checkTuned(t, cfd)
	if sc.RemoteAddr().String() != c.LocalAddr().String() || sc.LocalAddr().String() != addr.String() {
		t.Errorf("addresses %v -> %v, want %v -> %v", sc.RemoteAddr(), sc.LocalAddr(), c.LocalAddr(), addr)
	}
	c.Write([]byte("ping"))
	sc.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 8)
	if n, err := sc.Read(buf); err != nil || string(buf[:n]) != "ping" {
		t.Errorf("read %q, %v", buf[:n], err)
	}
	if err := sc.CloseWrite(); err != nil {
		t.Error(err)
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := c.Read(buf); n != 0 || err == nil {
		t.Errorf("after CloseWrite the client read %d, %v", n, err)
	}
}

// The wait for a connection: one ppoll of the listener and the wake-up
// descriptor, with no allocation (unix.Poll allocates its timespec).
func BenchmarkPoll(b *testing.B) {
	f, _, err := listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(efd)
	fds := []unix.PollFd{{Fd: int32(f.Fd()), Events: unix.POLLIN}, {Fd: int32(efd), Events: unix.POLLIN}}
	b.ReportAllocs()
	for b.Loop() {
		// EINTR: the runtime's preemption signal landed in the call; the
		// accept loop retries as well.
		if n, e := sys.Ppoll(fds, 0); (n != 0 || e != 0) && e != unix.EINTR {
			b.Fatal(n, e)
		}
	}
}

// One turn of the accept loop's bookkeeping around the lock, as the worker
// does it per accept: the stop order's load, the lock with SEM_UNDO, the
// holding word, the listener's mutex, the release. Compare with
// BenchmarkAcceptLockCycle: the difference is what the fault handling costs
// the hot path.
func BenchmarkAcceptTurn(b *testing.B) {
	set, err := sem.Create(ipc.Private, semCount, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer set.Remove()
	if err := set.SetValue(semLock, 1); err != nil {
		b.Fatal(err)
	}
	lock := sem.NewMutex(set, semLock)
	bd := testBoard(b, 2)
	w := &worker{slot: &bd.slots[1]}
	b.ReportAllocs()
	for b.Loop() {
		if w.slot[wOrder].Load() == orderStop {
			b.Fatal("stop")
		}
		if err := lock.LockTimeout(time.Second); err != nil {
			b.Fatal(err)
		}
		w.slot[wHolding].Store(1)
		w.slot[wLocks].Add(1)
		w.lnMu.Lock()
		closed := w.lnClosed
		w.lnMu.Unlock()
		w.slot[wHolding].Store(0)
		if err := lock.Unlock(); err != nil || closed {
			b.Fatal(err)
		}
	}
}

// testBoard is a scoreboard of n slots in a segment already marked removed,
// detached when the test ends.
func testBoard(tb testing.TB, n int) *board {
	seg, err := shm.Create(ipc.Private, boardSize(n), 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := seg.Attach(0)
	seg.Remove()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Detach() })
	bd, err := newBoard(m, n)
	if err != nil {
		tb.Fatal(err)
	}
	return bd
}

// checkTuned fails t unless the accepted socket fd has what tuneTCPListener
// set on its listener: TCP_NODELAY and Go's keep-alive timings.
func checkTuned(t *testing.T, fd int) {
	t.Helper()
	for _, o := range []struct {
		level, name, want int
		what              string
	}{
		{unix.IPPROTO_TCP, unix.TCP_NODELAY, 1, "TCP_NODELAY"},
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1, "SO_KEEPALIVE"},
		{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 15, "TCP_KEEPIDLE"},
		{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 15, "TCP_KEEPINTVL"},
		{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 9, "TCP_KEEPCNT"},
	} {
		if v, err := unix.GetsockoptInt(fd, o.level, o.name); err != nil || v != o.want {
			t.Errorf("%s on the accepted socket = %d, %v; want %d", o.what, v, err, o.want)
		}
	}
}

// A socket systemd passes (rawListener) gets the same options, whatever
// its unit set: here a listener made with keep-alive off and no
// TCP_NODELAY, as a unit with KeepAlive=no and NoDelay=no leaves it.
func TestRawListenerTuned(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 8); err != nil {
		t.Fatal(err)
	}
	l, err := rawListener(fd, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer l.file.Close()
	c, err := net.Dial("tcp", l.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lfd := int(l.file.Fd())
	fds := []unix.PollFd{{Fd: int32(lfd), Events: unix.POLLIN}}
	if n, e := sys.Ppoll(fds, time.Second); n != 1 || e != 0 {
		t.Fatalf("poll: %d, %v", n, e)
	}
	cfd, e := sys.Accept4(lfd)
	if e != 0 {
		t.Fatal(e)
	}
	defer unix.Close(cfd)
	checkTuned(t, cfd)
}
