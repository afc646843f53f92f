package prefork_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc/prefork"
)

// The per-worker counts the server logs on SIGUSR1 and SIGINT, in the
// book's words ("child 0, 104 connections"), are what the clients saw:
// each client learns which worker's pid served it.
func TestPassCountsOnSIGINT(t *testing.T) {
	s := startServer(t, "mode=pass", "role="+modeRole, "workers=3", "handler=pid")
	// Few clients at once, as the book's client: the first idle worker,
	// lowest slot first, gets most.
	seen := map[int]int{}
	for range 150 {
		for pid, n := range askMany(t, s.addr, 2) {
			seen[pid] += n
		}
	}
	st := s.waitStatus(5*time.Second, "every connection closed", allClosed)
	book := regexp.MustCompile(`^child (\d+), (\d+) connections$`)
	counts := func(events []event) map[int]int {
		got := map[int]int{}
		for _, e := range events {
			m := book.FindStringSubmatch(e.str("msg"))
			n, _ := strconv.Atoi(m[2])
			if slot, _ := strconv.Atoi(m[1]); slot != e.num("slot") || n != e.num("connections") {
				t.Errorf("a count line that contradicts itself: %v", e)
			}
			got[e.num("pid")] = n
		}
		return got
	}
	lines := func() []event {
		var out []event
		for _, line := range strings.Split(s.log.String(), "\n") {
			var e event
			if json.Unmarshal([]byte(line), &e) == nil && book.MatchString(e.str("msg")) {
				out = append(out, e)
			}
		}
		return out
	}
	s.signal(syscall.SIGUSR1)
	s.waitEvent("connections passed", 5*time.Second, nil)
	if got := counts(lines()); fmt.Sprint(got) != fmt.Sprint(seen) {
		t.Errorf("SIGUSR1 logged %v, the clients saw %v", got, seen)
	}
	before := len(lines())
	s.signal(syscall.SIGINT)
	s.wait(10 * time.Second)
	all := lines()
	if got := counts(all[before:]); fmt.Sprint(got) != fmt.Sprint(seen) {
		t.Errorf("SIGINT logged %v, the clients saw %v", got, seen)
	}
	for _, l := range all[before:] {
		t.Log(l.str("msg"))
	}
	if len(st.Workers) != 3 || st.Passed != 300 {
		t.Errorf("status: %d workers, %d passed", len(st.Workers), st.Passed)
	}
}

// No descriptor leaks in the supervisor or the workers over 10,000
// passed connections: /proc/PID/fd counts the same before and after.
func TestPassNoFDLeaks(t *testing.T) {
	s := startServer(t, "mode=pass", "role="+modeRole, "workers=2", "handler=upper")
	clientsUpper(t, s.addr, 50) // each process's runtime makes its poller now
	st := s.waitStatus(5*time.Second, "idle", allClosed)
	pids := []int{s.cmd.Pid()}
	for _, w := range st.Workers {
		pids = append(pids, w.PID)
	}
	fds := func() []int {
		n := make([]int, len(pids))
		for i, p := range pids {
			n[i] = openFDs(p)
		}
		return n
	}
	start := fds()
	const total, parallel = 10000, 20
	begun := time.Now()
	var wg sync.WaitGroup
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range total / parallel {
				line := "c" + strconv.Itoa(j)
				if got, err := ask(s.addr, line); err != nil || got != strings.ToUpper(line) {
					t.Errorf("%q: %q, %v", line, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(begun)
	st = s.waitStatus(5*time.Second, "idle", allClosed)
	end := fds()
	t.Logf("%d connections in %v; descriptors of supervisor, workers: %v before, %v after", total, took.Round(time.Millisecond), start, end)
	if fmt.Sprint(start) != fmt.Sprint(end) {
		t.Errorf("descriptors leaked: %v before, %v after (pids %v)", start, end, pids)
		for _, p := range pids {
			t.Logf("%d: %v", p, ipctest.FDs(p))
		}
	}
	if st.Passed != total+50 {
		t.Errorf("passed %d, want %d", st.Passed, total+50)
	}
	_ = prefork.ModePass
}
