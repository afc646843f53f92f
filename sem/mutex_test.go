package sem_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/sem"
	"golang.org/x/sys/unix"
)

func newMutex(t *testing.T) *sem.Mutex {
	t.Helper()
	m, err := sem.CreateMutex(ipc.Private, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Set().Remove() })
	return m
}

func TestMutex(t *testing.T) {
	m := newMutex(t)
	if err := m.Lock(); err != nil {
		t.Fatal(err)
	}
	if err := m.LockTimeout(0); !errors.Is(err, ipc.ErrTimeout) {
		t.Fatalf("LockTimeout(0) of a locked mutex: %v", err)
	}
	if err := m.LockTimeout(20 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("LockTimeout of a locked mutex: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := m.LockContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LockContext of a locked mutex: %v", err)
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
	// A second unlock is refused and leaves the mutex a binary semaphore.
	err := m.Unlock()
	if !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("double Unlock: %v", err)
	}
	if v, _ := m.Set().Value(0); v != 1 {
		t.Fatalf("value %d after a double unlock, want 1", v)
	}
	if err := m.LockTimeout(0); err != nil {
		t.Fatalf("LockTimeout(0) of a free mutex: %v", err)
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
}

// kill -9 of the holder releases the lock, thanks to SEM_UNDO.
func TestMutexReleasedWhenHolderKilled(t *testing.T) {
	m := newMutex(t)
	cmd := ipctest.Command(t, "lock-and-hang", strconv.Itoa(m.Set().ID()))
	lines := startChild(t, cmd)
	if !lines.Scan() || lines.Text() != "locked" {
		t.Fatalf("child did not lock: %q", lines.Text())
	}
	if m.LockTimeout(0) == nil {
		t.Fatal("the mutex is free while the child holds it")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := m.LockTimeout(5 * time.Second); err != nil {
		t.Fatalf("lock after the holder was killed: %v", err)
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
}

// semop04: processes contend for the lock; a read-modify-write count done
// under it comes out exact.
func TestMutexExcludesAcrossProcesses(t *testing.T) {
	s := newSet(t, 2)
	if err := s.SetValue(0, 1); err != nil {
		t.Fatal(err)
	}
	const children, rounds = 3, 300
	var cmds []*exec.Cmd
	for range children {
		c := ipctest.Command(t, "count-under-lock", strconv.Itoa(s.ID()), strconv.Itoa(rounds))
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
	}
	if v, _ := s.Value(1); v != children*rounds {
		t.Fatalf("count %d, want %d: the mutex let two processes in", v, children*rounds)
	}
	if v, _ := s.Value(0); v != 1 {
		t.Fatalf("mutex value %d at the end, want 1", v)
	}
}

func TestSemaphore(t *testing.T) {
	s := newSet(t, 1)
	if err := s.SetValue(0, 3); err != nil {
		t.Fatal(err)
	}
	c := sem.NewSemaphore(s, 0, sem.Undo)
	if err := c.Acquire(2); err != nil {
		t.Fatal(err)
	}
	if err := c.AcquireTimeout(2, 0); !errors.Is(err, ipc.ErrTimeout) {
		t.Fatalf("AcquireTimeout(2, 0) of 1 free: %v", err)
	}
	if err := c.AcquireTimeout(2, 10*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("AcquireTimeout: %v", err)
	}
	if err := c.AcquireContext(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Value(); v != 0 {
		t.Fatalf("value %d, want 0", v)
	}
	if err := c.Release(3); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Value(); v != 3 {
		t.Fatalf("value %d, want 3", v)
	}
}
