package prefork_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc/prefork"
)

// runInProcess runs a Server whose supervisor is this test process and
// waits until it is ready.
func runInProcess(t *testing.T, workers, maxWorkers int) (*prefork.Server, *server, chan error) {
	t.Helper()
	ready := make(chan net.Addr, 1)
	s := &prefork.Server{
		Role: workerRole, WorkerArgs: []string{"upper", ""}, Addr: "127.0.0.1:0",
		Workers: workers, MaxWorkers: maxWorkers, StateDir: t.TempDir(),
		Logger: slog.New(slog.DiscardHandler),
		Ready:  func(a net.Addr) { ready <- a },
	}
	if err := s.Reload(); err == nil {
		t.Error("Reload before Run succeeded")
	}
	v, done := startInProcess(t, s, ready)
	return s, v, done
}

// startInProcess runs s, whose Ready sends on ready, in this test process
// until the test ends, and waits until it is ready; done gets Run's error.
func startInProcess(t *testing.T, s *prefork.Server, ready <-chan net.Addr) (*server, chan error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	t.Cleanup(func() { s.Close() })
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("not ready")
	}
	sts := mustStates(t, s.StateDir)
	if len(sts) != 1 {
		t.Fatalf("state files %v", sts)
	}
	return &server{t: t, state: sts[0], addr: addr.String()}, done
}

// The library's lifecycle without a signal: Scale, Reload, Shutdown and
// Close reach the supervisor through its loop, Run returns ErrServerClosed
// after them, and nothing is left behind.
func TestLifecycle(t *testing.T) {
	before := ipctest.Snapshot()
	s, v, done := runInProcess(t, 2, 3)
	if err := s.Scale(3); err != nil {
		t.Fatal(err)
	}
	v.waitStatus(5*time.Second, "3 workers", onlyGeneration(1, 3))
	for _, n := range []int{0, 4} {
		if err := s.Scale(n); err == nil {
			t.Errorf("Scale(%d) with 3 slots succeeded", n)
		}
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	st := v.waitStatus(10*time.Second, "generation 2", onlyGeneration(2, 3))
	t.Logf("after Reload: %d workers of generation %d", len(st.Workers), st.Generation)
	if got, err := ask(v.addr, "api"); err != nil || got != "API" {
		t.Errorf("%q, %v", got, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-done; !errors.Is(err, prefork.ErrServerClosed) {
		t.Errorf("Run after Shutdown: %v", err)
	}
	if err := refused(v.addr); err != nil {
		t.Errorf("after Shutdown: %v", err)
	}
	if err := s.Reload(); !errors.Is(err, prefork.ErrServerClosed) {
		t.Errorf("Reload after Shutdown: %v", err)
	}
	if err := s.Run(context.Background()); !errors.Is(err, prefork.ErrServerClosed) {
		t.Errorf("Run again after Shutdown: %v", err)
	}
	if leaks := ipctest.Leaked(before); len(leaks) > 0 {
		t.Errorf("left behind: %v", leaks)
	}

	// Close cuts at once.
	s2, v2, done2 := runInProcess(t, 1, 0)
	t0 := time.Now()
	s2.Close()
	if err := <-done2; !errors.Is(err, prefork.ErrServerClosed) || time.Since(t0) > 3*time.Second {
		t.Errorf("Run after Close: %v after %v", err, time.Since(t0))
	}
	if err := refused(v2.addr); err != nil {
		t.Errorf("after Close: %v", err)
	}
	// Shutdown before Run: Run returns at once.
	var s3 prefork.Server
	s3.Shutdown(context.Background())
	if err := s3.Run(context.Background()); !errors.Is(err, prefork.ErrServerClosed) {
		t.Errorf("Run after Shutdown of a fresh Server: %v", err)
	}
	if leaks := ipctest.Leaked(before); len(leaks) > 0 {
		t.Errorf("left behind: %v", leaks)
	}
}
