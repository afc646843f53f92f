package prefork_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/ipc/prefork"
)

// forkChild waits for the scoreboard to show one live child and returns
// its pid.
func forkChild(s *server, not ...int) int {
	s.t.Helper()
	var pid int
	s.waitStatus(5*time.Second, "a child", func(st prefork.Status) bool {
		for _, w := range st.Workers {
			if w.Child && w.State != "starting" && !contains(not, w.PID) {
				pid = w.PID
				return true
			}
		}
		return false
	})
	return pid
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Each way a fork child can end, stop or go on is logged in the textbook's
// words: stopped by signal 19, continued, exited with code 0 (SIGTERM: it
// finishes as a worker does), killed by signal 11 (a fault), killed by
// signal 9; the client of a child that dies loses only its connection.
func TestForkChildEnds(t *testing.T) {
	s := startServer(t, "mode=fork", "role="+modeRole, "handler=segv", "graceful=300ms")
	words := func(pid int, w string) {
		t.Helper()
		s.waitEvent(fmt.Sprintf("child %d %s", pid, w), 5*time.Second, nil)
	}
	other, otherR := dial(t, s.addr)
	defer other.Close()
	fmt.Fprintln(other, "first")
	if got, err := otherR.ReadString('\n'); err != nil || got != "FIRST\n" {
		t.Fatalf("%q, %v", got, err)
	}
	bystander := forkChild(s)

	c, r := dial(t, s.addr)
	defer c.Close()
	child := forkChild(s, bystander)
	syscall.Kill(child, syscall.SIGSTOP)
	words(child, "stopped by signal 19")
	syscall.Kill(child, syscall.SIGCONT)
	words(child, "continued")
	fmt.Fprintln(c, "after")
	if got, err := r.ReadString('\n'); err != nil || got != "AFTER\n" {
		t.Errorf("after SIGCONT: %q, %v", got, err)
	}
	syscall.Kill(child, syscall.SIGTERM)
	words(child, "exited with code 0")

	c2, _ := dial(t, s.addr)
	defer c2.Close()
	child = forkChild(s, bystander)
	fmt.Fprintln(c2, "segv")
	words(child, "killed by signal 11")

	c3, r3 := dial(t, s.addr)
	defer c3.Close()
	child = forkChild(s, bystander)
	syscall.Kill(child, syscall.SIGKILL)
	words(child, "killed by signal 9")
	c3.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r3.ReadString('\n'); err == nil {
		t.Error("the killed child's connection still answers")
	}

	fmt.Fprintln(other, "still")
	if got, err := otherR.ReadString('\n'); err != nil || got != "STILL\n" {
		t.Errorf("the bystander: %q, %v", got, err)
	}
	other.Close()
	words(bystander, "exited with code 0")
	noZombies(t, s.cmd.Pid())
	s.signal(syscall.SIGTERM)
	if st := s.wait(10 * time.Second); !st.Success() {
		t.Errorf("supervisor: %v", st)
	}
}

// --max-children holds under 500 connection attempts at once: never more
// children alive than the bound (the scoreboard's and /proc's count),
// every client answered once a child is free.
func TestForkMaxChildren(t *testing.T) {
	const bound = 5
	attempts := 500
	if raceEnabled {
		// A child's start costs ~10 times as much under the race
		// detector: 500 of them at 5 at a time take longer than a
		// client waits.
		attempts = 100
	}
	s := startServer(t, "mode=fork", "role="+modeRole, "handler=upper", "maxchildren="+fmt.Sprint(bound))
	var most, mostProcs atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if st, err := s.state.Status(); err == nil && int64(len(st.Workers)) > most.Load() {
				most.Store(int64(len(st.Workers)))
			}
			// The supervisor's children: the live ones and the janitor.
			if n := int64(len(childrenOf(s.cmd.Pid(), false))) - 1; n > mostProcs.Load() {
				mostProcs.Store(n)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			line := fmt.Sprintf("attempt %d", i)
			if got, err := ask(s.addr, line); err != nil || got != strings.ToUpper(line) {
				if failed.Add(1) <= 5 {
					t.Errorf("%q: %q, %v", line, got, err)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	st := s.waitStatus(5*time.Second, "no child left", func(st prefork.Status) bool { return len(st.Workers) == 0 })
	t.Logf("%d attempts, bound %d: at most %d children in the scoreboard, %d processes; forked %d", attempts, bound, most.Load(), mostProcs.Load(), st.Forked)
	if most.Load() > bound || mostProcs.Load() > bound {
		t.Errorf("more children than --max-children %d: %d in the scoreboard, %d processes", bound, most.Load(), mostProcs.Load())
	}
	if most.Load() < 2 {
		t.Errorf("at most %d child at once: the load did not test the bound", most.Load())
	}
	if failed.Load() > 0 || int(st.Forked) != attempts || int(st.Exited.Connections) != attempts {
		t.Errorf("%d failed; forked %d, served %d of %d", failed.Load(), st.Forked, st.Exited.Connections, attempts)
	}
}
