package proc_test

import (
	"io"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/ipc/proc"
)

// Many children, ending in every way, all reaped before anyone reads Exits:
// no zombie is ever left, and each end is delivered once.
func TestGroupReapsEveryChild(t *testing.T) {
	const exiters, sleepers = 16, 8
	var g proc.Group
	t.Cleanup(func() { g.Signal(syscall.SIGKILL) })
	want := map[int]string{}
	// Started from many goroutines at once.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range exiters {
		wg.Go(func() {
			c := proc.Command("exit", strconv.Itoa(i%4))
			c.Stdout = io.Discard
			if err := g.Start(c); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			want[c.Pid()] = "exited with status " + strconv.Itoa(i%4)
			mu.Unlock()
		})
	}
	wg.Wait()
	// Nobody reads Exits yet, and still every child is reaped: not a zombie,
	// not there at all.
	waitNoChildren(t)
	// The kernel's reap comes a moment before the group's bookkeeping.
	for deadline := time.Now().Add(time.Second); g.Len() != 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if n := g.Len(); n != 0 {
		t.Errorf("Len() = %d a second after every child was reaped", n)
	}

	for range sleepers {
		c := proc.Command("sleep")
		if err := g.Start(c); err != nil {
			t.Fatal(err)
		}
		want[c.Pid()] = "killed by signal 15 (terminated)"
	}
	if n, r := g.Len(), len(g.Running()); n != sleepers || r != sleepers {
		t.Errorf("Len() = %d, %d Running, want %d", n, r, sleepers)
	}
	if err := g.Signal(syscall.SIGTERM); err != nil {
		t.Error(err)
	}
	waitNoChildren(t)

	g.Close()
	if err := g.Start(proc.Command("sleep")); err != proc.ErrGroupClosed {
		t.Errorf("Start after Close: %v", err)
	}
	got := map[int]string{}
	for e := range g.Exits() {
		if e.Err != nil {
			t.Errorf("child %d: %v", e.Cmd.Pid(), e.Err)
		}
		if e.Status.Pid() != e.Cmd.Pid() {
			t.Errorf("status of %d delivered for %d", e.Status.Pid(), e.Cmd.Pid())
		}
		if _, dup := got[e.Cmd.Pid()]; dup {
			t.Errorf("child %d delivered twice", e.Cmd.Pid())
		}
		got[e.Cmd.Pid()] = e.Status.String()
	}
	if len(got) != len(want) {
		t.Errorf("%d exits delivered, want %d", len(got), len(want))
	}
	for pid, w := range want {
		if got[pid] != w {
			t.Errorf("child %d: %q, want %q", pid, got[pid], w)
		}
	}
}

// A closed group with nothing running closes Exits at once.
func TestGroupCloseEmpty(t *testing.T) {
	var g proc.Group
	g.Close()
	g.Close()
	select {
	case _, ok := <-g.Exits():
		if ok {
			t.Error("an Exit from an empty group")
		}
	case <-time.After(time.Second):
		t.Error("Exits not closed")
	}
}

// waitNoChildren waits until this process has no child left, zombie or not.
func waitNoChildren(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		left := children(t)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("children left unreaped (pid: state): %v", left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// OnEvent sees a child's stop and continue, in order, from the goroutine
// that then reaps it.
func TestGroupOnEvent(t *testing.T) {
	events := make(chan string, 4)
	g := proc.Group{OnEvent: func(c *proc.Cmd, ev proc.Status) { events <- ev.String() }}
	c := proc.Command("sleep")
	if err := g.Start(c); err != nil {
		t.Fatal(err)
	}
	next := func() string {
		select {
		case e := <-events:
			return e
		case <-time.After(5 * time.Second):
			t.Fatal("no event")
		}
		return ""
	}
	c.Signal(syscall.SIGSTOP)
	if e := next(); e != "stopped by signal 19 (stopped (signal))" {
		t.Errorf("after SIGSTOP: %q", e)
	}
	c.Signal(syscall.SIGCONT)
	if e := next(); e != "continued" {
		t.Errorf("after SIGCONT: %q", e)
	}
	c.Signal(syscall.SIGKILL)
	if ex := <-g.Exits(); ex.Status.Signal() != syscall.SIGKILL {
		t.Errorf("exit %v", ex.Status)
	}
	g.Close()
}
