package prefork_test

import (
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc/prefork"
)

// An ondemand pool its clients have left retires its workers one a tick,
// the one idle the longest first, as PHP-FPM's maintenance does: not every
// expired worker in the same moment.
func TestPoolOndemandRetiresOneATick(t *testing.T) {
	before := ipctest.Snapshot()
	const maxWorkers, idle = 3, time.Second
	s := &prefork.Server{Pool: prefork.PoolOndemand, MaxWorkers: maxWorkers, WorkerIdleTimeout: idle}
	v, done := startLogged(t, s)
	tr := trace(t, v)
	defer tr.finish()

	// Clients that stay keep their workers busy; the pool grows while
	// connections come and no worker is idle.
	h := &holder{t: t, addr: v.addr}
	deadline := time.Now().Add(10 * time.Second)
	for len(v.scoreboard().Workers) < maxWorkers {
		if time.Now().After(deadline) {
			t.Fatalf("the pool never reached %d workers: %d with %d clients", maxWorkers, len(v.scoreboard().Workers), len(h.conns))
		}
		h.open(1, tr)
		time.Sleep(300 * time.Millisecond)
	}
	v.waitStatus(5*time.Second, "every worker serving", func(st prefork.Status) bool {
		return len(st.Workers) == maxWorkers && st.Pool.Idle+st.Pool.Busy == maxWorkers
	})

	shrinks0 := len(v.log.events("pool shrinks"))
	h.closeAll(tr)
	took := until(t, v, idle+10*time.Second, "0 workers", func(st prefork.Status) bool { return len(st.Workers) == 0 })
	shrinks := v.log.events("pool shrinks")[shrinks0:]
	t.Logf("%d workers retired within %v of the clients leaving (idle timeout %v)", len(shrinks), took.Round(10*time.Millisecond), idle)
	if len(shrinks) != maxWorkers {
		t.Errorf("%d retirements logged, want %d", len(shrinks), maxWorkers)
	}
	var prev time.Time
	for _, e := range shrinks {
		at, err := time.Parse(time.RFC3339Nano, e.str("time"))
		if err != nil {
			t.Fatalf("log time %q: %v", e.str("time"), err)
		}
		if !prev.IsZero() && at.Sub(prev) < 800*time.Millisecond {
			t.Errorf("two idle workers retired %v apart: at most one a tick", at.Sub(prev))
		}
		prev = at
	}
	if st := v.scoreboard(); st.Pool.RetiresIdle != maxWorkers {
		t.Errorf("retires_idle %d, want %d", st.Pool.RetiresIdle, maxWorkers)
	}
	shutdownClean(t, s, done, before)
}
