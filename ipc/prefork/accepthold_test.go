package prefork_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc/prefork"
)

// spinPID answers each line with the worker's pid after 30 ms of CPU: a
// handler that keeps its worker's Ps busy.
func spinPID(_ context.Context, c net.Conn) {
	r := bufio.NewReader(c)
	for {
		if _, err := r.ReadBytes('\n'); err != nil {
			return
		}
		for end := time.Now().Add(30 * time.Millisecond); time.Now().Before(end); {
		}
		if _, err := fmt.Fprintf(c, "%d SPIN\n", os.Getpid()); err != nil {
			return
		}
	}
}

// With AcceptHold the worker that accepted keeps the lock: connections
// that come one after another go to it, where with AcceptLock the workers
// take turns. Concurrent clients are all answered and counted; kill -9 of
// the holder gives the lock back (SEM_UNDO) and another worker takes the
// next connections; SIGTERM stops it all with nothing left.
func TestAcceptHold(t *testing.T) {
	before := ipctest.Snapshot()
	// A loaded test machine can make any turn late (the thread put off
	// the CPU), and the lock then moves: these workers allow a turn a
	// second, so that what is tested is the keeping.
	s := startServerEnv(t, []string{holdBusyEnv + "=1s"}, "role="+modeRole, "accept=hold", "workers=3", "handler=pid", "graceful=2s")
	const n = 60
	per := map[int]int{}
	for range n {
		c, r := dial(t, s.addr)
		per[pidOf(t, c, r, "hold")]++
		c.Close()
	}
	t.Logf("%d connections one after another: per worker pid %v", n, per)
	// Turns would give each of 3 workers a third.
	if len(per) != 1 {
		t.Errorf("%d connections one after another went to %d workers, want one: %v", n, len(per), per)
	}
	for pid, k := range askMany(t, s.addr, 200) {
		per[pid] += k
	}
	st := s.waitStatus(5*time.Second, "every connection closed", allClosed)
	var total uint64
	for _, w := range st.Workers {
		total += w.Connections
		if int(w.Connections) != per[w.PID] {
			t.Errorf("worker %d counted %d connections, its clients saw %d", w.PID, w.Connections, per[w.PID])
		}
	}
	if total != n+200 || st.Total.Connections != n+200 {
		t.Errorf("workers counted %d connections, the server %d; want %d", total, st.Total.Connections, n+200)
	}

	// The holder is whoever took the last connection; kill it where it
	// waits for the next, lock in hand.
	st = s.waitStatus(5*time.Second, "a lock holder", func(st prefork.Status) bool { return st.LockHolder != 0 })
	holder := st.LockHolder
	if per[holder] == 0 {
		t.Errorf("the lock holder %d served none of the connections: %v", holder, per)
	}
	syscall.Kill(holder, syscall.SIGKILL)
	waitGone(t, 5*time.Second, []int{holder})
	start := time.Now()
	after := askMany(t, s.addr, 20)
	if after[holder] != 0 {
		t.Errorf("the killed holder %d served %d connections", holder, after[holder])
	}
	// SEM_UNDO's release is immediate: the 20 are not served a lock
	// watch's second later.
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("20 clients after the holder's kill took %v", took)
	}
	s.waitStatus(10*time.Second, "the killed holder replaced", func(st prefork.Status) bool {
		for _, w := range st.Workers {
			if w.PID == holder {
				return false
			}
		}
		return len(st.Workers) == 3 && allReady(st)
	})
	askMany(t, s.addr, 20)

	// A reload: the old holder drains and gives the lock back, and the
	// new generation serves.
	s.signal(syscall.SIGHUP)
	st = s.waitStatus(10*time.Second, "generation 2", func(st prefork.Status) bool {
		for _, w := range st.Workers {
			if w.Generation != 2 || w.State == "starting" || w.State == "stopping" {
				return false
			}
		}
		return st.Generation == 2 && len(st.Workers) == 3
	})
	gen2 := map[int]bool{}
	for _, w := range st.Workers {
		gen2[w.PID] = true
	}
	for pid := range askMany(t, s.addr, 20) {
		if !gen2[pid] {
			t.Errorf("after the reload, %d (not of generation 2) served", pid)
		}
	}
	noZombies(t, s.cmd.Pid())

	stopLeavingNothing(t, s, before)
}

// A holder whose CPUs are taken gives the lock back. With one P a worker,
// a client whose handler spins keeps its worker's P busy; the accept loop
// of that worker, the holder, then comes back to its next turn late (after
// the spinning goroutine's time slice), gives the lock back, and the
// clients that come next go to another worker. (A burst that comes while
// the holder is idle all goes to it: nothing is busy yet when it accepts.)
func TestAcceptHoldGivesBackWhenBusy(t *testing.T) {
	before := ipctest.Snapshot()
	s := startServerEnv(t, []string{"GOMAXPROCS=1"}, "role="+modeRole, "accept=hold", "workers=3", "handler=spin")
	busy, busyR := dial(t, s.addr)
	defer busy.Close()
	spin := func(c net.Conn, r *bufio.Reader) int {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		var pid int
		got, err := "", error(nil)
		if _, err = fmt.Fprintln(c, "spin"); err == nil {
			got, err = r.ReadString('\n')
		}
		if _, serr := fmt.Sscanf(got, "%d SPIN", &pid); err != nil || serr != nil {
			t.Errorf("spin: %q, %v", got, err)
		}
		return pid
	}
	busyPID := spin(busy, busyR)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				spin(busy, busyR)
			}
		}
	}()
	const n = 10
	per := map[int]int{}
	for range n {
		c, r := dial(t, s.addr)
		per[spin(c, r)]++
		c.Close()
	}
	close(stop)
	<-done
	busy.Close()
	t.Logf("the busy worker %d; %d clients one after another: per worker pid %v", busyPID, n, per)
	if per[busyPID] == n {
		t.Errorf("the busy worker %d took all %d connections that came while its P was busy", busyPID, n)
	}
	stopLeavingNothing(t, s, before)
}
