package main

import (
	"bufio"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// In fork mode ipc status speaks of children in its pool part too: a child
// holding its client is busy, the bound is MaxChildren as SIGTTOU moves it
// (not the scoreboard's slots), a child that ended is an exited child, and
// of the pool's counters (which count nothing in fork mode) only the crash
// breaker's are shown, as children's (TestStatusForkCrashes makes them
// count).
func TestStatusForkChildren(t *testing.T) {
	s := startServe(t, "--mode", "fork", "--max-children", "4", "--handler", "upper")
	c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "hold\n")
	if got, err := bufio.NewReader(c).ReadString('\n'); err != nil || got != "HOLD\n" {
		t.Fatalf("first line: %q, %v", got, err)
	}

	head := "^server pid " + strconv.Itoa(s.pid) + " on " + regexp.QuoteMeta(s.addr) + ", generation 1, "
	// wait reads ipc status until its first two lines match, and checks
	// that they name no worker and no pool.
	wait := func(what string, first, second *regexp.Regexp) {
		t.Helper()
		var lines []string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			lines = strings.SplitN(s.status(t), "\n", 3)
			if len(lines) == 3 && first.MatchString(lines[0]) && second.MatchString(lines[1]) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: ipc status:\n%s\nwant lines matching\n%s\n%s", what, strings.Join(lines, "\n"), first, second)
			}
		}
		if h := strings.Join(lines[:2], "\n"); strings.Contains(h, "worker") || strings.Contains(h, "pool") {
			t.Errorf("%s: ipc status in fork mode speaks of workers or a pool:\n%s", what, h)
		}
		t.Logf("%s:\n%s\n%s", what, lines[0], lines[1])
	}
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
