package prefork_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc/prefork"
)

// poolUpgrade is a supervisor of a dynamic or ondemand pool started from a
// copy of the test binary, followed across upgrades: pid is the supervisor
// serving now, exited waits for it to exit.
type poolUpgrade struct {
	t       *testing.T
	v       *server
	dir     string
	pidFile string
	pid     int
	exited  func(time.Duration) bool
	// want is what every supervisor's status must say of its pool.
	want prefork.PoolStatus
	// prior are this process's children before the test (orphans other
	// tests left, still on their way out): not the test's to count.
	prior map[int]bool
}

func startPoolUpgrade(t *testing.T, want prefork.PoolStatus, args ...string) *poolUpgrade {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	u := &poolUpgrade{t: t, dir: t.TempDir(), pidFile: filepath.Join(tmp, "server.pid"), want: want, prior: map[int]bool{}}
	for _, pid := range childrenOf(os.Getpid(), false) {
		u.prior[pid] = true
	}
	bin := filepath.Join(tmp, "server")
	ipctest.InstallBinary(t, self, bin)
	args = append([]string{"addr=127.0.0.1:0", "dir=" + u.dir, "handler=http", "pidfile=" + u.pidFile,
		"upgradetimeout=10s", "graceful=5s"}, args...)
	v, cmd := execServer(t, bin, nil, args...)
	u.v, u.pid = v, cmd.Process.Pid
	u.exited = func(d time.Duration) bool {
		select {
		case <-v.done:
			return true
		case <-time.After(d):
			return false
		}
	}
	u.check(time.Second)
	return u
}

// upgrade sends SIGUSR2 to the supervisor serving now, waits for it to
// exit, and follows the new one the pid file names (an orphan this process
// reaps as subreaper once the old supervisor is gone).
func (u *poolUpgrade) upgrade() {
	t := u.t
	t.Helper()
	old := u.pid
	syscall.Kill(old, syscall.SIGUSR2)
	if !u.exited(20 * time.Second) {
		t.Fatalf("the old supervisor %d did not exit after SIGUSR2", old)
	}
	b, _ := os.ReadFile(u.pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 0 || pid == old || gone(pid) {
		t.Fatalf("pid file after the upgrade names %q (old supervisor %d)", b, old)
	}
	u.pid = pid
	u.exited = func(d time.Duration) bool { return reapPID(pid, d) }
	t.Cleanup(func() {
		if !gone(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
			reapPID(pid, 5*time.Second)
		}
	})
}

// status is the scoreboard of the supervisor serving now.
func (u *poolUpgrade) status() prefork.Status {
	t := u.t
	t.Helper()
	sts, err := prefork.States(u.dir)
	if err != nil || len(sts) != 1 || sts[0].PID != u.pid || sts[0].Addr != u.v.addr {
		t.Fatalf("state: %+v, %v (want pid %d on %s)", sts, err, u.pid, u.v.addr)
	}
	st, err := sts[0].Status()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// check samples the serving supervisor's scoreboard every 50 ms for d: its
// pool's settings are the ones it was started with, and it never has more
// worker processes (starting and stopping ones included) than its
// maximum. It returns the most workers seen.
func (u *poolUpgrade) check(d time.Duration) int {
	t := u.t
	t.Helper()
	most := 0
	for end := time.Now().Add(d); ; {
		st := u.status()
		p := st.Pool
		if p.Mode != u.want.Mode || p.MaxWorkers != u.want.MaxWorkers || p.MinSpare != u.want.MinSpare ||
			p.MaxSpare != u.want.MaxSpare || p.IdleTimeout != u.want.IdleTimeout {
			t.Fatalf("supervisor %d's pool %+v, want the settings of %+v", u.pid, p, u.want)
		}
		if len(st.Workers) > p.MaxWorkers {
			t.Errorf("supervisor %d: %d workers > MaxWorkers %d: %+v", u.pid, len(st.Workers), p.MaxWorkers, st.Workers)
		}
		most = max(most, len(st.Workers))
		if time.Now().After(end) {
			return most
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitStatus waits up to d for cond on the serving supervisor's scoreboard.
func (u *poolUpgrade) waitStatus(d time.Duration, what string, cond func(prefork.Status) bool) prefork.Status {
	t := u.t
	t.Helper()
	for end := time.Now().Add(d); ; {
		st := u.status()
		if cond(st) {
			return st
		}
		if time.Now().After(end) {
			t.Fatalf("supervisor %d: not %s within %v: %d workers, pool %+v", u.pid, what, d, len(st.Workers), st.Pool)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// underLoad upgrades while ipctest's HTTP load (which never retries) runs
// on the server: no request may fail, and the new supervisor keeps to its
// pool's settings.
func (u *poolUpgrade) underLoad() {
	t := u.t
	t.Helper()
	load := ipctest.StartHTTPLoad(tcpDialer(u.v.addr), 4)
	time.Sleep(300 * time.Millisecond)
	old := u.pid
	t0 := time.Now()
	u.upgrade()
	exited := time.Since(t0)
	most := u.check(500 * time.Millisecond) // the new one alone, under the load
	load.Stop()
	t.Logf("%s pool: upgrade %d -> %d under load: %v; the old supervisor exited %v after SIGUSR2; at most %d workers after it (MaxWorkers %d)",
		u.want.Mode, old, u.pid, load, exited.Round(time.Millisecond), most, u.want.MaxWorkers)
	if load.Failed.Load() != 0 || load.KeepAlive.Load() == 0 || load.NewConn.Load() == 0 {
		t.Errorf("across the upgrade: %v: %s", load, load.Errors())
	}
}

// get sends one request on a new connection and says how long the answer
// took.
func (u *poolUpgrade) get(what string) time.Duration {
	t := u.t
	t.Helper()
	t0 := time.Now()
	c, err := net.DialTimeout("tcp", u.v.addr, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", what, resp.Status)
	}
	return time.Since(t0)
}

// stop stops the serving supervisor and checks that nothing is left: no IPC
// object, no process (the old supervisors' workers included).
func (u *poolUpgrade) stop(before map[string]bool) {
	t := u.t
	t.Helper()
	syscall.Kill(u.pid, syscall.SIGTERM)
	if !u.exited(15 * time.Second) {
		syscall.Kill(u.pid, syscall.SIGKILL)
		t.Errorf("supervisor %d did not stop on SIGTERM", u.pid)
	}
	if leaks := ipctest.Leaked(before); len(leaks) > 0 {
		t.Errorf("left behind: %v", leaks)
	}
	// Orphans (the supervisors' workers) come back to this process
	// (subreaper): wait for them to exit, and reap them.
	var left []int
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		left = left[:0]
		for _, pid := range childrenOf(os.Getpid(), false) {
			var ws syscall.WaitStatus
			if p, _ := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); p != pid && !u.prior[pid] {
				left = append(left, pid)
			}
		}
		if len(left) == 0 {
			break
		}
	}
	if len(left) > 0 {
		t.Errorf("processes left after the last supervisor stopped: %v", left)
	}
}

// SIGUSR2 with a dynamic and an ondemand pool (the upgrade tests of
// upgrade_test.go and modes_upgrade_test.go use a static one): under a load
// that never retries no request fails, and the new supervisor keeps its
// pool's settings (the most workers, the spares, the idle timeout) and
// sizes its pool as they say afterwards. An ondemand pool is also upgraded
// with no worker at all (the new supervisor is ready at once, with none
// either), and the next connection is served.
func TestPoolUpgrade(t *testing.T) {
	t.Run("dynamic", func(t *testing.T) {
		before := ipctest.Snapshot()
		want := prefork.PoolStatus{Mode: "dynamic", MaxWorkers: 4, MinSpare: 1, MaxSpare: 2}
		u := startPoolUpgrade(t, want, "pool=dynamic", "minspare=1", "maxspare=2", "startworkers=2", "maxworkers=4")
		u.waitStatus(10*time.Second, "2 workers serving", func(st prefork.Status) bool { return serving(st) == 2 })
		u.underLoad()
		// Without the load, the spares settle between MinSpare and
		// MaxSpare (one retired a tick) and every worker is idle.
		st := u.waitStatus(15*time.Second, "1 or 2 idle workers and nothing else", func(st prefork.Status) bool {
			return st.Pool.Idle >= 1 && st.Pool.Idle <= 2 && len(st.Workers) == st.Pool.Idle
		})
		t.Logf("after the load: %d workers, all idle; pool %+v", len(st.Workers), st.Pool)
		u.check(1500 * time.Millisecond)
		u.get("after the upgrade")
		u.stop(before)
	})
	t.Run("ondemand", func(t *testing.T) {
		before := ipctest.Snapshot()
		want := prefork.PoolStatus{Mode: "ondemand", MaxWorkers: 3, IdleTimeout: time.Second}
		u := startPoolUpgrade(t, want, "pool=ondemand", "maxworkers=3", "idletimeout=1s")
		if st := u.status(); len(st.Workers) != 0 {
			t.Fatalf("an ondemand pool at start: %d workers", len(st.Workers))
		}
		// With 0 workers: the new supervisor has none either, and the
		// first connection starts one.
		u.upgrade()
		if st := u.status(); len(st.Workers) != 0 {
			t.Errorf("after an upgrade at 0 workers: %d workers", len(st.Workers))
		}
		t.Logf("upgraded at 0 workers; the next connection was answered after %v", u.get("after an upgrade at 0 workers").Round(100*time.Microsecond))
		u.check(300 * time.Millisecond)

		u.underLoad()
		took := time.Now()
		u.waitStatus(10*time.Second, "0 workers after the idle timeout", func(st prefork.Status) bool { return len(st.Workers) == 0 })
		t.Logf("back to 0 workers %v after the load (idle timeout 1s)", time.Since(took).Round(10*time.Millisecond))
		t.Logf("at 0 workers again, a connection was answered after %v", u.get("at 0 workers after the upgrade").Round(100*time.Microsecond))
		u.check(300 * time.Millisecond)
		u.stop(before)
	})
}
