package main

import (
	"regexp"
	"strconv"
	"syscall"
	"testing"
)

// In fork mode ipc status speaks of children in its pool part too: a child
// holding its client is busy, the bound is MaxChildren as SIGTTOU moves it
// (not the scoreboard's slots), a child that ended is an exited child, and
// of the pool's counters (which count nothing in fork mode) only the crash
// breaker's are shown, as children's (TestStatusForkCrashes makes them
// count).
func TestStatusForkChildren(t *testing.T) {
	s := startServe(t, "--mode", "fork", "--max-children", "4", "--handler", "upper")
	c, _ := holdChild(t, s.addr, "hold")
	defer c.Close()

	head := "^server pid " + strconv.Itoa(s.pid) + " on " + regexp.QuoteMeta(s.addr) + ", generation 1, "
	wait := func(what string, first, second *regexp.Regexp) { t.Helper(); waitForkStatus(t, s, what, first, second) }
	wait("a child holding its client",
		regexp.MustCompile(head+`1 of 4 children, up \S+, children: 0 idle, 1 busy, at most 4 alive at once$`),
		regexp.MustCompile(`^connections 1 \(0 by exited children\), requests \d+, bytes in \d+, out \d+, slow requests 0, timed out 0; children crashed 0, crash breaker trips 0$`))

	c.Close()
	s.cmd.Process.Signal(syscall.SIGTTOU)
	wait("its client gone, after SIGTTOU",
		regexp.MustCompile(head+`0 of 3 children, up \S+, children: 0 idle, 0 busy, at most 3 alive at once$`),
		regexp.MustCompile(`^connections 1 \(1 by exited children\), requests 1, bytes in 5, out 5, slow requests 0, timed out 0; children crashed 0, crash breaker trips 0$`))

	s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.done
	if s.err != nil {
		t.Errorf("ipc serve: %v", s.err)
	}
	noObjects(t)
}
