package prefork_test

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pollerWatches reports whether one of pid's epoll instances (Go's poller:
// the only one in a worker) watches pid's descriptor fd.
func pollerWatches(t *testing.T, pid, fd int) bool {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(pid)
	ents, err := os.ReadDir(dir + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if l, _ := os.Readlink(dir + "/fd/" + e.Name()); l != "anon_inode:[eventpoll]" {
			continue
		}
		info, _ := os.ReadFile(dir + "/fdinfo/" + e.Name())
		for _, line := range strings.Split(string(info), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "tfd:" && f[1] == strconv.Itoa(fd) {
				return true
			}
		}
	}
	return false
}

// A reuseport worker with one P waits for connections in Go's poller, so
// that its only P is not held in ppoll (pollwait.go); with two it waits
// in ppoll. Either way it serves every client, with a Handler and through
// Server.Serve's listener, and a SIGTERM ends its wait at once, not at the
// wait's 1 s timeout.
func TestReuseportOnePPoller(t *testing.T) {
	for _, c := range []struct{ procs, handler string }{{"1", "upper"}, {"1", "serve-upper"}, {"2", "upper"}, {"2", "serve-upper"}} {
		procs := c.procs
		t.Run("GOMAXPROCS="+procs+"/"+c.handler, func(t *testing.T) {
			s := startServerEnv(t, []string{"GOMAXPROCS=" + procs}, "mode=reuseport", "role="+modeRole, "workers=3", "handler="+c.handler)
			// Bursts, each ending in a wait for the next: a connection
			// that comes as a worker goes back to waiting must not wait
			// for the one after it (an edge-triggered poller's trap).
			for range 3 {
				if failed := clientsUpper(t, s.addr, 200); failed > 0 {
					t.Fatalf("%d of 200 clients failed", failed)
				}
			}
			st := s.waitStatus(5*time.Second, "idle", allClosed)
			for _, w := range st.Workers {
				if got, want := pollerWatches(t, w.PID, 3), procs == "1"; got != want {
					t.Errorf("worker %d: its listener (descriptor 3) in Go's poller: %v, want %v", w.PID, got, want)
				}
			}
			// The workers have been waiting for a connection since the
			// clients ended; the stop must not wait for that wait's end.
			start := time.Now()
			s.signal(syscall.SIGTERM)
			select {
			case <-s.done:
			case <-time.After(10 * time.Second):
				t.Fatal("the server has not stopped 10 s after SIGTERM")
			}
			took := time.Since(start)
			t.Logf("stopped %v after SIGTERM", took.Round(time.Millisecond))
			if took > 800*time.Millisecond {
				t.Errorf("stopped %v after SIGTERM: a worker waited out its 1 s wait", took)
			}
		})
	}
}
