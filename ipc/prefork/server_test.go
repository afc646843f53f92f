package prefork_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc/prefork"
	"github.com/ipctoolkit/ipc/ipc/proc"
	"github.com/ipctoolkit/ipc/sem"
)

// Many clients at once all get their answers, and the connections counted
// in the workers' slots add up to the clients'.
func TestManyClients(t *testing.T) {
	s := startServer(t, "workers=4")
	const clients, each = 16, 25
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				line := fmt.Sprintf("client %d request %d", i, j)
				got, err := ask(s.addr, line)
				if err != nil || got != strings.ToUpper(line) {
					failed.Add(1)
					t.Errorf("%q: got %q, %v", line, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		return
	}
	st := s.waitStatus(5*time.Second, "all connections closed", func(st prefork.Status) bool {
		for _, w := range st.Workers {
			if w.Active != 0 {
				return false
			}
		}
		return true
	})
	var sum, wakeups, futile uint64
	var per []string
	for _, w := range st.Workers {
		sum += w.Connections
		wakeups += w.Wakeups
		futile += w.Futile
		per = append(per, fmt.Sprintf("slot %d: %d", w.Slot, w.Connections))
	}
	t.Logf("connections per worker: %s", strings.Join(per, ", "))
	if sum != clients*each || st.Total.Connections != clients*each {
		t.Errorf("workers counted %d connections (total %d), want %d", sum, st.Total.Connections, clients*each)
	}
	if len(st.Workers) != 4 || st.PID != s.cmd.Pid() || st.Addr != s.addr {
		t.Errorf("status = pid %d addr %s with %d workers", st.PID, st.Addr, len(st.Workers))
	}
	if futile != 0 || wakeups > sum || wakeups == 0 {
		t.Errorf("with the accept lock: %d wakeups (%d futile) for %d connections", wakeups, futile, sum)
	}
	if got := st.Total.BytesIn; got == 0 || got != st.Total.BytesOut {
		t.Errorf("bytes in %d, out %d", got, st.Total.BytesOut)
	}
}

// A worker killed with -9 while it holds the accept lock gives it back
// (SEM_UNDO): the others accept the connection that was waiting, the
// supervisor replaces it within a second, and no zombie is left.
func TestKillLockHolder(t *testing.T) {
	hang := filepath.Join(t.TempDir(), "holder")
	s := startServer(t, "workers=3", "hang="+hang)

	var pid int
	for deadline := time.Now().Add(5 * time.Second); pid == 0; {
		b, _ := os.ReadFile(hang)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		if time.Now().After(deadline) {
			t.Fatal("no worker took the accept lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	lock, err := sem.FromID(s.state.Semaphore)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := lock.Value(0); v != 0 {
		t.Errorf("accept lock = %d while worker %d holds it", v, pid)
	}
	if last, _ := lock.LastPID(0); last != pid {
		t.Errorf("last semop by %d, want the holder %d", last, pid)
	}

	// A client that connects now waits in the backlog: nobody accepts.
	answer := make(chan error, 1)
	go func() {
		got, err := ask(s.addr, "waiting")
		if err == nil && got != "WAITING" {
			err = fmt.Errorf("got %q", got)
		}
		answer <- err
	}()
	select {
	case err := <-answer:
		t.Fatalf("answered while the lock was held: %v", err)
	case <-time.After(300 * time.Millisecond):
	}

	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-answer:
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("the waiting client was answered %v after the kill", time.Since(killed).Round(time.Millisecond))
	case <-time.After(3 * time.Second):
		t.Fatal("the waiting client got no answer after the holder died")
	}
	st := s.waitStatus(time.Second, "three workers again", func(st prefork.Status) bool {
		if len(st.Workers) != 3 {
			return false
		}
		for _, w := range st.Workers {
			if w.PID == pid || w.State == "starting" {
				return false
			}
		}
		return true
	})
	t.Logf("replaced %v after the kill: %v", time.Since(killed).Round(time.Millisecond), st.Workers)
	if !gone(pid) {
		t.Errorf("worker %d still exists", pid)
	}
	if z := zombieChildren(s.cmd.Pid()); len(z) > 0 {
		t.Errorf("zombie children of the supervisor: %v", z)
	}
	e := s.waitEvent("worker exited", time.Second, func(e event) bool { return e.num("pid") == pid })
	if e.str("status") != "killed by signal 9 (killed)" {
		t.Errorf("exit logged as %q", e.str("status"))
	}
	for i := range 10 {
		if got, err := ask(s.addr, "after "+strconv.Itoa(i)); err != nil || got != "AFTER "+strconv.Itoa(i) {
			t.Fatalf("after the kill: %q, %v", got, err)
		}
	}
}

// herd makes conns connections one at a time and counts, per connection,
// how many worker processes woke (any thread made a context switch while
// it was served) and how often the listener woke a worker in user space,
// in vain or not. A count starts and ends when the workers have been quiet
// for a moment: on a loaded machine the server side of one connection (the
// close, the runtime's threads parking) can outlast any fixed pause and
// would be counted against the next. And workers wake without connections
// too (the heartbeat, the Go runtime's own timers), so after each
// connection herd counts the workers that woke in as long a window without
// one, and reports the difference.
func herd(t *testing.T, accept string, workers, conns int) (woken, background, wakeups, futile float64) {
	s := startServer(t, "workers="+strconv.Itoa(workers), "accept="+accept)
	time.Sleep(300 * time.Millisecond) // let the workers settle
	var pids []int
	for _, w := range s.scoreboard().Workers {
		pids = append(pids, w.PID)
	}
	woke := func(before, after []int) (n int) {
		for j := range pids {
			if after[j] != before[j] {
				n++
			}
		}
		return n
	}
	before := s.scoreboard()
	total, idle := 0, 0
	for i := range conns {
		sw0 := quietSwitches(pids)
		start := time.Now()
		if got, err := ask(s.addr, "x"); err != nil || got != "X" {
			t.Fatalf("connection %d: %q, %v", i, got, err)
		}
		sw1 := quietSwitches(pids)
		window := time.Since(start)
		total += woke(sw0, sw1)
		time.Sleep(window)
		idle += woke(sw1, ctxSwitches(pids))
	}
	after := s.scoreboard()
	var w, f uint64
	for i := range after.Workers {
		w += after.Workers[i].Wakeups
		f += after.Workers[i].Futile
	}
	for i := range before.Workers {
		w -= before.Workers[i].Wakeups
		f -= before.Workers[i].Futile
	}
	n := float64(conns)
	return float64(total) / n, float64(idle) / n, float64(w) / n, float64(f) / n
}

// quietSwitches waits until no thread of pids has switched for 20 ms (or
// half a second has passed) and returns ctxSwitches then.
func quietSwitches(pids []int) []int {
	prev := ctxSwitches(pids)
	for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		cur := ctxSwitches(pids)
		if slices.Equal(cur, prev) {
			return cur
		}
		prev = cur
	}
	return prev
}

// ctxSwitches returns, for each of pids, the context switches of all its
// threads.
func ctxSwitches(pids []int) []int {
	out := make([]int, len(pids))
	for i, pid := range pids {
		out[i] = ipctest.ProcessSwitches(pid)
	}
	return out
}

// The accept lock keeps the herd away. With it, a connection wakes two
// workers: the holder, which accepts, and the next in line, which the
// release of the lock wakes; the others sleep on the semaphore. With every
// idle worker polling the listener (what the Go netpoller does to a
// net.FileListener in each worker), every worker wakes for every connection.
func TestHerd(t *testing.T) {
	const workers, conns = 4, 30
	lw, lb, lu, lf := herd(t, "lock", workers, conns)
	sw, sb, su, sf := herd(t, "shared", workers, conns)
	t.Logf("per connection, %d workers: with the lock %.2f workers woke, %.2f in as long a wait without a connection (%.2f poll wakeups, %.2f futile); without it %.2f, %.2f (%.2f poll wakeups, %.2f futile)",
		workers, lw, lb, lu, lf, sw, sb, su, sf)
	if lf != 0 || lu > 1.05 {
		t.Errorf("with the lock: %.2f poll wakeups per connection, %.2f futile; want 1 and 0", lu, lf)
	}
	if lw-lb > 2.5 {
		t.Errorf("with the lock, %.2f workers woke per connection (%.2f without one); want at most 2 (holder and next in line)", lw, lb)
	}
	// Waking without a connection only adds: all of them, less than half
	// a worker short, is the herd.
	if sw < float64(workers)-0.5 {
		t.Errorf("without the lock, %.2f workers woke per connection: the test no longer sees the herd", sw)
	}
}

// SIGHUP replaces every worker by a new generation while clients keep
// connecting: no connection is refused or cut.
func TestReloadUnderLoad(t *testing.T) {
	s := startServer(t, "workers=3")
	old := map[int]bool{}
	for _, w := range s.scoreboard().Workers {
		old[w.PID] = true
	}
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				line := fmt.Sprintf("c%d r%d", i, j)
				if got, err := ask(s.addr, line); err != nil || got != strings.ToUpper(line) {
					failed.Add(1)
					t.Errorf("%q during reload: %q, %v", line, got, err)
					return
				}
				ok.Add(1)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	s.signal(syscall.SIGHUP)
	st := s.waitStatus(10*time.Second, "generation 2 only", func(st prefork.Status) bool {
		if len(st.Workers) != 3 {
			return false
		}
		for _, w := range st.Workers {
			if w.Generation != 2 || w.State == "starting" {
				return false
			}
		}
		return true
	})
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d requests answered, %d failed, across the reload", ok.Load(), failed.Load())
	for _, w := range st.Workers {
		if old[w.PID] {
			t.Errorf("worker %d of generation 1 still serves", w.PID)
		}
	}
	retired := 0
	for _, e := range s.log.events("worker exited") {
		if e.num("generation") == 1 {
			retired++
			if e.str("status") != "exited with status 0" || !strings.Contains(e.str("why"), "generation 2") {
				t.Errorf("old worker ended: %v", e)
			}
		}
	}
	if retired != 3 || st.Generation != 2 {
		t.Errorf("%d workers of generation 1 retired, scoreboard generation %d", retired, st.Generation)
	}
}

// SIGTERM during traffic: connections in flight are answered, the
// supervisor exits 0, and no worker and no IPC object remains.
func TestGracefulStop(t *testing.T) {
	before := ipctest.Snapshot()
	s := startServer(t, "workers=2", "handler=slow")
	var pids []int
	for _, w := range s.scoreboard().Workers {
		pids = append(pids, w.PID)
	}
	const inflight = 6
	results := make(chan error, inflight)
	for i := range inflight {
		go func() {
			line := "slow " + strconv.Itoa(i)
			got, err := ask(s.addr, line)
			if err == nil && got != strings.ToUpper(line) {
				err = fmt.Errorf("got %q", got)
			}
			results <- err
		}()
	}
	s.waitStatus(5*time.Second, "all requests in flight", func(st prefork.Status) bool {
		var active uint64
		for _, w := range st.Workers {
			active += w.Active
		}
		return active == inflight
	})
	s.signal(syscall.SIGTERM)
	for range inflight {
		if err := <-results; err != nil {
			t.Errorf("in-flight request: %v", err)
		}
	}
	if st := s.wait(10 * time.Second); !st.Success() {
		t.Errorf("supervisor %v", st)
	}
	for _, pid := range pids {
		if !gone(pid) {
			t.Errorf("worker %d still exists", pid)
		}
	}
	if leaks := ipctest.Leaked(before); len(leaks) > 0 {
		t.Errorf("left behind: %v", leaks)
	}
	if sts := mustStates(t, s.dir); len(sts) != 0 {
		t.Errorf("state files left: %v", sts)
	}
	if _, err := net.DialTimeout("tcp", s.addr, time.Second); err == nil {
		t.Error("still accepting connections after the stop")
	}
	s.waitEvent("server stopped", time.Second, nil)
}

// kill -9 of the supervisor: its workers exit within two seconds, and the
// janitor removes the semaphore set and the queue once the last is gone (and
// the dead supervisor's state file): nothing is left for the next start.
func TestSupervisorKilled(t *testing.T) {
	before := ipctest.Snapshot()
	s := startServer(t, "workers=2")
	var pids []int
	for _, w := range s.scoreboard().Workers {
		pids = append(pids, w.PID)
	}
	state := s.state
	killed := time.Now()
	s.signal(syscall.SIGKILL)
	for _, pid := range pids {
		for !gone(pid) {
			if time.Since(killed) > 2*time.Second {
				t.Fatalf("worker %d still running 2 s after its supervisor died", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Logf("workers gone %v after the supervisor", time.Since(killed).Round(time.Millisecond))
	s.wait(5 * time.Second)
	e := s.waitEvent("removed the server's IPC objects", 2*time.Second, nil)
	if !strings.Contains(e.str("removed"), "semaphore set "+strconv.Itoa(state.Semaphore)) ||
		!strings.Contains(e.str("removed"), "queue "+strconv.Itoa(state.Queue)) || !strings.Contains(e.str("why"), "died") {
		t.Errorf("janitor logged %v", e)
	}
	if leaks := ipctest.Leaked(before); len(leaks) > 0 {
		t.Errorf("left behind: %v", leaks)
	}
	if _, err := os.Stat(state.Path); err == nil {
		t.Errorf("stale state file %s remains", state.Path)
	}

	next := startServer(t, "workers=1", "dir="+s.dir)
	if e := next.log.events("removed what a dead server left behind"); len(e) != 0 {
		t.Errorf("the next start found leftovers: %v", e)
	}
	// A live server's objects are not stale.
	if cleaned, err := prefork.CleanStale(s.dir); err != nil || len(cleaned) != 0 {
		t.Errorf("CleanStale with a live server: %v, %v", cleaned, err)
	}
	if got, err := ask(next.addr, "still"); err != nil || got != "STILL" {
		t.Errorf("the next server: %q, %v", got, err)
	}
}

// SIGTTIN and SIGTTOU grow and shrink the pool, as the scoreboard shows.
func TestScale(t *testing.T) {
	s := startServer(t, "workers=2")
	count := func(n int) func(prefork.Status) bool {
		return func(st prefork.Status) bool {
			ready := 0
			for _, w := range st.Workers {
				if w.State != "starting" && w.State != "stopping" {
					ready++
				}
			}
			return st.Want == n && ready == n && len(st.Workers) == n
		}
	}
	s.signal(syscall.SIGTTIN)
	s.waitStatus(5*time.Second, "3 workers", count(3))
	// One at a time: signals of one kind sent together merge into one.
	s.signal(syscall.SIGTTOU)
	s.waitStatus(5*time.Second, "2 workers", count(2))
	s.signal(syscall.SIGTTOU)
	s.waitStatus(5*time.Second, "1 worker", count(1))
	s.signal(syscall.SIGTTOU) // not below one
	time.Sleep(200 * time.Millisecond)
	s.waitStatus(time.Second, "still 1 worker", count(1))
	if got, err := ask(s.addr, "one"); err != nil || got != "ONE" {
		t.Errorf("%q, %v", got, err)
	}
}

// The chat handler's lines reach clients served by other workers, through
// the supervisor's queue.
func TestChatAcrossWorkers(t *testing.T) {
	s := startServer(t, "workers=3", "handler=chat")
	type client struct {
		c    net.Conn
		r    *bufio.Reader
		slot string
	}
	var clients []client
	slots := map[string]bool{}
	for i := 0; len(slots) < 2 && i < 30; i++ {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		hello, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, client{c, r, hello})
		slots[hello] = true
	}
	if len(slots) < 2 {
		t.Fatalf("30 clients all landed on one worker")
	}
	from := clients[len(clients)-1]
	if _, err := io.WriteString(from.c, "hello everyone\n"); err != nil {
		t.Fatal(err)
	}
	across := 0
	for _, cl := range clients[:len(clients)-1] {
		got, err := cl.r.ReadString('\n')
		if err != nil || got != "hello everyone\n" {
			t.Errorf("client on %q got %q, %v", strings.TrimSpace(cl.slot), got, err)
		}
		if cl.slot != from.slot {
			across++
		}
	}
	if across == 0 {
		t.Error("no client on another worker")
	}
}

// A handler that panics loses its connection, not its worker; a panic that
// kills the worker gets it replaced, and the server goes on.
func TestHandlerPanics(t *testing.T) {
	s := startServer(t, "workers=2", "handler=panic")
	pids := map[int]bool{}
	for _, w := range s.scoreboard().Workers {
		pids[w.PID] = true
	}
	if got, err := ask(s.addr, "panic"); err == nil {
		t.Errorf("a panicking handler answered %q", got)
	}
	if got, err := ask(s.addr, "fine"); err != nil || got != "FINE" {
		t.Errorf("after a panic: %q, %v", got, err)
	}
	st := s.scoreboard()
	var panics uint64
	for _, w := range st.Workers {
		panics += w.Panics
		if !pids[w.PID] {
			t.Errorf("worker %d is new: a recovered panic must not cost the worker", w.PID)
		}
	}
	if panics != 1 {
		t.Errorf("%d panics counted", panics)
	}

	ask(s.addr, "die")
	e := s.waitEvent("worker exited", 5*time.Second, nil)
	if e.str("status") != "exited with status 2" {
		t.Errorf("the worker that panicked outside its handler ended: %v", e)
	}
	s.waitStatus(5*time.Second, "two workers again", func(st prefork.Status) bool {
		ready := 0
		for _, w := range st.Workers {
			if w.State != "starting" {
				ready++
			}
		}
		return ready == 2
	})
	for i := range 5 {
		if got, err := ask(s.addr, "ok"); err != nil || got != "OK" {
			t.Fatalf("request %d after the crash: %q, %v", i, got, err)
		}
	}
}

// Workers that die at start are restarted with pauses that double, slot by
// slot: each slot's pauses are 100, 200, 400 ms..., and no slot starts again
// before its pause is over. The server still stops cleanly.
func TestCrashLoopBackoff(t *testing.T) {
	s := &server{t: t, log: &logBuf{}, done: make(chan struct{}), dir: t.TempDir()}
	s.cmd = proc.Command(supRole, "addr=127.0.0.1:0", "workers=2", "role="+crashRole, "dir="+s.dir)
	s.cmd.Stderr, s.cmd.Stdout = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.status, _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(s.cleanup)
	when := func(e event) time.Time { ts, _ := time.Parse(time.RFC3339Nano, e.str("time")); return ts }
	// Wait for the pattern rather than a fixed time: on a loaded machine a
	// crashing worker can take over a second just to start and die.
	var starts, pauses []event
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		starts = s.log.events("worker started")
		pauses = s.log.events("worker died at start; pausing before the next")
		if len(starts) >= 8 && len(pauses) >= 6 {
			break
		}
	}
	// Never more starts than the first two plus one per pause, so never the
	// hundreds of a tight loop.
	if len(starts) < 8 || len(pauses) < 6 || len(starts) > 2+len(pauses) {
		t.Fatalf("%d starts and %d pauses", len(starts), len(pauses))
	}
	bySlot := map[int][]string{}
	var lineLag, startLag time.Duration = 0, time.Hour
	for _, p := range pauses {
		slot := p.num("slot")
		d := time.Duration(p.num("pause"))
		i := len(bySlot[slot])
		bySlot[slot] = append(bySlot[slot], d.String())
		if want := 100 * time.Millisecond << i; d != want {
			t.Errorf("slot %d: pause %d is %v, want %v", slot, i+1, d, want)
		}
		if p.str("why") == "" {
			t.Errorf("a pause that does not say why: %v", p)
		}
		// The pause runs from the reap, which comes after the dead
		// worker's start and before this line (on a loaded machine, maybe
		// long before: the line's own time is no start for the pause),
		// and the slot's next start waits it out: it is logged after
		// retry_at, the reap plus the pause.
		retry, _ := time.Parse(time.RFC3339Nano, p.str("retry_at"))
		reaped := retry.Add(-d)
		var prev, next event
		for _, st := range starts {
			if st.num("slot") != slot {
				continue
			}
			if !when(st).After(when(p)) {
				prev = st
			} else if next == nil {
				next = st
			}
		}
		if prev == nil || reaped.Before(when(prev)) || reaped.After(when(p)) {
			t.Errorf("slot %d: pause of %v until %s, from %v: not between the worker's start %v and the pause's line %v",
				slot, d, p.str("retry_at"), reaped, when(prev), when(p))
		}
		if next != nil && when(next).Before(retry) {
			t.Errorf("slot %d started %v before its pause of %v ended", slot, retry.Sub(when(next)), d)
		}
		if next != nil {
			// The old check, from the line's time, failed when the line
			// lagged the reap by more than the start lagged retry_at.
			lineLag, startLag = max(lineLag, when(p).Sub(reaped)), min(startLag, when(next).Sub(retry))
		}
	}
	t.Logf("pause lines logged up to %v after the reap; next starts at least %v after retry_at", lineLag, startLag)
	if len(bySlot) != 2 {
		t.Errorf("pauses in slots %v, want both", bySlot)
	}
	t.Logf("%d starts; pauses by slot: %v", len(starts), bySlot)
	s.signal(syscall.SIGTERM)
	if st := s.wait(10 * time.Second); !st.Success() {
		t.Errorf("supervisor %v", st)
	}
}

// A worker whose heartbeat stops (here: stopped with SIGSTOP) is killed
// and replaced after --timeout.
func TestHeartbeatTimeout(t *testing.T) {
	s := startServer(t, "workers=2", "timeout=2s")
	// Not the lock holder, whom a stop gets killed sooner (TestStoppedLockHolder).
	victim := idleWorker(s, 0)
	if err := syscall.Kill(victim, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(victim, syscall.SIGCONT)
	stopped := time.Now()
	e := s.waitEvent("worker exited", 5*time.Second, func(e event) bool { return e.num("pid") == victim })
	t.Logf("hung worker replaced after %v: %s (%s)", time.Since(stopped).Round(time.Millisecond), e.str("status"), e.str("why"))
	if e.str("status") != "killed by signal 9 (killed)" || !strings.Contains(e.str("why"), "hung") {
		t.Errorf("hung worker ended: %v", e)
	}
	s.waitEvent("worker hung; sending SIGQUIT for a stack dump, then SIGKILL", time.Second, nil)
	s.waitStatus(5*time.Second, "two workers again", func(st prefork.Status) bool { return len(st.Workers) == 2 })
}

// --max-requests retires a worker after that many connections; its
// replacement takes over without a failed request.
func TestMaxRequests(t *testing.T) {
	s := startServer(t, "workers=1", "maxreq=5")
	for i := range 23 {
		line := "req " + strconv.Itoa(i)
		if got, err := ask(s.addr, line); err != nil || got != strings.ToUpper(line) {
			t.Fatalf("%q: %q, %v", line, got, err)
		}
	}
	s.waitEvent("worker exited", 5*time.Second, func(e event) bool { return len(s.log.events("worker exited")) >= 4 })
	for _, e := range s.log.events("worker exited") {
		if e.str("status") != "exited with status 0" || !strings.Contains(e.str("why"), "served its 5 requests") || e.num("connections") != 5 {
			t.Errorf("retired worker: %v", e)
		}
	}
	st := s.waitStatus(5*time.Second, "23 connections", func(st prefork.Status) bool { return st.Total.Connections == 23 })
	if st.Exited.Connections < 20 {
		t.Errorf("exited workers served %d", st.Exited.Connections)
	}
}

// The http handler: GET / answers, GET /status serves the scoreboard.
func TestHTTPStatus(t *testing.T) {
	s := startServer(t, "workers=2", "handler=http")
	client := &http.Client{Timeout: 5 * time.Second}
	for range 5 {
		resp, err := client.Get("http://" + s.addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "hello from ") {
			t.Errorf("GET /: %d %q", resp.StatusCode, b)
		}
	}
	resp, err := client.Get("http://" + s.addr + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st prefork.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.PID != s.cmd.Pid() || len(st.Workers) != 2 || st.Total.Requests < 5 || st.Generation != 1 {
		t.Errorf("/status: %+v", st)
	}
	for _, w := range st.Workers {
		if w.Started.IsZero() || w.PID == 0 {
			t.Errorf("/status worker: %+v", w)
		}
	}
}

// A worker role without a handler cannot start: the supervisor stops with
// the worker's reason instead of respawning it for ever.
func TestWorkerCannotStart(t *testing.T) {
	s := &server{t: t, log: &logBuf{}, done: make(chan struct{}), dir: t.TempDir()}
	s.cmd = proc.Command(supRole, "addr=127.0.0.1:0", "workers=2", "role="+noHandlerRol, "dir="+s.dir)
	s.cmd.Stderr, s.cmd.Stdout = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.status, _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(s.cleanup)
	st := s.wait(10 * time.Second)
	if st.ExitCode() != 1 || !strings.Contains(s.log.String(), "no Handler and no HTTPHandler") {
		t.Errorf("supervisor %v; log:\n%s", st, s.log.String())
	}
}

// Configuration errors are reported before anything is made.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		s    prefork.Server
		want string
	}{
		{prefork.Server{}, "Role is empty"},
		{prefork.Server{Role: "x", Workers: -1}, "Workers must be at least 1"},
		{prefork.Server{Role: "x", Workers: 4, MaxWorkers: 2}, "MaxWorkers must be at least Workers"},
		{prefork.Server{Role: "x", Timeout: -1}, "timeouts must not be negative"},
		{prefork.Server{Role: "x", Timeout: time.Nanosecond}, "Timeout must be at least 2s"},
		{prefork.Server{Role: "x", Workers: 100000}, "Workers is at most 4096"},
		{prefork.Server{Role: "x", MaxRequests: -1}, "must not be negative"},
		{prefork.Server{Role: "x", Accept: 7}, "unknown AcceptMode"},
	} {
		err := tc.s.Run(t.Context())
		var ie *prefork.Error
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "prefork: configure server: ") {
			t.Errorf("%+v: %v, want %q", tc.s, err, tc.want)
		}
	}
	s := prefork.Server{Role: "not-registered", Addr: "127.0.0.1:0", Workers: 1, StateDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)}
	err := s.Run(t.Context())
	if !errors.Is(err, proc.ErrUnknownRole) {
		t.Errorf("unregistered role: %v", err)
	}
	s = prefork.Server{Role: "x", Addr: "256.0.0.1:0", StateDir: t.TempDir()}
	if err := s.Run(t.Context()); err == nil || !strings.HasPrefix(err.Error(), "prefork: start server: ") {
		t.Errorf("bad address: %v", err)
	}
}

// An idle server's workers sleep: with no connection, a worker wakes for
// its heartbeat (once a second) and little else, in every design that has
// workers (fork mode's children live as long as their connection). It
// wakes more for a few seconds after it starts (the runtime returns the
// start's memory), so the test waits, up to a bound, for a second in which
// every worker is quiet. Ten wake-ups a second per worker, from a 100 ms
// ticker, is what it found once: some 100 context switches a second.
func TestIdleWorkersSleep(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"prefork", []string{"workers=2"}},
		{"prefork-http", []string{"workers=2", "handler=http"}},
		{"shared", []string{"workers=2", "accept=shared"}},
		{"hold", []string{"workers=2", "accept=hold"}},
		{"reuseport", []string{"mode=reuseport", "role=" + modeRole, "workers=2", "handler=upper"}},
		{"pass", []string{"mode=pass", "role=" + modeRole, "workers=2", "handler=upper"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, tc.args...)
			var pids []int
			for _, w := range s.scoreboard().Workers {
				pids = append(pids, w.PID)
			}
			if len(pids) != 2 {
				t.Fatalf("%d workers, want 2", len(pids))
			}
			const most = 15 // per second; the heartbeat makes 4 or 5
			var rates []int
			for end := time.Now().Add(15 * time.Second); time.Now().Before(end); {
				before := ctxSwitches(pids)
				time.Sleep(time.Second)
				after := ctxSwitches(pids)
				rates = rates[:0]
				for i := range pids {
					rates = append(rates, after[i]-before[i])
				}
				if slices.Max(rates) <= most {
					t.Logf("workers %v: %v context switches in a second, idle", pids, rates)
					return
				}
			}
			t.Errorf("idle workers %v made %v context switches a second, in every second of 15; want at most %d", pids, rates, most)
		})
	}
}
