package prefork

import (
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Request timeouts (PHP-FPM's request_terminate_timeout) and the slow log's
// trigger (request_slowlog_timeout).
//
// A worker runs many requests at once (a goroutine per connection), so it
// keeps its running requests in a list in the order they began and records
// in its slot the start and sequence number of the oldest one: the first
// to exceed any limit. It does so when the oldest changes (a request begins
// with none running, or the oldest ends), so a request costs one lock of a
// mutex of the worker's own and, at most, two atomic stores. The
// supervisor's tick (every 100 ms) reads the two words: past SlowTimeout it
// asks the worker, over the queue, for its stacks (slowlog.go), once per
// request (per sequence number); past RequestTimeout it stops the worker
// (the order in the slot, the doorbell on the queue, and a message that
// makes the worker close that request's connection at once) and kills it
// if it has not exited within timeoutKillGrace. A request that is not the
// oldest is looked at once those before it end; the stacks written for an
// older one show it too.
//
// What the request is (an HTTP request's method and target, a
// connection's peer) is written into the slot by the worker's describer,
// which looks every describeEvery and writes the oldest request once it
// has run describeAfter: so that the supervisor can name it even when the
// worker no longer answers, without any formatting on the request's path.
// It looks only while requests run: with none it sleeps until one begins,
// so that an idle worker does not wake ten times a second (a server's
// idle workers then cost nothing but their heartbeat, as nginx's do).

// Header words of the operator's band (32 to 47).
const (
	hSlowRequests     = 32 + iota // requests the supervisor found slow
	hTimedOutRequests             // requests past RequestTimeout
	hDeadLockWaitNS               // accept-lock wait of the workers already reaped, nanoseconds
	hDeadLockHoldNS               // and hold
	hDeadLocks                    // and acquisitions
	hWorkerStarts                 // workers started
	hExitsBase                    // hExitsBase+exitX: workers reaped, by why (metrics.go)
)

// Slot words of the operator's band (48 to 59).
const (
	wReqStart   = 48 + iota // unix nanoseconds the oldest running request began; 0: none (worker)
	wReqID                  // its sequence number in this worker, from 1 (worker)
	wLockWaitNS             // nanoseconds waited for the accept lock (worker)
	wLockHoldNS             // nanoseconds held it, hand-off of what it accepted included (worker)
	wSlow                   // slow requests the supervisor found in this worker (supervisor)
	wTimedOut               // requests it timed out in this worker (supervisor)
	wDescID                 // the request wDesc describes; 0 while it is rewritten (worker)
	wDesc                   // descWords words of text: what request wDescID is
)

// descWords ends the description at word 60, where the free words begin.
const descWords = 60 - wDesc

// Message kinds of the operator's band (48 to 63).
const (
	kindSlow    msgKind = 48 + iota // supervisor → worker: write your stacks for request arg to the slow log
	kindTimeout                     // supervisor → worker: request arg timed out, close its connection
)

const (
	// timeoutKillGrace is how long a worker stopped for a request timeout
	// has to exit before SIGKILL: its other connections get that long.
	timeoutKillGrace = time.Second
	describeEvery    = 100 * time.Millisecond
	describeAfter    = 100 * time.Millisecond
)

// checkOps checks the operator's fields of c.
func (c *config) checkOps() error {
	const op = "configure"
	switch {
	case c.RequestTimeout < 0 || c.SlowTimeout < 0:
		return serverErr(op, errors.New("RequestTimeout and SlowTimeout must not be negative"), "")
	case c.RequestTimeout > 0 && c.SlowTimeout >= c.RequestTimeout:
		// The request would be killed before (or on the same tick as)
		// its stacks are written: a slow log that never logs.
		return serverErr(op, errors.New("SlowTimeout must be below RequestTimeout"), c.SlowTimeout.String()+" >= "+c.RequestTimeout.String())
	case c.SlowLog != "" && c.SlowTimeout == 0:
		return serverErr(op, errors.New("SlowLog needs a SlowTimeout"), c.SlowLog)
	}
	return nil
}

// request is one running request of a worker.
type request struct {
	id         uint64
	start      uint64
	prev, next *request
	conn       *countedConn
	// method and target for an HTTP request; empty for a connection.
	method, target string
}

// requests is a worker's running requests, oldest first.
type requests struct {
	mu         sync.Mutex
	seq        uint64
	head, tail *request
	described  uint64
	// parked: the describer found no request and waits on wake (capacity
	// 1) for the next to begin.
	parked bool
	wake   chan struct{}
}

// beginRequest records a request that began at start (unix nanoseconds).
func (w *worker) beginRequest(start uint64, conn *countedConn, r *http.Request) *request {
	q := &request{start: start, conn: conn}
	if r != nil {
		q.method, q.target = r.Method, r.URL.RequestURI()
	}
	t := &w.reqs
	t.mu.Lock()
	t.seq++
	q.id = t.seq
	q.prev = t.tail
	if t.tail != nil {
		t.tail.next = q
	} else {
		t.head = q
		w.publishOldest(q)
		if t.parked {
			t.parked = false
			select {
			case t.wake <- struct{}{}:
			default:
			}
		}
	}
	t.tail = q
	t.mu.Unlock()
	return q
}

// endRequest forgets q, which has ended.
func (w *worker) endRequest(q *request) {
	t := &w.reqs
	t.mu.Lock()
	if q.next != nil {
		q.next.prev = q.prev
	} else {
		t.tail = q.prev
	}
	if q.prev != nil {
		q.prev.next = q.next
	} else {
		t.head = q.next
		if t.head != nil {
			w.publishOldest(t.head)
		} else {
			w.slot[wReqStart].Store(0)
		}
	}
	q.prev, q.next = nil, nil
	t.mu.Unlock()
}

// publishOldest writes q as the oldest running request: the start first,
// so that a reader that sees q's id sees q's start too (a reader that sees
// the previous id with q's start only finds it younger than it is).
func (w *worker) publishOldest(q *request) {
	w.slot[wReqStart].Store(q.start)
	w.slot[wReqID].Store(q.id)
}

// findRequest returns the running request id, what it is and since when.
func (w *worker) findRequest(id uint64) (q *request, what string, ok bool) {
	t := &w.reqs
	t.mu.Lock()
	defer t.mu.Unlock()
	for q := t.head; q != nil; q = q.next {
		if q.id == id {
			return q, q.describe(), true
		}
	}
	return nil, "", false
}

// describe says what q is, for the logs: "GET /sleep?d=2s from
// 127.0.0.1:4242" or "connection from 127.0.0.1:4242". Called under the
// requests' lock, while q runs.
func (q *request) describe() string {
	peer := "?"
	if q.conn != nil && !q.conn.closed.Load() {
		// The descriptor is the connection's while it is not closed.
		peer = q.conn.RemoteAddr().String()
	}
	if q.method != "" {
		return q.method + " " + q.target + " from " + peer
	}
	return "connection from " + peer
}

// describer writes what the oldest request is into the slot, once it has
// run describeAfter, until the worker drains. It looks every describeEvery
// while requests run, and parks while none does.
func (w *worker) describer() {
	r := &w.reqs
	t := time.NewTimer(describeEvery)
	defer t.Stop()
	for {
		select {
		case <-w.drained:
			return
		case <-t.C:
		}
		r.mu.Lock()
		h := r.head
		if h == nil {
			r.parked = true
			r.mu.Unlock()
			select {
			case <-w.drained:
				return
			case <-r.wake:
			}
			// The request that woke it began just now: it is worth
			// describing describeAfter from now, not before.
			t.Reset(describeEvery)
			continue
		}
		var id uint64
		var what string
		if h.id != r.described && now()-h.start >= uint64(describeAfter) {
			id, what = h.id, h.describe()
			r.described = id
		}
		r.mu.Unlock()
		if id != 0 {
			w.slot[wDescID].Store(0)
			w.board.putWords(w.boot.slot, wDesc, descWords, what)
			w.slot[wDescID].Store(id)
		}
		t.Reset(describeEvery)
	}
}

// timedOut obeys kindTimeout: the request's connection is closed now (the
// stop order that comes with it drains the worker).
func (w *worker) timedOut(id uint64) {
	q, what, ok := w.findRequest(id)
	if !ok {
		return
	}
	w.log.Warn("request timed out; closing its connection", "request", what,
		"running_for", time.Duration(now()-q.start).Round(time.Millisecond))
	if q.conn != nil {
		q.conn.Close()
	}
}

// opsChild is what the supervisor keeps about a worker's requests.
type opsChild struct {
	slowID   uint64    // the last request found slow
	timedOut bool      // stopped for a request timeout
	killAt   time.Time // then: SIGKILL if still alive
}

func (sv *supervisor) opsOf(c *child) *opsChild {
	if sv.ops.children == nil {
		sv.ops.children = map[*child]*opsChild{}
	}
	o := sv.ops.children[c]
	if o == nil {
		o = &opsChild{}
		sv.ops.children[c] = o
	}
	return o
}

// checkRequests, on every tick, looks at each worker's oldest request.
// It reads the clock itself rather than take the tick's time, which is
// older by however long the loop was busy: ages are measured against the
// workers' clock reads.
func (sv *supervisor) checkRequests() {
	rt, st := sv.cfg.RequestTimeout, sv.cfg.SlowTimeout
	if rt == 0 && st == 0 {
		return
	}
	now := time.Now()
	for _, s := range sv.slots {
		c := s.c
		if c == nil || c.killed {
			continue
		}
		o := sv.opsOf(c)
		if o.timedOut {
			if now.After(o.killAt) {
				sv.kill(c, "request timeout: still running "+timeoutKillGrace.String()+" after its stop order")
			}
			continue
		}
		w := &sv.board.slots[s.i]
		id := w[wReqID].Load()
		start := w[wReqStart].Load()
		if start == 0 {
			continue
		}
		age := now.Sub(time.Unix(0, int64(start)))
		switch {
		case rt > 0 && age > rt:
			sv.timeoutRequest(c, o, id, age, now)
		case st > 0 && age > st && id != o.slowID:
			o.slowID = id
			w[wSlow].Add(1)
			sv.board.hdr[hSlowRequests].Add(1)
			what := sv.requestWords(s.i, id)
			var buf [msgHeader]byte
			m := message{kind: kindSlow, slot: s.i, pid: c.pid, gen: c.gen, arg: id}
			err := sv.sendTo(s, m.encode(buf[:]))
			attrs := []any{"slot", s.i, "pid", c.pid, "generation", c.gen, "request", what,
				"running_for", age.Round(time.Millisecond), "slow_timeout", st}
			if err != nil {
				attrs = append(attrs, "not_asked", err.Error())
			}
			sv.log.Warn("slow request; its worker writes its stacks to the slow log", attrs...)
		}
	}
}

// timeoutRequest stops the worker whose request id has run past
// RequestTimeout.
func (sv *supervisor) timeoutRequest(c *child, o *opsChild, id uint64, age time.Duration, now time.Time) {
	s := c.slot
	o.timedOut = true
	o.killAt = now.Add(timeoutKillGrace)
	sv.board.slots[s.i][wTimedOut].Add(1)
	sv.board.hdr[hTimedOutRequests].Add(1)
	what := sv.requestWords(s.i, id)
	sv.log.Warn("request timed out; stopping its worker, SIGKILL if it has not exited in "+timeoutKillGrace.String(),
		"slot", s.i, "pid", c.pid, "generation", c.gen, "request", what,
		"running_for", age.Round(time.Millisecond), "request_timeout", sv.cfg.RequestTimeout)
	var buf [msgHeader]byte
	m := message{kind: kindTimeout, slot: s.i, pid: c.pid, gen: c.gen, arg: id}
	sv.sendTo(s, m.encode(buf[:]))
	why := "request timeout: " + what + " ran " + age.Round(time.Millisecond).String()
	if c.draining {
		c.reason = why
		if c.deadline.After(o.killAt) {
			c.deadline = o.killAt
		}
		return
	}
	sv.stop(c, why, now)
}

// requestWords is what the slot says request id of slot i is, or its
// number when the worker has not described it yet.
func (sv *supervisor) requestWords(i int, id uint64) string {
	w := &sv.board.slots[i]
	if w[wDescID].Load() == id {
		what := sv.board.words(i, wDesc, descWords)
		if w[wDescID].Load() == id {
			return what
		}
	}
	return "request " + strconv.FormatUint(id, 10)
}

// serveTracked serves a raw Handler's connection as one request, from its
// hand-off to its close.
func (w *worker) serveTracked(c *countedConn, start uint64) {
	q := w.beginRequest(start, c, nil)
	defer w.endRequest(q)
	w.serve(c)
}

// connKey finds, in an HTTP request's context, the connection it came on.
type connKey struct{}

func connOf(r *http.Request) *countedConn {
	c, _ := r.Context().Value(connKey{}).(*countedConn)
	return c
}
