package prefork_test

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc/prefork"
)

// Workers whose handler makes them exit non-zero at once ("die": a panic
// in a goroutine of its own, exit status 2) trip the breaker at the limit:
// with CrashExit the server stops and Run returns a *CrashLimitError,
// leaving nothing behind.
func TestCrashBreakerExit(t *testing.T) {
	before := ipctest.Snapshot()
	s := &prefork.Server{Workers: 2, CrashLimit: 3, CrashWindow: 20 * time.Second, OnCrashLimit: prefork.CrashExit,
		WorkerArgs: []string{"panic", ""}}
	v, done := startLogged(t, s)
	for i := range 3 {
		v.waitStatus(5*time.Second, "2 workers serving", func(st prefork.Status) bool { return serving(st) == 2 })
		ask(v.addr, "die") // the worker dies under it
		v.waitEvent("worker exited", 5*time.Second, func(e event) bool {
			return len(v.log.events("worker exited")) > i
		})
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("still running after 3 crashes with CrashLimit 3")
	}
	var ce *prefork.CrashLimitError
	if !errors.As(err, &ce) || ce.Crashes != 3 || ce.Window != 20*time.Second || len(ce.Last) != 3 {
		t.Fatalf("Run: %v (%#v)", err, ce)
	}
	t.Logf("Run: %v", err)
	if !strings.Contains(ce.Last[2], "exited with status 2") {
		t.Errorf("last crash %q", ce.Last[2])
	}
	e := v.waitEvent("CRASH LIMIT REACHED: workers keep crashing", time.Second, nil)
	if e.str("level") != "ERROR" || e.str("action") != "exit" || e.num("crashes") != 3 {
		t.Errorf("log line %v", e)
	}
	for _, line := range strings.Split(v.log.String(), "\n") {
		if strings.Contains(line, "CRASH LIMIT") || strings.Contains(line, "crash limit") {
			t.Logf("log: %s", line)
		}
	}
	if leaks := ipctest.Leaked(before); len(leaks) > 0 {
		t.Errorf("left behind: %v", leaks)
	}
	if err := refused(v.addr); err != nil {
		t.Error(err)
	}
}

// In fork mode the children that crash count as workers do: three clients
// whose child dies under them trip the breaker, and with CrashExit the
// server stops with a *CrashLimitError; the error and the log line say
// children.
func TestCrashBreakerFork(t *testing.T) {
	before := ipctest.Snapshot()
	s := &prefork.Server{Mode: prefork.ModeFork, MaxChildren: 2, CrashLimit: 3, CrashWindow: 20 * time.Second,
		OnCrashLimit: prefork.CrashExit, WorkerArgs: []string{"panic", ""}}
	v, done := startLogged(t, s)
	crashChildren(t, v, 3)
	var err error
	select {
	case err = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("still running after 3 children crashed with CrashLimit 3")
	}
	var ce *prefork.CrashLimitError
	if !errors.As(err, &ce) || ce.Crashes != 3 || len(ce.Last) != 3 {
		t.Fatalf("Run: %v (%#v)", err, ce)
	}
	t.Logf("Run: %v", err)
	// In fork mode's words: children, not workers.
	if msg := err.Error(); !strings.HasPrefix(msg, "prefork: 3 children crashed within 20s (the crash limit); the last: slot ") ||
		!strings.HasSuffix(msg, ": exited with status 2") {
		t.Errorf("Run: %q", msg)
	}
	e := v.waitEvent("CRASH LIMIT REACHED: children keep crashing", time.Second, nil)
	if e.str("level") != "ERROR" || e.str("action") != "exit" || e.num("crashes") != 3 {
		t.Errorf("log line %v", e)
	}
	if strings.Contains(v.log.String(), "workers keep crashing") {
		t.Error("the log says workers keep crashing in fork mode")
	}
	if leaks := ipctest.Leaked(before); len(leaks) > 0 {
		t.Errorf("left behind: %v", leaks)
	}
}

// Workers killed from outside (SIGKILL the supervisor did not send) are
// crashes: with CrashRestart the breaker replaces every worker by a new
// generation and the server serves on.
func TestCrashBreakerRestart(t *testing.T) {
	s := &prefork.Server{Workers: 3, CrashLimit: 2, CrashWindow: 20 * time.Second}
	v, done := startLogged(t, s)
	st := v.scoreboard()
	for _, w := range st.Workers[:2] {
		if err := syscall.Kill(w.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e := v.waitEvent("CRASH LIMIT REACHED: workers keep crashing", 5*time.Second, nil)
	if e.str("action") != "restart" || e.num("crashes") != 2 || !strings.Contains(e.str("crashed"), "killed by signal 9") {
		t.Errorf("log line %v", e)
	}
	t.Logf("log: %v", e)
	v.waitEvent("restarting every worker after the crash limit", time.Second, func(e event) bool { return e.num("generation") == 2 })
	st = v.waitStatus(10*time.Second, "generation 2 only", onlyGeneration(2, 3))
	if st.Pool.CrashTrips != 1 || st.Pool.Crashes != 2 || st.Pool.SpawnsReplace < 1 {
		t.Errorf("counters %+v", st.Pool)
	}
	if got, err := ask(v.addr, "on"); err != nil || got != "ON" {
		t.Errorf("%q, %v", got, err)
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned %v", err)
	default:
	}
}

// Graceful retirements (MaxRequests, Scale down, Reload) and the kills the
// supervisor orders (a worker outliving its graceful timeout) are not
// crashes: with CrashLimit 1 the breaker never trips.
func TestCrashBreakerIgnoresOrderedEnds(t *testing.T) {
	before := ipctest.Snapshot()
	s := &prefork.Server{Workers: 1, MaxWorkers: 3, MaxRequests: 1, GracefulTimeout: 200 * time.Millisecond,
		CrashLimit: 1, CrashWindow: time.Minute, OnCrashLimit: prefork.CrashExit}
	v, done := startLogged(t, s)
	for range 3 {
		if got, err := ask(v.addr, "one"); err != nil || got != "ONE" {
			t.Fatalf("%q, %v", got, err)
		}
		v.waitStatus(5*time.Second, "a fresh worker", func(st prefork.Status) bool {
			return serving(st) == 1 && st.Workers[0].Requests == 0
		})
	}
	// The supervisor kills a worker that is stopped while it holds the
	// accept lock (the only worker, waiting for a connection, holds it).
	pid := v.scoreboard().Workers[0].PID
	v.waitStatus(5*time.Second, "the lock held", func(st prefork.Status) bool { return st.LockHolder == pid })
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	e := v.waitEvent("killing worker", 5*time.Second, nil)
	t.Logf("log: %v", e)
	v.waitEvent("worker exited", 5*time.Second, func(e event) bool { return e.num("pid") == pid })
	if err := s.Scale(2); err != nil {
		t.Fatal(err)
	}
	v.waitStatus(5*time.Second, "2 workers", func(st prefork.Status) bool { return serving(st) == 2 })
	if err := s.Scale(1); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	v.waitStatus(10*time.Second, "generation 2", onlyGeneration(2, 1))
	st := v.scoreboard()
	if st.Pool.Crashes != 0 || st.Pool.CrashTrips != 0 {
		t.Errorf("counted as crashes: %+v", st.Pool)
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned %v", err)
	default:
	}
	shutdownClean(t, s, done, before)
}
