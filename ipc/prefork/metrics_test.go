package prefork_test

import (
	"bytes"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/promtext/promtexttest"
	"github.com/ipctoolkit/ipc/ipc/prefork"
)

// After a known load (20 HTTP requests, each on its connection), the
// metrics (from the scoreboard read as `ipc status` reads it, and served
// by a worker) pass promtool and say what the scoreboard says.
func TestMetrics(t *testing.T) {
	o := startOps(t, "http", nil)
	const n = 20
	for range n {
		h := dialHTTP(t, o.addr)
		h.slotOf(t)
		h.c.Close()
	}
	st := o.waitStatus(5*time.Second, "the load served", func(st prefork.Status) bool {
		open := uint64(0)
		for _, w := range st.Workers {
			open += w.Active
		}
		return open == 0 && st.Total.Requests == n && len(st.Workers) == 2
	})
	var b bytes.Buffer
	if err := st.WriteMetrics(&b); err != nil {
		t.Fatal(err)
	}
	promtexttest.Lint(t, "WriteMetrics", b.String())
	m := promtexttest.Samples(t, b.String())
	workers := 0.0
	for _, s := range []string{"starting", "idle", "accepting", "busy", "stopping"} {
		v, ok := m[`ipc_prefork_workers{state="`+s+`"}`]
		if !ok {
			t.Errorf("no workers sample for state %s", s)
		}
		workers += v
	}
	if st.Queue == nil || st.Queue.Capacity == 0 {
		t.Errorf("queue depth not read: %+v", st.Queue)
	}
	for name, want := range map[string]float64{
		"ipc_prefork_requests_total":                     n,
		"ipc_prefork_connections_total":                  n,
		"ipc_prefork_connections_open":                   0,
		"ipc_prefork_received_bytes_total":               float64(st.Total.BytesIn),
		"ipc_prefork_sent_bytes_total":                   float64(st.Total.BytesOut),
		"ipc_prefork_worker_starts_total":                2,
		`ipc_prefork_worker_exits_total{reason="crash"}`: 0,
		"ipc_prefork_slow_requests_total":                0,
		"ipc_prefork_timed_out_requests_total":           0,
		"ipc_prefork_workers_wanted":                     2,
		"ipc_prefork_accept_lock_acquisitions_total":     float64(st.AcceptLock.Acquisitions),
		"ipc_prefork_queue_capacity_bytes":               float64(st.Queue.Capacity),
		"ipc_prefork_oldest_request_age_seconds":         0,
		`ipc_prefork_pool_info{mode="static"}`:           1,
		"ipc_prefork_pool_max_workers":                   float64(st.Pool.MaxWorkers),
		"ipc_prefork_max_workers_reached_total":          0,
		"ipc_prefork_worker_crashes_total":               0,
		`ipc_prefork_worker_spawns_total{cause="load"}`:  0,
	} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if workers != 2 || st.Total.BytesIn == 0 || st.AcceptLock.Acquisitions == 0 || st.AcceptLock.HoldSeconds <= 0 {
		t.Errorf("workers %v, bytes in %d, lock %+v", workers, st.Total.BytesIn, st.AcceptLock)
	}
	perSlot := 0.0
	for _, w := range st.Workers {
		perSlot += m[`ipc_prefork_worker_requests_total{slot="`+strconv.Itoa(w.Slot)+`"}`]
	}
	if perSlot != n {
		t.Errorf("per-slot requests add up to %v, want %d", perSlot, n)
	}

	// Served by a worker: its own request is running (counted once it
	// ends), its connection already counted.
	h := dialHTTP(t, o.addr)
	code, body, err := h.get("/metrics", 5*time.Second)
	if err != nil || code != 200 {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	promtexttest.Lint(t, "GET /metrics", body)
	m = promtexttest.Samples(t, body)
	if m["ipc_prefork_requests_total"] != n || m["ipc_prefork_connections_total"] != n+1 || m["ipc_prefork_connections_open"] != 1 {
		t.Errorf("GET /metrics says requests %v, connections %v (open %v); want %d, %d (1)", m["ipc_prefork_requests_total"],
			m["ipc_prefork_connections_total"], m["ipc_prefork_connections_open"], n, n+1)
	}
	if os.Getenv("IPC_SHOW_METRICS") != "" {
		t.Logf("GET /metrics:\n%s", body)
	}
}
