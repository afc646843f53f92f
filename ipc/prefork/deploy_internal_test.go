package prefork

import (
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A worker with several listeners takes connections from each in turn
// when all have some waiting, and drains on a listener's error.
func TestReadyListenerTakesTurns(t *testing.T) {
	fds := pollFDs(3, 99)
	if len(fds) != 4 || fds[0].Fd != 3 || fds[2].Fd != 5 || fds[3].Fd != 99 {
		t.Fatalf("pollFDs(3, 99) = %+v", fds)
	}
	ls := fds[:3]
	for i := range ls {
		ls[i].Revents = unix.POLLIN
	}
	last := 0 // none yet
	var got []int
	for range 4 {
		fd, _ := readyListener(ls, last)
		got = append(got, fd)
		last = fd
	}
	if want := []int{3, 4, 5, 3}; !slices.Equal(got, want) {
		t.Errorf("turns %v, want %v", got, want)
	}
	ls[1].Revents = 0
	if fd, _ := readyListener(ls, 3); fd != 5 {
		t.Errorf("after 3 with 4 idle: %d, want 5", fd)
	}
	ls[2].Revents = unix.POLLERR
	if fd, r := readyListener(ls, 3); fd != -1 || r != unix.POLLERR {
		t.Errorf("with an error on 5: %d %d", fd, r)
	}
	if fds := pollFDs(0, 7); len(fds) != 2 || fds[0].Fd != 3 {
		t.Errorf("a boot without listeners=: %+v", fds)
	}
}

// SetRootStateDir moves where StatusDir looks for root's servers, for a
// test that cannot use /run/ipc.
func SetRootStateDir(dir string) { rootStateDir = dir }

// Two servers on one Unix socket path, the second checking the path while
// the first has bound but not yet listened (a socket file no one accepts
// on: stale, to look at): the directory's lock makes the second wait and
// then find a live server. Without the lock the second removes the first's
// file and both "serve", the first on a socket no client can reach.
func TestUnixListenDirLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	StaleSocket(t, path)

	paused, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	afterUnixBind = func() {
		if calls.Add(1) == 1 {
			close(paused)
			<-release
		}
	}
	defer func() { afterUnixBind = nil }()
	type result struct {
		l   *listener
		err error
	}
	first, second := make(chan result, 1), make(chan result, 1)
	listen := func(out chan result) {
		l, _, err := listenUnix(path, 0o600, -1, -1)
		out <- result{l, err}
	}
	go listen(first)
	<-paused
	go listen(second)
	select {
	case r := <-second:
		close(release)
		if r.l != nil {
			closeListeners([]*listener{r.l})
		}
		if r := <-first; r.l != nil {
			closeListeners([]*listener{r.l})
		}
		t.Fatalf("the second server was not held back while the first had bound and not listened: %v", r.err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	a, b := <-first, <-second
	if a.err != nil || b.err == nil || !strings.Contains(b.err.Error(), "a running server listens on it") {
		t.Fatalf("first: %v; second: %v (want it refused: a running server listens on it)", a.err, b.err)
	}
	defer closeListeners([]*listener{a.l})
	// The file at the path is the first server's socket.
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if dev, ino, ok := statIno(path); !ok || dev != a.l.dev || ino != a.l.ino {
		t.Errorf("the socket file is not the first server's")
	}
}

// StaleSocket makes a socket file at path that nobody listens on: bound,
// then closed without unlinking it, as a server killed with -9 leaves it.
func StaleSocket(t *testing.T, path string) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
}
