package prefork_test

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/ipc/prefork"
)

// A 2 s request with SlowTimeout 500ms: one slow-log entry, written while
// the request runs, names the worker, the request and how long it had
// run, holds the handler's stack, and the request still completes.
func TestSlowLog(t *testing.T) {
	slow := filepath.Join(t.TempDir(), "slow.log")
	o := startOps(t, "http", func(s *prefork.Server) {
		s.SlowTimeout, s.RequestTimeout, s.SlowLog = 500*time.Millisecond, 10*time.Second, slow
	})
	h := dialHTTP(t, o.addr)
	slot := h.slotOf(t)
	start := time.Now()
	code, body, err := h.get("/sleep?d=2s", 10*time.Second)
	took := time.Since(start)
	if err != nil || code != 200 || body != "slept 2s\n" || took < 2*time.Second {
		t.Fatalf("GET /sleep?d=2s: %d %q %v after %v", code, body, err, took)
	}
	b, err := os.ReadFile(slow)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	if n := strings.Count(log, " slow request in worker slot "); n != 1 {
		t.Fatalf("%d entries in the slow log, want 1:\n%s", n, log)
	}
	first, _, _ := strings.Cut(log, "\n")
	t.Logf("slow log, first line: %s", first)
	var pid int
	for _, w := range o.scoreboard().Workers {
		if w.Slot == slot {
			pid = w.PID
		}
	}
	for _, want := range []string{
		"slow request in worker slot " + strconv.Itoa(slot) + " pid " + strconv.Itoa(pid) + " generation 1: GET /sleep?d=2s from 127.0.0.1:",
		"goroutine ", "prefork_test.sleepHandler(", "reqtimeout_test.go:",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("slow log lacks %q:\n%s", want, log)
		}
	}
	// The request's goroutine comes first.
	if g := strings.Index(log, "\ngoroutine "); g < 0 || !strings.Contains(log[g:g+strings.Index(log[g+1:], "\n\n")+1], "prefork_test.sleepHandler(") {
		t.Errorf("the first goroutine is not the request's:\n%s", log)
	}
	if d, err := time.ParseDuration(strings.TrimSuffix(strings.Fields(first[strings.Index(first, "running for ")+12:])[0], ";")); err != nil || d < 500*time.Millisecond || d > 1500*time.Millisecond {
		t.Errorf("running for %v (%v) in %q", d, err, first)
	}
	e := o.waitEvent("slow request; its worker writes its stacks to the slow log", time.Second, nil)
	t.Logf("supervisor's line: %s", mustJSON(e))
	if got := o.log.events("slow request; its worker writes its stacks to the slow log"); len(got) != 1 || e.num("slot") != slot {
		t.Errorf("the supervisor logged %d slow requests (%v)", len(got), got)
	}
	st := o.scoreboard()
	if st.SlowRequests != 1 || st.TimedOutRequests != 0 {
		t.Errorf("slow %d, timed out %d; want 1, 0", st.SlowRequests, st.TimedOutRequests)
	}
	for _, w := range st.Workers {
		if want := map[bool]uint64{true: 1}[w.Slot == slot]; w.Slow != want {
			t.Errorf("slot %d counts %d slow requests, want %d", w.Slot, w.Slow, want)
		}
	}
	if lines := strings.Count(log, "\n"); len(b) > 256<<10+1024 || lines < 10 {
		t.Errorf("slow log: %d bytes, %d lines", len(b), lines)
	}
}

// Without SlowLog the entry is a record of the workers' Logger; a raw
// handler's request is its connection.
func TestSlowLogDefault(t *testing.T) {
	o := startOps(t, "raw", func(s *prefork.Server) { s.SlowTimeout = 300 * time.Millisecond })
	c := o.dialRaw(t, "sleep 1s")
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "done\n" {
		t.Fatalf("%q, %v", buf, err)
	}
	var ev []event
	for deadline := time.Now().Add(2 * time.Second); len(ev) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ev = o.workerEvents("slow request: the worker's goroutines")
	}
	if len(ev) != 1 {
		t.Fatalf("%d slow records in the workers' log, want 1", len(ev))
	}
	e := ev[0]
	if e.str("request") != "connection from "+c.LocalAddr().String() || !strings.Contains(e.str("stacks"), "prefork_test.sleepLines(") {
		t.Errorf("record: request %q, stacks:\n%s", e.str("request"), e.str("stacks"))
	}
}
