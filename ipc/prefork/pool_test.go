package prefork_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc/prefork"
	"github.com/ipctoolkit/ipc/ipc/proc"
)

// startLogged runs s in this test process (its supervisor is the test),
// logging JSON lines into the returned server's log, and waits until it is
// ready. The worker role is the tests' own, handler args[0] ("upper" if s
// has no WorkerArgs).
func startLogged(t *testing.T, s *prefork.Server) (*server, chan error) {
	t.Helper()
	log := &logBuf{}
	ready := make(chan net.Addr, 1)
	s.Role, s.Addr, s.StateDir = workerRole, "127.0.0.1:0", t.TempDir()
	if s.WorkerArgs == nil {
		s.WorkerArgs = []string{"upper", ""}
	}
	s.Logger = slog.New(slog.NewJSONHandler(log, nil))
	s.Ready = func(a net.Addr) { ready <- a }
	v, done := startInProcess(t, s, ready)
	v.log = log
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("supervisor log:\n%s", log.String())
		}
	})
	return v, done
}

// shutdownClean stops s gracefully, checks that Run returned
// ErrServerClosed and that nothing is left of what was there before.
func shutdownClean(t *testing.T, s *prefork.Server, done chan error, before map[string]bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, prefork.ErrServerClosed) {
		t.Errorf("Run: %v", err)
	}
	if leaks := ipctest.Leaked(before); len(leaks) > 0 {
		t.Errorf("left behind: %v", leaks)
	}
}

// sample is one look at the scoreboard: the workers in a slot (starting,
// serving or stopping), the serving ones, and of those the idle and busy.
type sample struct {
	at                         time.Duration
	slots, serving, idle, busy int
	conns                      int
}

// tracer samples the scoreboard every 100 ms while the load changes.
type tracer struct {
	mu      sync.Mutex
	start   time.Time
	samples []sample
	conns   int
	stop    chan struct{}
	done    chan struct{}
}

func trace(t *testing.T, v *server) *tracer {
	tr := &tracer{start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			if st, err := v.state.Status(); err == nil {
				s := sample{at: time.Since(tr.start), slots: len(st.Workers), idle: st.Pool.Idle, busy: st.Pool.Busy}
				for _, w := range st.Workers {
					if w.State != "starting" && w.State != "stopping" {
						s.serving++
					}
				}
				tr.mu.Lock()
				s.conns = tr.conns
				tr.samples = append(tr.samples, s)
				tr.mu.Unlock()
			}
			select {
			case <-tr.stop:
				return
			case <-tk.C:
			}
		}
	}()
	t.Cleanup(tr.finish)
	return tr
}

func (tr *tracer) setConns(n int) {
	tr.mu.Lock()
	tr.conns = n
	tr.mu.Unlock()
}

func (tr *tracer) finish() {
	select {
	case <-tr.stop:
	default:
		close(tr.stop)
	}
	<-tr.done
}

// since returns the samples taken after d.
func (tr *tracer) since(d time.Duration) []sample {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []sample
	for _, s := range tr.samples {
		if s.at >= d {
			out = append(out, s)
		}
	}
	return out
}

func (tr *tracer) now() time.Duration { return time.Since(tr.start) }

// String is the trace as the closing note shows it: one line each time
// something changes.
func (tr *tracer) String() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%8s %6s %8s %8s %5s %5s\n", "t", "conns", "workers", "serving", "idle", "busy")
	var last sample
	for i, s := range tr.samples {
		key := s
		key.at = 0
		if i > 0 && key == last {
			continue
		}
		last = key
		fmt.Fprintf(&b, "%8s %6d %8d %8d %5d %5d\n", s.at.Round(100*time.Millisecond), s.conns, s.slots, s.serving, s.idle, s.busy)
	}
	return b.String()
}

// holder keeps client connections open, each one served (it has had an
// answer) before the next is opened.
type holder struct {
	t     *testing.T
	addr  string
	conns []net.Conn
}

func (h *holder) open(n int, tr *tracer) {
	h.t.Helper()
	for range n {
		c, err := net.DialTimeout("tcp", h.addr, 5*time.Second)
		if err != nil {
			h.t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "hold %d\n", len(h.conns))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "HOLD") {
			h.t.Fatalf("connection %d: %q, %v", len(h.conns), line, err)
		}
		c.SetDeadline(time.Time{})
		h.conns = append(h.conns, c)
		tr.setConns(len(h.conns))
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *holder) closeAll(tr *tracer) {
	for _, c := range h.conns {
		c.Close()
	}
	h.conns = nil
	tr.setConns(0)
}

// until waits up to d for cond on the scoreboard, and says how long it took.
func until(t *testing.T, v *server, d time.Duration, what string, cond func(prefork.Status) bool) time.Duration {
	t.Helper()
	t0 := time.Now()
	v.waitStatus(d, what, cond)
	return time.Since(t0)
}

func serving(st prefork.Status) int {
	n := 0
	for _, w := range st.Workers {
		if w.State != "starting" && w.State != "stopping" {
			n++
		}
	}
	return n
}

// A dynamic pool under a load that rises and falls: it grows 1, 2, 4 ...
// a tick while short of idle workers, keeps at least MinSpare idle (or is
// at its maximum), never has more than MaxWorkers, and retires one idle
// worker a tick down to MaxSpare once the load is gone. Reload, Scale and
// Shutdown work on it.
func TestPoolDynamic(t *testing.T) {
	before := ipctest.Snapshot()
	const minSpare, maxSpare, maxWorkers = 2, 4, 8
	s := &prefork.Server{Pool: prefork.PoolDynamic, MinSpare: minSpare, MaxSpare: maxSpare, StartWorkers: 1, MaxWorkers: maxWorkers}
	v, done := startLogged(t, s)
	tr := trace(t, v)
	idleOK := func(st prefork.Status) bool {
		return st.Pool.Idle >= minSpare || len(st.Workers) == maxWorkers
	}

	// At rest, 1 worker at start: one tick later it starts 1 more.
	took := until(t, v, 4*time.Second, "2 idle workers", func(st prefork.Status) bool { return st.Pool.Idle >= minSpare })
	t.Logf("from 1 to %d idle workers in %v", minSpare, took.Round(10*time.Millisecond))
	st := v.scoreboard()
	if st.Pool.Mode != "dynamic" || st.Pool.MinSpare != minSpare || st.Pool.MaxSpare != maxSpare || st.Pool.MaxWorkers != maxWorkers {
		t.Errorf("pool status %+v", st.Pool)
	}

	h := &holder{t: t, addr: v.addr}
	// Rising: 6 clients, then 12 (more than the maximum).
	for _, n := range []int{6, 6} {
		h.open(n, tr)
		took := until(t, v, 8*time.Second, "MinSpare idle or at the maximum", func(st prefork.Status) bool {
			return idleOK(st) && st.Pool.Busy > 0
		})
		st := v.scoreboard()
		t.Logf("%d connections: %d workers (%d idle, %d busy) %v after the last one", len(h.conns), len(st.Workers), st.Pool.Idle, st.Pool.Busy, took.Round(10*time.Millisecond))
	}
	grows := v.log.events("pool grows")
	var rates []int
	for _, e := range grows {
		rates = append(rates, e.num("starting"))
	}
	t.Logf("workers started per tick: %v", rates)
	for _, r := range rates {
		if r < 1 || r > 32 {
			t.Errorf("started %d workers in one tick", r)
		}
	}

	// Falling: every client leaves; the pool retires one idle worker a
	// tick until MaxSpare are idle.
	fall := tr.now()
	h.closeAll(tr)
	shrinks0 := len(v.log.events("pool shrinks"))
	took = until(t, v, 12*time.Second, "MaxSpare workers", func(st prefork.Status) bool {
		return len(st.Workers) == maxSpare && st.Pool.Idle == maxSpare
	})
	t.Logf("down to %d workers %v after the last client left", maxSpare, took.Round(10*time.Millisecond))
	shrinks := v.log.events("pool shrinks")[shrinks0:]
	var prev time.Time
	for _, e := range shrinks {
		at, _ := time.Parse(time.RFC3339Nano, e.str("time"))
		if !prev.IsZero() && at.Sub(prev) < 800*time.Millisecond {
			t.Errorf("two idle workers retired %v apart: at most one a tick", at.Sub(prev))
		}
		prev = at
	}
	time.Sleep(1500 * time.Millisecond) // a tick more: stable
	if st := v.scoreboard(); len(st.Workers) != maxSpare {
		t.Errorf("after the fall: %d workers, want %d", len(st.Workers), maxSpare)
	}
	for _, smp := range tr.since(0) {
		if smp.slots > maxWorkers {
			t.Errorf("%v: %d workers > MaxWorkers %d", smp.at, smp.slots, maxWorkers)
		}
	}
	// Once the clients have gone (and their closes reached the workers),
	// at least MinSpare are idle at every sample.
	for _, smp := range tr.since(fall + 300*time.Millisecond) {
		if smp.idle < minSpare {
			t.Errorf("%v: %d idle < MinSpare %d", smp.at, smp.idle, minSpare)
		}
	}
	tr.finish()
	t.Logf("dynamic pool (MinSpare %d, MaxSpare %d, StartWorkers 1, MaxWorkers %d), sampled every 100 ms:\n%s", minSpare, maxSpare, maxWorkers, tr)

	// Reload: a new generation of the same size.
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	v.waitStatus(10*time.Second, "generation 2", func(st prefork.Status) bool {
		if len(st.Workers) != maxSpare {
			return false
		}
		for _, w := range st.Workers {
			if w.Generation != 2 {
				return false
			}
		}
		return true
	})
	if st := v.scoreboard(); st.Pool.SpawnsReload != maxSpare || st.Pool.RetiresIdle == 0 || st.Pool.SpawnsLoad == 0 {
		t.Errorf("counters after the reload: %+v", st.Pool)
	}
	// Scale sets the maximum.
	if err := s.Scale(3); err != nil {
		t.Fatal(err)
	}
	v.waitStatus(5*time.Second, "3 workers at most", func(st prefork.Status) bool {
		return st.Pool.MaxWorkers == 3 && len(st.Workers) == 3
	})
	if err := s.Scale(maxWorkers + 1); err == nil {
		t.Errorf("Scale(%d) above MaxWorkers succeeded", maxWorkers+1)
	}
	if err := s.Scale(maxWorkers); err != nil {
		t.Fatal(err)
	}
	if got, err := ask(v.addr, "still"); err != nil || got != "STILL" {
		t.Errorf("%q, %v", got, err)
	}
	shutdownClean(t, s, done, before)
}

// An ondemand pool has no worker at start; a connection arriving then is
// served by the worker it makes start; the pool follows the clients up to
// its maximum and, once they leave, returns to 0 workers after the idle
// timeout.
func TestPoolOndemand(t *testing.T) {
	before := ipctest.Snapshot()
	const maxWorkers, idle = 4, time.Second
	s := &prefork.Server{Pool: prefork.PoolOndemand, MaxWorkers: maxWorkers, WorkerIdleTimeout: idle}
	v, done := startLogged(t, s)
	tr := trace(t, v)
	st := v.scoreboard()
	if len(st.Workers) != 0 || st.Want != 0 || st.Pool.Mode != "ondemand" || st.Pool.IdleTimeout != idle || st.Pool.MaxWorkers != maxWorkers {
		t.Fatalf("at start: %d workers, want %d, pool %+v", len(st.Workers), st.Want, st.Pool)
	}

	first := func(what string) time.Duration {
		t.Helper()
		t0 := time.Now()
		got, err := ask(v.addr, "first")
		waited := time.Since(t0)
		if err != nil || got != "FIRST" {
			t.Fatalf("%s: %q, %v", what, got, err)
		}
		t.Logf("%s: a connection arriving at 0 workers was answered after %v", what, waited.Round(100*time.Microsecond))
		return waited
	}
	if w := first("at start"); w > 3*time.Second {
		t.Errorf("waited %v", w)
	}

	h := &holder{t: t, addr: v.addr}
	for range 6 {
		h.open(1, tr)
		time.Sleep(250 * time.Millisecond)
	}
	st = v.scoreboard()
	t.Logf("%d connections: %d workers (%d busy), max workers reached %d times", len(h.conns), len(st.Workers), st.Pool.Busy, st.Pool.MaxWorkersReached)
	if len(st.Workers) < 1 || st.Pool.SpawnsLoad < 1 {
		t.Errorf("with %d clients: %d workers, pool %+v", len(h.conns), len(st.Workers), st.Pool)
	}

	h.closeAll(tr)
	time.Sleep(idle / 2)
	if st := v.scoreboard(); len(st.Workers) == 0 {
		t.Errorf("0 workers %v after the clients left, before the idle timeout %v", idle/2, idle)
	}
	took := until(t, v, idle+5*time.Second, "0 workers", func(st prefork.Status) bool { return len(st.Workers) == 0 })
	t.Logf("0 workers %v after the clients left (idle timeout %v)", (took + idle/2).Round(10*time.Millisecond), idle)
	for _, smp := range tr.since(0) {
		if smp.slots > maxWorkers {
			t.Errorf("%v: %d workers > MaxWorkers %d", smp.at, smp.slots, maxWorkers)
		}
	}
	time.Sleep(300 * time.Millisecond) // for the trace to show the pool at 0
	if w := first("again"); w > 3*time.Second {
		t.Errorf("waited %v", w)
	}
	tr.finish()
	t.Logf("ondemand pool (MaxWorkers %d, WorkerIdleTimeout %v), sampled every 100 ms:\n%s", maxWorkers, idle, tr)
	if st := v.scoreboard(); st.Pool.RetiresIdle < 1 {
		t.Errorf("pool %+v", st.Pool)
	}

	// A reload and a graceful stop with the pool at 1 worker.
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if got, err := ask(v.addr, "reloaded"); err != nil || got != "RELOADED" {
		t.Errorf("after Reload: %q, %v", got, err)
	}
	shutdownClean(t, s, done, before)
	if err := refused(v.addr); err != nil {
		t.Errorf("after Shutdown: %v", err)
	}
}

// At the maximum, with the load asking for more, the supervisor counts it
// and logs "max workers reached", and the connection is still served by
// the busy worker.
func TestPoolMaxWorkersReached(t *testing.T) {
	for _, s := range []*prefork.Server{
		{Pool: prefork.PoolOndemand, MaxWorkers: 1},
		{Pool: prefork.PoolDynamic, MinSpare: 1, MaxSpare: 1, StartWorkers: 1, MaxWorkers: 1},
	} {
		t.Run(s.Pool.String(), func(t *testing.T) {
			v, _ := startLogged(t, s)
			tr := trace(t, v)
			h := &holder{t: t, addr: v.addr}
			h.open(1, tr)
			if s.Pool == prefork.PoolOndemand {
				time.Sleep(300 * time.Millisecond) // the tick re-arms the watch: no worker is idle
				h.open(1, tr)                      // served by the busy worker
			}
			st := v.waitStatus(5*time.Second, "max workers reached", func(st prefork.Status) bool { return st.Pool.MaxWorkersReached > 0 })
			e := v.waitEvent("max workers reached", 2*time.Second, nil)
			t.Logf("log: %v", e)
			if len(st.Workers) != 1 {
				t.Errorf("%d workers at MaxWorkers 1", len(st.Workers))
			}
			if e.num("max_workers") != 1 {
				t.Errorf("log line %v", e)
			}
			h.closeAll(tr)
			// Scale sets the maximum: not above MaxWorkers, not below 1.
			for _, n := range []int{0, 2} {
				if err := s.Scale(n); err == nil {
					t.Errorf("Scale(%d) succeeded", n)
				}
			}
		})
	}
}

// The pool's fields are checked by Run before anything is created.
func TestPoolConfig(t *testing.T) {
	before := ipctest.Snapshot()
	for _, c := range []struct {
		s    prefork.Server
		want string
	}{
		{prefork.Server{MinSpare: 2}, "for a dynamic Pool"},
		{prefork.Server{WorkerIdleTimeout: time.Second}, "for an ondemand Pool"},
		{prefork.Server{Pool: prefork.PoolDynamic, MinSpare: 5, MaxSpare: 3}, "MinSpare must not be above MaxSpare"},
		{prefork.Server{Pool: prefork.PoolDynamic, StartWorkers: 5, MaxWorkers: 4, MaxSpare: 3}, "StartWorkers must not be above MaxWorkers"},
		{prefork.Server{Pool: prefork.PoolDynamic, MaxWorkers: prefork.MaxSlots + 1}, "MaxWorkers is at most"},
		{prefork.Server{Pool: prefork.PoolDynamic, Workers: 2}, "Workers is for a static Pool"},
		{prefork.Server{Pool: prefork.PoolOndemand, WorkerIdleTimeout: -time.Second}, "must not be negative"},
		{prefork.Server{Pool: prefork.PoolOndemand, MaxSpare: 2}, "for a dynamic Pool"},
		{prefork.Server{Pool: 7}, "unknown Pool"},
		{prefork.Server{CrashLimit: -1}, "CrashLimit must not be negative"},
		{prefork.Server{CrashLimit: 2, CrashWindow: -time.Second}, "CrashWindow must not be negative"},
		{prefork.Server{CrashWindow: time.Second}, "need a CrashLimit"},
		{prefork.Server{CrashLimit: 2, OnCrashLimit: 9}, "unknown OnCrashLimit"},
	} {
		s := c.s
		s.Role, s.Addr, s.StateDir = workerRole, "127.0.0.1:0", t.TempDir()
		s.Logger = slog.New(slog.DiscardHandler)
		err := s.Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.s, err, c.want)
		}
	}
	if leaks := ipctest.Leaked(before); len(leaks) > 0 {
		t.Errorf("left behind: %v", leaks)
	}
}

// An ondemand pool is ready with no worker; if its first worker cannot
// start (no handler: a configuration error) the server stops and Run says
// why, as it does for the first pool of a static one, instead of retrying
// for ever while connections wait.
func TestPoolOndemandCannotStart(t *testing.T) {
	before := ipctest.Snapshot()
	ready := make(chan net.Addr, 1)
	s := &prefork.Server{Pool: prefork.PoolOndemand, Role: noHandlerRol, Addr: "127.0.0.1:0", StateDir: t.TempDir(),
		Logger: slog.New(slog.DiscardHandler), Ready: func(a net.Addr) { ready <- a }}
	v, done := startInProcess(t, s, ready)
	c, err := net.DialTimeout("tcp", v.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "no Handler") {
			t.Errorf("Run: %v", err)
		}
		t.Logf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("still running")
	}
	if leaks := ipctest.Leaked(before); len(leaks) > 0 {
		t.Errorf("left behind: %v", leaks)
	}
}

const slowStartRole = "test-slow-start-worker"

func init() {
	// A worker whose start takes a second (its OnWorkerStart opens a slow
	// database, say).
	proc.Register(slowStartRole, func([]string) int {
		s := &prefork.Server{Role: slowStartRole, Handler: upper(0), Logger: slog.New(slog.DiscardHandler),
			OnWorkerStart: func(context.Context, int) error { time.Sleep(time.Second); return nil }}
		s.Run(context.Background())
		return 1
	})
}

// A connection that waits for an ondemand worker still starting makes the
// supervisor start one worker, not one per look, and does not make it spin
// on the readable listener: its CPU time over the wait stays small. The
// connection is not taken from the queue: the worker serves it.
func TestPoolOndemandNoSpin(t *testing.T) {
	ready := make(chan net.Addr, 1)
	log := &logBuf{}
	s := &prefork.Server{Pool: prefork.PoolOndemand, Role: slowStartRole, Addr: "127.0.0.1:0", StateDir: t.TempDir(),
		Logger: slog.New(slog.NewJSONHandler(log, nil)), Ready: func(a net.Addr) { ready <- a }}
	v, _ := startInProcess(t, s, ready)
	v.log = log
	var r0, r1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	t0 := time.Now()
	got, err := ask(v.addr, "patient")
	waited := time.Since(t0)
	syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	if err != nil || got != "PATIENT" {
		t.Fatalf("%q, %v", got, err)
	}
	cpu := time.Duration(r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano())
	t.Logf("answered after %v (the worker takes 1 s to start); the supervisor's process used %v of CPU meanwhile", waited.Round(time.Millisecond), cpu.Round(time.Millisecond))
	if waited < time.Second {
		t.Errorf("answered after %v, before the worker could have started", waited)
	}
	if cpu > 200*time.Millisecond {
		t.Errorf("the supervisor used %v of CPU while the connection waited %v: it spins", cpu, waited)
	}
	if n := len(v.log.events("pool grows")); n != 1 {
		t.Errorf("%d \"pool grows\" for one waiting connection", n)
	}
	if st := v.scoreboard(); len(st.Workers) != 1 {
		t.Errorf("%d workers", len(st.Workers))
	}
}

// Short of idle workers tick after tick, a dynamic pool starts 1, 2, 4 ...
// workers a tick (never more than the shortage), as Apache and PHP-FPM do,
// and warns that it seems busy from 8 on.
func TestPoolDynamicSpawnRate(t *testing.T) {
	s := &prefork.Server{Pool: prefork.PoolDynamic, MinSpare: 15, MaxSpare: 20, StartWorkers: 1, MaxWorkers: 24}
	v, _ := startLogged(t, s)
	took := until(t, v, 15*time.Second, "15 idle workers", func(st prefork.Status) bool { return st.Pool.Idle >= 15 })
	var rates []int
	var at []time.Time
	for _, e := range v.log.events("pool grows") {
		rates = append(rates, e.num("starting"))
		when, _ := time.Parse(time.RFC3339Nano, e.str("time"))
		at = append(at, when)
	}
	t.Logf("15 idle workers after %v; started per tick: %v", took.Round(10*time.Millisecond), rates)
	if fmt.Sprint(rates) != "[1 2 4 7]" {
		t.Errorf("started per tick %v, want [1 2 4 7]", rates)
	}
	for i := 1; i < len(at); i++ {
		if d := at[i].Sub(at[i-1]); d < 800*time.Millisecond {
			t.Errorf("two growths %v apart: one a tick", d)
		}
	}
	// The rate is 8 at the fourth tick only (which starts 7: the shortage).
	if busy := v.log.events("the pool seems busy: raise --start-workers or --min-spare and --max-spare?"); len(busy) != 1 || busy[0].num("starting") != 7 {
		t.Errorf("busy warnings %v, want one, at the tick that starts 7", busy)
	}
	if st := v.scoreboard(); st.Pool.SpawnsLoad != 14 || len(st.Workers) != 15 {
		t.Errorf("%d workers, pool %+v", len(st.Workers), st.Pool)
	}
}
