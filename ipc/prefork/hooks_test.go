package prefork_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc/prefork"
)

// startHook is the test workers' OnWorkerStart: it fails while dir/fail
// exists (a database that cannot be reached), panics while dir/panic does,
// and otherwise records, in
// dir/started.PID, the slot it ran for, so that the test can tell it ran
// in that worker before the worker served.
func startHook(ctx context.Context, dir string, slot int) error {
	w := prefork.WorkerFrom(ctx)
	if w == nil || w.Slot() != slot {
		return errors.New("the hook's ctx carries no Worker for its slot")
	}
	if _, err := os.Stat(filepath.Join(dir, "fail")); err == nil {
		return errors.New("database unreachable")
	}
	if _, err := os.Stat(filepath.Join(dir, "panic")); err == nil {
		panic("no driver")
	}
	name := filepath.Join(dir, "started."+strconv.Itoa(os.Getpid()))
	if err := os.WriteFile(name+".tmp", []byte(strconv.Itoa(slot)), 0o600); err != nil {
		return err
	}
	return os.Rename(name+".tmp", name)
}

// hookServer is a Server of 2 workers (4 slots, so that a reload
// starts the new pool beside the old) running startHook in dir, whose
// OnWorkerExit reports on exits.
func hookServer(t *testing.T, dir string, ready chan net.Addr, exits chan prefork.WorkerExit) *prefork.Server {
	return &prefork.Server{
		Role: workerRole, WorkerArgs: []string{"hooks:" + dir, ""}, Addr: "127.0.0.1:0",
		Workers: 2, MaxWorkers: 4, StateDir: t.TempDir(),
		Logger:       slog.New(slog.DiscardHandler),
		Ready:        func(a net.Addr) { ready <- a },
		OnWorkerExit: func(e prefork.WorkerExit) { exits <- e },
	}
}

// nextExit waits for the next OnWorkerExit call.
func nextExit(t *testing.T, exits chan prefork.WorkerExit) prefork.WorkerExit {
	t.Helper()
	select {
	case e := <-exits:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no OnWorkerExit within 10s")
		return prefork.WorkerExit{}
	}
}

// The hooks: OnWorkerStart runs in each worker before it serves, Ready in
// the supervisor once the first pool serves, OnWorkerExit in the supervisor
// for each worker reaped, with what it knows of the end; an OnWorkerStart
// error is a start failure, retried after a Reload while the old pool
// serves.
func TestHooks(t *testing.T) {
	before := ipctest.Snapshot()
	dir := t.TempDir()
	ready, exits := make(chan net.Addr, 1), make(chan prefork.WorkerExit, 64)
	s := hookServer(t, dir, ready, exits)
	v, done := startInProcess(t, s, ready)

	// Ready came after every worker's OnWorkerStart, run in that worker.
	first := map[int]int{}
	for _, w := range v.scoreboard().Workers {
		b, err := os.ReadFile(filepath.Join(dir, "started."+strconv.Itoa(w.PID)))
		if err != nil {
			t.Fatalf("worker %d ready without its OnWorkerStart: %v", w.PID, err)
		}
		if string(b) != strconv.Itoa(w.Slot) {
			t.Errorf("worker %d of slot %d: OnWorkerStart ran for slot %s", w.PID, w.Slot, b)
		}
		first[w.PID] = w.Slot
	}
	if len(first) != 2 {
		t.Fatalf("first pool %v", first)
	}

	// A reload: each old worker's end reaches OnWorkerExit.
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	v.waitStatus(10*time.Second, "generation 2", onlyGeneration(2, 2))
	for range 2 {
		e := nextExit(t, exits)
		slot, ok := first[e.PID]
		if !ok || e.Slot != slot || e.Generation != 1 || !e.Ready || !e.Expected || !e.Status.Success() || e.Uptime <= 0 {
			t.Errorf("OnWorkerExit %+v (status %s), want one of %v, generation 1, retired", e, e.Status, first)
		}
		delete(first, e.PID)
		t.Logf("exit: slot %d pid %d generation %d %s why %q", e.Slot, e.PID, e.Generation, e.Status, e.Reason)
	}

	// OnWorkerStart fails: the new generation cannot start, the old serves.
	if err := os.WriteFile(filepath.Join(dir, "fail"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	e := nextExit(t, exits)
	if e.Generation != 3 || e.Ready || e.Status.ExitCode() != prefork.ExitFailed || !strings.Contains(e.Reason, "OnWorkerStart: database unreachable") {
		t.Errorf("OnWorkerExit %+v (status %s), want a start failure of generation 3 with the hook's error", e, e.Status)
	}
	t.Logf("start failure: %s, why %q", e.Status, e.Reason)
	for i := range 5 {
		if got, err := ask(v.addr, "still"); err != nil || got != "STILL" {
			t.Fatalf("request %d while generation 3 cannot start: %q, %v", i, got, err)
		}
	}
	if st := v.scoreboard(); st.Generation != 3 || accepting2(st) != 2 {
		t.Errorf("while generation 3 cannot start, want both of generation 2 serving: %+v", st.Workers)
	}
	// The database is back: the slot's retry starts generation 3.
	os.Remove(filepath.Join(dir, "fail"))
	v.waitStatus(15*time.Second, "generation 3", onlyGeneration(3, 2))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-done; !errors.Is(err, prefork.ErrServerClosed) {
		t.Errorf("Run after Shutdown: %v", err)
	}
	if leaks := ipctest.Leaked(before); len(leaks) > 0 {
		t.Errorf("left behind: %v", leaks)
	}
}

// An OnWorkerStart error (or panic) in the first pool is a configuration
// error: Run returns it, Ready is never called, and nothing is left.
func TestWorkerStartHookFails(t *testing.T) {
	for file, want := range map[string]string{
		"fail":  "OnWorkerStart: database unreachable",
		"panic": "OnWorkerStart panicked: no driver",
	} {
		t.Run(file, func(t *testing.T) {
			before := ipctest.Snapshot()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, file), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			ready, exits := make(chan net.Addr, 1), make(chan prefork.WorkerExit, 64)
			s := hookServer(t, dir, ready, exits)
			done := make(chan error, 1)
			go func() { done <- s.Run(context.Background()) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				s.Close()
				t.Fatal("Run did not return")
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Run: %v, want %q", err, want)
			}
			t.Logf("Run: %v", err)
			select {
			case a := <-ready:
				t.Errorf("Ready(%v) though no worker could start", a)
			default:
			}
			// Every exit reached OnWorkerExit before Run returned; the
			// other worker's may say only that the server is stopping.
			withReason := 0
			for len(exits) > 0 {
				e := <-exits
				if e.Ready || e.Status.ExitCode() != prefork.ExitFailed {
					t.Errorf("OnWorkerExit %+v (status %s), want a start failure", e, e.Status)
				}
				if strings.Contains(e.Reason, want) {
					withReason++
				}
			}
			if withReason == 0 {
				t.Errorf("no OnWorkerExit with the reason %q", want)
			}
			if leaks := ipctest.Leaked(before); len(leaks) > 0 {
				t.Errorf("left behind: %v", leaks)
			}
		})
	}
}

// accepting2 counts the workers of generation 2 that serve.
func accepting2(st prefork.Status) int {
	n := 0
	for _, w := range st.Workers {
		if w.Generation == 2 && w.State != "starting" && w.State != "stopping" {
			n++
		}
	}
	return n
}
