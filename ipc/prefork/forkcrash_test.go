package prefork_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc/prefork"
)

// The crash breaker's restart in fork mode: children crashing past the
// limit trip it, and the generation moves on. A child already serving a
// client at the trip is left alone and serves that client to the end (it
// exits 0, counted as no crash); the next client gets a fresh child of the
// new generation; the server serves on. Told through NOTIFY_SOCKET, the
// restart is a reload that ends (READY=1 again) once the old child has
// finished its connection, not never (fork mode has no pool to wait for).
func TestCrashBreakerForkRestart(t *testing.T) {
	before := ipctest.Snapshot()
	sock, msgs := notifySocket(t)
	t.Setenv("NOTIFY_SOCKET", sock)
	s := &prefork.Server{Mode: prefork.ModeFork, MaxChildren: 4, CrashLimit: 2, CrashWindow: 20 * time.Second,
		WorkerArgs: []string{"panic", ""}}
	v, done := startLogged(t, s)
	// told waits for a notification of the supervisor's (the test) that
	// has state in it, and fails after d.
	self := os.Getpid()
	told := func(state string, d time.Duration) string {
		t.Helper()
		timeout := time.After(d)
		for {
			select {
			case m := <-msgs:
				if m.pid == self && strings.Contains(m.text, state) {
					return m.text
				}
			case <-timeout:
				t.Fatalf("no %s from the supervisor after %v", state, d)
			}
		}
	}
	// STATUS= speaks of fork mode's bound on children, not of workers.
	if m := told("READY=1", 5*time.Second); !strings.Contains(m, "STATUS=serving, at most 4 children at once") {
		t.Errorf("READY=1 says %q", m)
	}

	// The slow client: it holds its child across the trip.
	slow, slowR := dial(t, v.addr)
	defer slow.Close()
	fmt.Fprintln(slow, "before")
	if got, err := slowR.ReadString('\n'); err != nil || got != "BEFORE\n" {
		t.Fatalf("%q, %v", got, err)
	}
	old := forkChild(v)

	crashChildren(t, v, 2)
	e := v.waitEvent("CRASH LIMIT REACHED: children keep crashing", 5*time.Second, nil)
	if e.str("level") != "ERROR" || e.str("action") != "restart" || e.num("crashes") != 2 || e.num("generation") != 1 {
		t.Errorf("log line %v", e)
	}
	r := v.waitEvent("restarting every child after the crash limit", time.Second, nil)
	if r.str("level") != "WARN" || r.num("generation") != 2 || r.num("finishing") != 1 {
		t.Errorf("log line %v", r)
	}
	t.Logf("log: %v\nlog: %v", e, r)
	told("RELOADING=1", 5*time.Second)

	st := v.scoreboard()
	if st.Generation != 2 || st.Pool.Crashes != 2 || st.Pool.CrashTrips != 1 {
		t.Errorf("after the trip: generation %d, %+v", st.Generation, st.Pool)
	}
	if len(st.Workers) != 1 || st.Workers[0].PID != old || st.Workers[0].Generation != 1 || st.Workers[0].State == "stopping" {
		t.Errorf("the old child is not serving on alone: %+v", st.Workers)
	}

	// A new client: a child of generation 2 serves it.
	fresh, freshR := dial(t, v.addr)
	defer fresh.Close()
	fmt.Fprintln(fresh, "after")
	if got, err := freshR.ReadString('\n'); err != nil || got != "AFTER\n" {
		t.Errorf("a client after the restart: %q, %v", got, err)
	}
	child := forkChild(v, old)
	for _, w := range v.scoreboard().Workers {
		if w.PID == child && w.Generation != 2 {
			t.Errorf("the new client's child is of generation %d", w.Generation)
		}
	}
	fresh.Close()
	v.waitEvent(fmt.Sprintf("child %d exited with code 0", child), 5*time.Second, nil)

	// The old child still serves its client, then ends as it would
	// have; only then is the restart over for systemd.
	fmt.Fprintln(slow, "still")
	if got, err := slowR.ReadString('\n'); err != nil || got != "STILL\n" {
		t.Errorf("the slow client after the restart: %q, %v", got, err)
	}
	select {
	case m := <-msgs:
		if m.pid == self && strings.Contains(m.text, "READY=1") {
			t.Errorf("READY=1 while a child of the old generation serves: %q", m.text)
		}
	default:
	}
	slow.Close()
	x := v.waitEvent(fmt.Sprintf("child %d exited with code 0", old), 5*time.Second, nil)
	if x.num("generation") != 1 {
		t.Errorf("log line %v", x)
	}
	told("READY=1", 5*time.Second)
	if st := v.scoreboard(); st.Pool.Crashes != 2 || st.Pool.CrashTrips != 1 {
		t.Errorf("after the old child's end: %+v", st.Pool)
	}
	shutdownClean(t, s, done, before) // fails too if Run has returned
}

// crashChildren has n clients in turn ask a fork server of the panicky
// handler to "die", and waits until each child serving one has been
// logged as crashed (exit status 2).
func crashChildren(t *testing.T, v *server, n int) {
	t.Helper()
	crashed := func() int { return strings.Count(v.log.String(), "exited with code 2") }
	for i := range n {
		ask(v.addr, "die") // the child serving it dies under it
		for deadline := time.Now().Add(5 * time.Second); crashed() <= i; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d children logged as crashed, want %d", crashed(), i+1)
			}
		}
	}
}
