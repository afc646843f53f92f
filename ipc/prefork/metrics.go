package prefork

import (
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ipctoolkit/ipc/internal/promtext"
	"github.com/ipctoolkit/ipc/ipc/proc"
	"github.com/ipctoolkit/ipc/msgq"
)

// Metrics: the scoreboard and the supervisor's counters in the Prometheus
// text format, as `ipc status --prometheus` prints them and an HTTP
// handler can serve them (WriteMetrics). Everything comes from the
// scoreboard, so any process that can attach it (the supervisor, a worker,
// `ipc status`) writes the same numbers; the queue's depth comes from
// msgctl(IPC_STAT). The encoder is internal/promtext rather than
// prometheus/client_golang: a registry, protobuf and eight modules (+4.3 MB
// on a small binary) for a page of text written from a snapshot.

// Why a worker was reaped, as WorkerExits and the metrics' reason label
// say: its start failed (it was never ready), it crashed (died of a signal
// or a non-zero exit without being asked), it hung (no heartbeat), its
// request timed out, it served MaxRequests, it stopped when asked (a
// reload, a shrink, the server's stop), or it exited by itself (other).
const (
	exitStartFailure = iota
	exitCrash
	exitHung
	exitRequestTimeout
	exitMaxRequests
	exitStopped
	exitOther
	exitReasons
)

var exitReasonNames = [exitReasons]string{"start_failure", "crash", "hung", "request_timeout", "max_requests", "stopped", "other"}

// LockTotals is the accept lock's use: how often it was taken, and the
// seconds spent waiting for it and holding it (a holder waits for a
// connection, so an idle server's workers hold it most of the time).
type LockTotals struct {
	Acquisitions uint64  `json:"acquisitions"`
	WaitSeconds  float64 `json:"wait_seconds"`
	HoldSeconds  float64 `json:"hold_seconds"`
}

// QueueDepth is what msgctl(IPC_STAT) says of the server's queue: the
// messages waiting, their bytes of text, and its capacity in bytes.
type QueueDepth struct {
	Messages uint64 `json:"messages"`
	Bytes    uint64 `json:"bytes"`
	Capacity uint64 `json:"capacity_bytes"`
}

func queueDepth(id int) *QueueDepth {
	q, err := msgq.FromID(id)
	if err != nil {
		return nil
	}
	info, err := q.Stat()
	if err != nil {
		return nil
	}
	return &QueueDepth{Messages: info.QNum, Bytes: info.CBytes, Capacity: info.QBytes}
}

// countExit counts why the worker c was reaped.
func (sv *supervisor) countExit(c *child, st proc.Status, expected bool) {
	o := sv.ops.children[c]
	delete(sv.ops.children, c)
	r := exitOther
	switch {
	case o != nil && o.timedOut:
		r = exitRequestTimeout
	case c.hung:
		r = exitHung
	case !c.ready:
		r = exitStartFailure
	case !expected && !st.Success():
		r = exitCrash
	case strings.HasPrefix(c.reason, "served its "):
		r = exitMaxRequests
	case expected:
		r = exitStopped
	}
	sv.board.hdr[hExitsBase+r].Add(1)
}

// retireOps adds the operator's counters of the reaped worker in slot s to
// the header's.
func (b *board) retireOps(s int) {
	w := &b.slots[s]
	b.hdr[hDeadLockWaitNS].Add(w[wLockWaitNS].Load())
	b.hdr[hDeadLockHoldNS].Add(w[wLockHoldNS].Load())
	b.hdr[hDeadLocks].Add(w[wLocks].Load())
}

// workerOps reads slot s's operator's words into ws.
func (b *board) workerOps(s int, ws *WorkerStatus) {
	w := &b.slots[s]
	ws.Slow = w[wSlow].Load()
	ws.TimedOut = w[wTimedOut].Load()
	ws.AcceptLock = LockTotals{Acquisitions: ws.Locks, WaitSeconds: seconds(w[wLockWaitNS].Load()), HoldSeconds: seconds(w[wLockHoldNS].Load())}
	id := w[wReqID].Load()
	start := w[wReqStart].Load()
	if start == 0 {
		return
	}
	ws.OldestRequest = unixTime(start)
	ws.OldestRequestAge = max(time.Since(ws.OldestRequest).Seconds(), 0)
	if w[wDescID].Load() == id {
		what := b.words(s, wDesc, descWords)
		if w[wDescID].Load() == id {
			ws.OldestWhat = what
		}
	}
}

// snapshotOps reads the header's operator's words into st, whose Workers
// are read.
func (b *board) snapshotOps(st *Status) {
	h := &b.hdr
	st.SlowRequests = h[hSlowRequests].Load()
	st.TimedOutRequests = h[hTimedOutRequests].Load()
	st.WorkerStarts = h[hWorkerStarts].Load()
	st.WorkerExits = make(map[string]uint64, exitReasons)
	for i, name := range exitReasonNames {
		st.WorkerExits[name] = h[hExitsBase+i].Load()
	}
	lt := LockTotals{Acquisitions: h[hDeadLocks].Load(), WaitSeconds: seconds(h[hDeadLockWaitNS].Load()), HoldSeconds: seconds(h[hDeadLockHoldNS].Load())}
	for _, w := range st.Workers {
		lt.Acquisitions += w.AcceptLock.Acquisitions
		lt.WaitSeconds += w.AcceptLock.WaitSeconds
		lt.HoldSeconds += w.AcceptLock.HoldSeconds
	}
	st.AcceptLock = lt
}

func seconds(ns uint64) float64 { return float64(ns) / 1e9 }

// workerStates are the values of WorkerStatus.State.
var workerStates = []string{"starting", "idle", "accepting", "busy", "stopping"}

// WriteMetrics writes st in the Prometheus text exposition format (0.0.4):
// metrics named ipc_prefork_*, server-wide counters including the workers
// already gone, and a few per worker labelled by slot. Serve it with
// Content-Type "text/plain; version=0.0.4; charset=utf-8".
func (st Status) WriteMetrics(w io.Writer) error {
	var set promtext.Set
	set.Gauge("ipc_prefork_start_time_seconds", "When the supervisor started, seconds since the epoch.").
		Add(float64(st.Started.UnixNano()) / 1e9)
	set.Gauge("ipc_prefork_generation", "The generation new workers start in (a reload adds one).").Add(float64(st.Generation))
	set.Gauge("ipc_prefork_workers_wanted", "Workers the supervisor keeps running.").Add(float64(st.Want))
	byState := map[string]int{}
	var open uint64
	oldest := 0.0
	for _, ws := range st.Workers {
		byState[ws.State]++
		open += ws.Active
		oldest = max(oldest, ws.OldestRequestAge)
	}
	workers := set.Gauge("ipc_prefork_workers", "Worker processes by state: starting, idle (waiting for the accept lock), accepting (holding it), busy (serving), stopping.")
	for _, s := range workerStates {
		workers.Add(float64(byState[s]), "state", s)
	}
	counter := func(name, help string, v float64) {
		set.Family(name, help, promtext.Counter).Add(v)
	}
	counter("ipc_prefork_connections_total", "Connections accepted, by running and exited workers.", float64(st.Total.Connections))
	set.Gauge("ipc_prefork_connections_open", "Connections open now.").Add(float64(open))
	counter("ipc_prefork_requests_total", "Requests served: connections, or HTTP requests for an HTTP handler.", float64(st.Total.Requests))
	counter("ipc_prefork_received_bytes_total", "Bytes read from clients.", float64(st.Total.BytesIn))
	counter("ipc_prefork_sent_bytes_total", "Bytes written to clients.", float64(st.Total.BytesOut))
	counter("ipc_prefork_slow_requests_total", "Requests that ran past the slow timeout (their worker's stacks were logged).", float64(st.SlowRequests))
	counter("ipc_prefork_timed_out_requests_total", "Requests that ran past the request timeout (their worker was stopped or killed).", float64(st.TimedOutRequests))
	counter("ipc_prefork_worker_starts_total", "Worker processes started.", float64(st.WorkerStarts))
	exits := set.Family("ipc_prefork_worker_exits_total", "Worker processes reaped, by why: start_failure, crash, hung, request_timeout, max_requests, stopped (asked), other.", promtext.Counter)
	for _, name := range exitReasonNames {
		exits.Add(float64(st.WorkerExits[name]), "reason", name)
	}
	counter("ipc_prefork_accept_lock_acquisitions_total", "Times a worker took the accept lock.", float64(st.AcceptLock.Acquisitions))
	counter("ipc_prefork_accept_lock_wait_seconds_total", "Seconds workers waited for the accept lock.", st.AcceptLock.WaitSeconds)
	counter("ipc_prefork_accept_lock_hold_seconds_total", "Seconds workers held the accept lock (waiting for a connection, accepting, handing it over).", st.AcceptLock.HoldSeconds)
	if q := st.Queue; q != nil {
		set.Gauge("ipc_prefork_queue_messages", "Messages waiting in the server's control queue.").Add(float64(q.Messages))
		set.Gauge("ipc_prefork_queue_bytes", "Bytes of text waiting in the server's control queue.").Add(float64(q.Bytes))
		set.Gauge("ipc_prefork_queue_capacity_bytes", "The control queue's capacity in bytes of text (msg_qbytes).").Add(float64(q.Capacity))
	}
	writePoolMetrics(&set, st.Pool)
	set.Gauge("ipc_prefork_oldest_request_age_seconds", "How long the oldest running request has run; 0 when none runs.").Add(oldest)
	for _, ws := range st.Workers {
		slot := strconv.Itoa(ws.Slot)
		set.Family("ipc_prefork_worker_requests_total", "Requests served by the worker now in the slot.", promtext.Counter).Add(float64(ws.Requests), "slot", slot)
		set.Gauge("ipc_prefork_worker_connections_open", "Connections open in the worker now in the slot.").Add(float64(ws.Active), "slot", slot)
		set.Gauge("ipc_prefork_worker_oldest_request_age_seconds", "How long the oldest request of the worker in the slot has run; 0 when none runs.").Add(ws.OldestRequestAge, "slot", slot)
	}
	_, err := set.WriteTo(w)
	return err
}

// writePoolMetrics adds the pool's and the crash breaker's (pool.go,
// crash.go) to set.
func writePoolMetrics(set *promtext.Set, p PoolStatus) {
	if p.Mode != "" {
		set.Gauge("ipc_prefork_pool_info", "The pool's mode (static, dynamic, ondemand), as a label; always 1.").Add(1, "mode", p.Mode)
	}
	set.Gauge("ipc_prefork_pool_max_workers", "The most workers the pool keeps.").Add(float64(p.MaxWorkers))
	set.Gauge("ipc_prefork_pool_min_spare_workers", "A dynamic pool's least idle workers; 0 for the others.").Add(float64(p.MinSpare))
	set.Gauge("ipc_prefork_pool_max_spare_workers", "A dynamic pool's most idle workers; 0 for the others.").Add(float64(p.MaxSpare))
	set.Gauge("ipc_prefork_pool_idle_timeout_seconds", "How long an ondemand pool's worker may be idle; 0 for the others.").Add(p.IdleTimeout.Seconds())
	counter := func(name, help string, v uint64) { set.Family(name, help, promtext.Counter).Add(float64(v)) }
	counter("ipc_prefork_max_workers_reached_total", "Times the pool's maximum refused a worker the load asked for (PHP-FPM's max_children_reached).", p.MaxWorkersReached)
	counter("ipc_prefork_worker_crashes_total", "Workers that crashed, as the crash breaker counts them (not the ends the supervisor caused).", p.Crashes)
	counter("ipc_prefork_crash_breaker_trips_total", "Times the crash breaker tripped.", p.CrashTrips)
	spawns := set.Family("ipc_prefork_worker_spawns_total", "Workers the pool started, by cause: load (dynamic, ondemand), replace (of one that ended by itself), reload (a new generation); the first workers and Scale's are in none.", promtext.Counter)
	spawns.Add(float64(p.SpawnsLoad), "cause", "load")
	spawns.Add(float64(p.SpawnsReplace), "cause", "replace")
	spawns.Add(float64(p.SpawnsReload), "cause", "reload")
	counter("ipc_prefork_pool_idle_retirements_total", "Idle workers the pool retired (above max spare, or idle past the idle timeout).", p.RetiresIdle)
}
