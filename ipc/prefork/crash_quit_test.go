package prefork_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc/prefork"
)

// A hung worker's end after the supervisor's SIGQUIT (Go's stack dump, exit
// status 2) is the supervisor's doing, not a crash: with CrashLimit 1 and
// CrashExit the breaker does not trip, and the server goes on serving with
// a replacement.
func TestCrashBreakerIgnoresQuitOfHungWorker(t *testing.T) {
	before := ipctest.Snapshot()
	hang := filepath.Join(t.TempDir(), "holder")
	// The first worker to take the accept lock hangs holding it and beats
	// no more; Timeout (2 s) is shorter than the hung-holder limit
	// (2.5 s), so the heartbeat check, which sends SIGQUIT, finds it first.
	s := &prefork.Server{Workers: 2, Timeout: prefork.MinTimeout, CrashLimit: 1, CrashWindow: time.Minute,
		OnCrashLimit: prefork.CrashExit, WorkerArgs: []string{"upper", hang}}
	v, done := startLogged(t, s)
	quit := v.waitEvent("worker hung; sending SIGQUIT for a stack dump, then SIGKILL", 10*time.Second, nil)
	pid := quit.num("pid")
	end := v.waitEvent("worker exited", 5*time.Second, func(e event) bool { return e.num("pid") == pid })
	t.Logf("hung worker %d ended: %s (%s)", pid, end.str("status"), end.str("why"))
	if end.str("status") != "exited with status 2" || !strings.Contains(end.str("why"), "hung") {
		t.Errorf("the hung worker's end: %v (want Go's exit status 2 after SIGQUIT, for being hung)", end)
	}
	v.waitStatus(5*time.Second, "2 workers serving", func(st prefork.Status) bool { return serving(st) == 2 })
	if got, err := ask(v.addr, "after"); err != nil || got != "AFTER" {
		t.Errorf("after the hung worker's end: %q, %v", got, err)
	}
	if st := v.scoreboard(); st.Pool.Crashes != 0 || st.Pool.CrashTrips != 0 {
		t.Errorf("counted as a crash: %+v", st.Pool)
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned %v", err)
	default:
	}
	shutdownClean(t, s, done, before)
}
