package msgq_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/ipc/proc"
	"github.com/ipctoolkit/ipc/msgq"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	proc.Dispatch()
	ipctest.Main(m)
}

// newQueue makes a private queue that the test removes when it ends.
func newQueue(t testing.TB) *msgq.Queue {
	t.Helper()
	q, err := msgq.Create(ipc.Private, ipc.DefaultMode)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := q.Remove(); err != nil && !errors.Is(err, unix.EINVAL) {
			t.Errorf("cleanup: %v", err)
		}
	})
	return q
}

// newKeyedQueue makes a queue under a random unused key.
func newKeyedQueue(t testing.TB, mode ipc.Mode) (*msgq.Queue, ipc.Key) {
	t.Helper()
	for range 100 {
		k := ipc.Key(int32(rand.Uint32()))
		if k == ipc.Private {
			continue
		}
		q, err := msgq.Create(k, mode)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Remove() })
		return q, k
	}
	t.Fatal("no free key in 100 tries")
	return nil, 0
}

// unusedKey returns a key that has no queue.
func unusedKey(t testing.TB) ipc.Key {
	t.Helper()
	for range 100 {
		k := ipc.Key(int32(rand.Uint32()))
		if k == ipc.Private {
			continue
		}
		if _, err := msgq.Open(k); errors.Is(err, unix.ENOENT) {
			return k
		}
	}
	t.Fatal("no free key in 100 tries")
	return 0
}

// pinProcess sets the CPU affinity of every thread of this process to cpu
// (threads started later inherit it from their creator), as the C reference
// benchmarks pin their single thread, and returns a function that restores
// the previous mask.
func pinProcess(cpu int) (restore func(), err error) {
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, err
	}
	set.Set(cpu)
	if err := setAffinityAll(&set); err != nil {
		return nil, err
	}
	return func() { setAffinityAll(&old) }, nil
}

func setAffinityAll(set *unix.CPUSet) error {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, ent := range ents {
		tid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		// A thread may have exited since the listing.
		if err := unix.SchedSetaffinity(tid, set); err != nil && err != unix.ESRCH {
			return err
		}
	}
	return nil
}

// pinMode is how the benchmarks place the two processes, from MSGQ_PIN:
// "same" (default: both on CPU 0, as PIN=same for the C programs), "cross"
// (parent CPU 0, child CPU 1) or "none".
func pinMode() string {
	switch m := strings.ToLower(os.Getenv("MSGQ_PIN")); m {
	case "cross", "none":
		return m
	}
	return "same"
}

// pinCPU is the CPU the parent (who 0) or child (who 1) runs on, or -1.
func pinCPU(who int) int {
	switch pinMode() {
	case "same":
		return 0
	case "cross":
		return who
	}
	return -1
}

// receiveTimeout is ReceiveContext with a deadline d from now, the form the
// tests written for a timed receive use.
func receiveTimeout(q *msgq.Queue, buf []byte, sel msgq.Selector, flags msgq.Flags, d time.Duration) (int64, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return q.ReceiveContext(ctx, buf, sel, flags)
}

// sendTimeout is SendContext with a deadline d from now.
func sendTimeout(q *msgq.Queue, typ int64, text []byte, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return q.SendContext(ctx, typ, text, 0)
}
