package prefork

import (
	"sync/atomic"
	"testing"
	"time"
)

// heapWorker is a worker whose scoreboard slot is plain memory, for the
// request tracking's own tests.
func heapWorker() *worker {
	b := &board{slots: make([][slotWords]*atomic.Uint64, 1)}
	for i := range b.hdr {
		b.hdr[i] = new(atomic.Uint64)
	}
	for i := range b.slots[0] {
		b.slots[0][i] = new(atomic.Uint64)
	}
	return &worker{board: b, slot: &b.slots[0]}
}

// The slot names the oldest running request as requests begin and end in
// any order.
func TestOldestRequest(t *testing.T) {
	w := heapWorker()
	oldest := func() (uint64, uint64) { return w.slot[wReqStart].Load(), w.slot[wReqID].Load() }
	a := w.beginRequest(100, nil, nil)
	b := w.beginRequest(200, nil, nil)
	c := w.beginRequest(300, nil, nil)
	if s, id := oldest(); s != 100 || id != a.id {
		t.Errorf("oldest %d (id %d), want 100 (id %d)", s, id, a.id)
	}
	w.endRequest(b) // the middle one: the oldest stays
	if s, id := oldest(); s != 100 || id != a.id {
		t.Errorf("after the middle ended: %d (id %d)", s, id)
	}
	w.endRequest(a)
	if s, id := oldest(); s != 300 || id != c.id {
		t.Errorf("after the oldest ended: %d (id %d), want 300 (id %d)", s, id, c.id)
	}
	if _, what, ok := w.findRequest(c.id); !ok || what != "connection from ?" {
		t.Errorf("findRequest(%d) = %q, %v", c.id, what, ok)
	}
	w.endRequest(c)
	if s, _ := oldest(); s != 0 {
		t.Errorf("none running: start %d, want 0", s)
	}
	if _, _, ok := w.findRequest(c.id); ok {
		t.Error("an ended request is still found")
	}
}

// The describer parks while no request runs, wakes for the next one,
// describes it in the slot once it has run describeAfter, and parks again
// when it ends.
func TestDescriberParks(t *testing.T) {
	w := heapWorker()
	w.drained = make(chan struct{})
	w.reqs.wake = make(chan struct{}, 1)
	done := make(chan struct{})
	go func() { w.describer(); close(done) }()
	parked := func() bool {
		w.reqs.mu.Lock()
		defer w.reqs.mu.Unlock()
		return w.reqs.parked
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for end := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("5s and still not %s", what)
			}
		}
	}
	waitFor("parked with no request", parked)
	for round := range 3 {
		q := w.beginRequest(now(), nil, nil)
		if parked() {
			t.Fatalf("round %d: a request began and the describer is still parked", round)
		}
		began := time.Now()
		waitFor("described", func() bool { return w.slot[wDescID].Load() == q.id })
		if took := time.Since(began); took < describeAfter {
			t.Errorf("round %d: described after %v, before describeAfter (%v)", round, took, describeAfter)
		}
		if got := w.board.words(0, wDesc, descWords); got != "connection from ?" {
			t.Errorf("round %d: the slot says %q", round, got)
		}
		w.endRequest(q)
		waitFor("parked again", parked)
	}
	close(w.drained)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the describer of a drained worker still runs")
	}
}

// What tracking costs a request: one begin and one end, with none other
// running (each is then the oldest: the most stores).
func BenchmarkRequestTracking(b *testing.B) {
	w := heapWorker()
	b.ReportAllocs()
	for i := range b.N {
		w.endRequest(w.beginRequest(uint64(i), nil, nil))
	}
}

// The clock read the accept loop adds per lock acquisition.
func BenchmarkNow(b *testing.B) {
	var sink uint64
	for range b.N {
		sink += now()
	}
	_ = sink
}
