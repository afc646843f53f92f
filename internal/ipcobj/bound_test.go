package ipcobj_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/intr"
	"github.com/ipctoolkit/ipc/internal/rawwait"
	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/msgq"
	"github.com/ipctoolkit/ipc/sem"
)

// threads is the number of OS threads of this process.
func threads(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	mustNil(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			mustNil(t, err)
			return n
		}
	}
	t.Fatal("no Threads line in /proc/self/status")
	return 0
}

// TestManyBlockedCalls: 20,000 goroutines blocked in Receive, then 20,000
// in Do, do not exhaust the runtime's 10,000 threads (issue 9, defect 3):
// at most the bound of them block in the kernel, the rest wait in Go, and
// every one completes once there is something to take.
func TestManyBlockedCalls(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allows at most 8128 goroutines")
	}
	const n, bound, margin = 20000, 500, 100
	old := ipc.SetMaxBlockedCalls(bound)
	defer ipc.SetMaxBlockedCalls(old)
	if old != ipc.DefaultMaxBlockedCalls || ipc.DefaultMaxBlockedCalls != 1000 {
		t.Errorf("the bound was %d; want the default, 1000", old)
	}
	// The raw first attempt of a blocking call keeps its P until the
	// runtime preempts it (10ms): with hundreds of calls blocking at once
	// that stalls the scheduler for seconds, which is rawwait's business,
	// not the bound's.
	defer rawwait.SetEnabled(rawwait.SetEnabled(false))
	base := threads(t)
	peak := base
	settle := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			peak = max(peak, threads(t))
			if time.Now().After(deadline) {
				in, waiting := intr.Blocked()
				t.Fatalf("%s: not reached in 60s (%d calls in the kernel, %d waiting in Go)", what, in, waiting)
			}
		}
		peak = max(peak, threads(t))
	}
	allBlocked := func() bool { in, waiting := intr.Blocked(); return in == bound && waiting == n-bound }

	t.Run("Receive", func(t *testing.T) {
		q, err := msgq.Create(ipc.Private, 0o600)
		mustNil(t, err)
		defer q.Remove()
		got := make(chan error, n)
		for range n {
			go func() {
				var buf [1]byte
				_, _, err := q.Receive(buf[:], msgq.Any(), 0)
				got <- err
			}()
		}
		start := time.Now()
		settle("every receiver blocked", allBlocked)
		t.Logf("settled in %v", time.Since(start))
		start = time.Now()
		for i := range n {
			if err := q.Send(1, []byte{byte(i)}, 0); err != nil {
				t.Fatal(err)
			}
		}
		collect(t, got, n, "a receiver did not get its message")
		t.Logf("delivered in %v", time.Since(start))
		if info, err := q.Stat(); err != nil || info.QNum != 0 {
			t.Errorf("queue after the receives: %+v, %v", info, err)
		}
	})
	t.Run("Do", func(t *testing.T) {
		set, err := sem.Create(ipc.Private, 1, 0o600)
		mustNil(t, err)
		defer set.Remove()
		got := make(chan error, n)
		for range n {
			go func() { got <- set.Do(sem.Dec(0, 1, 0)) }()
		}
		settle("every Do blocked", allBlocked)
		mustNil(t, set.Do(sem.Inc(0, n, 0)))
		collect(t, got, n, "a Do did not complete")
		if v, err := set.Value(0); err != nil || v != 0 {
			t.Errorf("value after the Dos: %d, %v", v, err)
		}
	})
	settle("nothing left blocked", func() bool { in, waiting := intr.Blocked(); return in == 0 && waiting == 0 })
	t.Logf("threads: %d before, %d at most, bound %d", base, peak, bound)
	if peak-base > bound+margin {
		t.Errorf("%d threads at most, %d before: more than the bound %d plus %d", peak, base, bound, margin)
	}
}

// TestParkedCallCancels: a call waiting in Go for a slot still ends with
// its context, and one that can complete at once does not wait for a slot.
func TestParkedCallCancels(t *testing.T) {
	defer ipc.SetMaxBlockedCalls(ipc.SetMaxBlockedCalls(1))
	q, err := msgq.Create(ipc.Private, 0o600)
	mustNil(t, err)
	defer q.Remove()
	set, err := sem.Create(ipc.Private, 1, 0o600)
	mustNil(t, err)
	defer set.Remove()
	// The one slot: a receive that waits until the queue is removed.
	held := make(chan error, 1)
	go func() {
		_, _, err := q.Receive(make([]byte, 8), msgq.Type(9), 0)
		held <- err
	}()
	waitFor(t, func() bool { in, _ := intr.Blocked(); return in == 1 })

	for name, call := range map[string]func(ctx context.Context) error{
		"ReceiveContext": func(ctx context.Context) error {
			_, _, err := q.ReceiveContext(ctx, make([]byte, 8), msgq.Type(1), 0)
			return err
		},
		"DoContext": func(ctx context.Context) error { return set.DoContext(ctx, sem.Dec(0, 1, 0)) },
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		start := time.Now()
		err := call(ctx)
		cancel()
		if el := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || el > 5*time.Second {
			t.Errorf("%s parked for a slot: %v after %v; want the deadline", name, err, el)
		}
	}
	if err := set.DoTimeout(50*time.Millisecond, sem.Dec(0, 1, 0)); !errors.Is(err, ipc.ErrTimeout) {
		t.Errorf("DoTimeout parked for a slot: %v", err)
	}
	// Calls that need not wait go through though the slot is taken.
	mustNil(t, q.Send(1, []byte("x"), 0))
	if _, _, err := q.Receive(make([]byte, 8), msgq.Type(1), 0); err != nil {
		t.Errorf("Receive of a queued message with no slot free: %v", err)
	}
	mustNil(t, set.Do(sem.Inc(0, 1, 0)))
	mustNil(t, set.Do(sem.Dec(0, 1, 0)))

	mustNil(t, q.Remove())
	if err := <-held; !errors.Is(err, ipc.ErrRemoved) {
		t.Errorf("the blocked receive: %v", err)
	}
}

// collect takes n results from got, failing on the first error or if one
// takes more than 60 seconds to come.
func collect(t *testing.T, got <-chan error, n int, what string) {
	t.Helper()
	for range n {
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal(what, "in 60s")
		}
	}
}
