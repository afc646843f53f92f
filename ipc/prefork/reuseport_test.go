package prefork_test

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc/prefork"
	"github.com/ipctoolkit/ipc/sem"
)

// listeningInodes are the inodes of the TCP sockets listening on port, from
// /proc/net/tcp and tcp6.
func listeningInodes(t *testing.T, port int) map[uint64]bool {
	t.Helper()
	out := map[uint64]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 10 || fs[3] != "0A" {
				continue
			}
			_, hexPort, _ := strings.Cut(fs[1], ":")
			if p, _ := strconv.ParseInt(hexPort, 16, 32); int(p) != port {
				continue
			}
			ino, _ := strconv.ParseUint(fs[9], 10, 64)
			out[ino] = true
		}
	}
	return out
}

// socketInodes are the inodes of pid's sockets.
func socketInodes(pid int) map[uint64]bool {
	out := map[uint64]bool{}
	for _, l := range ipctest.FDs(pid) {
		if v, ok := strings.CutPrefix(l, "socket:["); ok {
			ino, _ := strconv.ParseUint(strings.TrimSuffix(v, "]"), 10, 64)
			out[ino] = true
		}
	}
	return out
}

// Each reuseport worker listens on a socket of its own, and those are all
// the sockets listening on the port (chosen once, port 0 given): none of
// the supervisor's is among them. No worker takes the accept lock, and no
// semop touches it.
func TestReuseportSockets(t *testing.T) {
	s := startServer(t, "mode=reuseport", "role="+modeRole, "workers=3", "handler=upper")
	clientsUpper(t, s.addr, 200)
	st := s.waitStatus(5*time.Second, "idle", allClosed)
	_, p, _ := net.SplitHostPort(s.addr)
	port, _ := strconv.Atoi(p)
	listening := listeningInodes(t, port)
	mine := map[uint64]bool{}
	var pids []int
	for _, w := range st.Workers {
		pids = append(pids, w.PID)
		if w.Socket == 0 || mine[w.Socket] {
			t.Errorf("worker %d: socket inode %d (not its own)", w.PID, w.Socket)
		}
		mine[w.Socket] = true
		if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/3", w.PID)); l != fmt.Sprintf("socket:[%d]", w.Socket) {
			t.Errorf("worker %d: descriptor 3 is %s, the scoreboard says socket %d", w.PID, l, w.Socket)
		}
		if w.Locks != 0 || w.Connections == 0 {
			t.Errorf("worker %d: %d lock acquisitions, %d connections", w.PID, w.Locks, w.Connections)
		}
	}
	if fmt.Sprint(listening) != fmt.Sprint(mine) {
		t.Errorf("listening on port %d: %v; the workers' own: %v", port, listening, mine)
	}
	for ino := range socketInodes(s.cmd.Pid()) {
		if listening[ino] {
			t.Errorf("the supervisor holds listening socket %d", ino)
		}
	}
	set, err := sem.FromID(s.state.Semaphore)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := set.Value(0); v != 1 {
		t.Errorf("accept lock = %d, want 1 (free)", v)
	}
	if last, _ := set.LastPID(0); contains(pids, last) {
		t.Errorf("worker %d operated on the accept lock", last)
	}
	if st.Mode != "reuseport" || st.LockHolder != 0 {
		t.Errorf("status: mode %q, lock holder %d", st.Mode, st.LockHolder)
	}
}

// reuseportResets is how many of sent connections a reuseport server may
// lose to resets while its old workers close their sockets: with
// net.ipv4.tcp_migrate_req=0 (the kernel's default), a handshake that
// completes between a retiring worker's last accept and its close is
// reset, and the server cannot stop it (README, reuseport); with it on,
// the kernel moves such handshakes to another socket and none is lost.
func reuseportResets(sent int64) int64 {
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/tcp_migrate_req"); strings.TrimSpace(string(b)) == "1" {
		return 0
	}
	return sent / 1000
}

// A reload under load drops no connection: each old worker serves what
// is queued on its socket before closing it (and, with
// net.ipv4.tcp_migrate_req=1, the kernel moves what is left).
func TestReuseportReloadNoDrop(t *testing.T) {
	migrate, _ := os.ReadFile("/proc/sys/net/ipv4/tcp_migrate_req")
	s := startServer(t, "mode=reuseport", "role="+modeRole, "workers=3", "handler=upper")
	stop := make(chan struct{})
	l := startLoad(s.addr, 16, stop)
	reloads := 3
	if long() {
		reloads = 20
	}
	for gen := uint64(2); gen < uint64(2+reloads); gen++ {
		time.Sleep(150 * time.Millisecond)
		s.signal(syscall.SIGHUP)
		s.waitStatus(10*time.Second, "generation "+strconv.FormatUint(gen, 10), onlyGeneration(gen, 3))
	}
	time.Sleep(150 * time.Millisecond)
	close(stop)
	l.wg.Wait()
	t.Logf("tcp_migrate_req=%s: %d reloads under load, %d requests answered, %d failed %v",
		strings.TrimSpace(string(migrate)), reloads, l.answered.Load(), l.failed.Load(), l.errs)
	// With net.ipv4.tcp_migrate_req=0 one window is the kernel's: a
	// handshake that completes between a retiring worker's last accept
	// and its close is reset (1 in 3,528 in one loaded -race run of CI;
	// 0 in ~40,000 over 40 reloads by hand). Without the drain, 45 of
	// 9,814 failed over 20 reloads (0.46%), about 2 a reload: a bound of
	// 1 in 1,000 still tells the two apart. With the sysctl on, none may.
	failed, sent := l.failed.Load(), l.sent.Load()
	allowed := reuseportResets(sent)
	if failed > allowed || l.answered.Load() == 0 {
		t.Errorf("%d of %d requests failed across the reloads (at most %d allowed): %v", failed, sent, allowed, l.errs)
	} else if failed > 0 {
		t.Logf("KNOWN GAP: %d of %d reset in the kernel's window (tcp_migrate_req=0)", failed, sent)
	}
	if st := s.scoreboard(); st.Exited.Connections == 0 {
		t.Errorf("no connection counted by the retired workers: %+v", st.Exited)
	}
	_ = prefork.ModeReuseport
}
