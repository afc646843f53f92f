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

// ipc status in fork mode counts crashed children and the crash breaker's
// trips in its text, as prefork mode counts crashed workers: two children
// killed from outside with --crash-limit 2 trip the breaker, whose restart
// (the default action) moves the generation on while the child holding its
// client goes on serving it.
func TestStatusForkCrashes(t *testing.T) {
	s := startServe(t, "--mode", "fork", "--max-children", "4", "--handler", "upper", "--crash-limit", "2", "--crash-window", "30s")
	// hold connects and has a child answer one line; its pid is the one
	// child in ipc status --json not in known.
	known := map[int]bool{}
	hold := func(line string) (net.Conn, *bufio.Reader, int) {
		t.Helper()
		c, r := holdChild(t, s.addr, line)
		for _, w := range s.statusJSON(t).Workers {
			if !known[w.PID] {
				known[w.PID] = true
				return c, r, w.PID
			}
		}
		t.Fatalf("%s: no new child in ipc status --json", line)
		return nil, nil, 0
	}
	wait := func(what string, first, second *regexp.Regexp) { t.Helper(); waitForkStatus(t, s, what, first, second) }
	head := func(gen, children int) *regexp.Regexp {
		return regexp.MustCompile("^server pid " + strconv.Itoa(s.pid) + " on " + regexp.QuoteMeta(s.addr) + ", generation " + strconv.Itoa(gen) +
			", " + strconv.Itoa(children) + " of 4 children, ")
	}
	counters := func(crashed, trips int) *regexp.Regexp {
		return regexp.MustCompile("; children crashed " + strconv.Itoa(crashed) + ", crash breaker trips " + strconv.Itoa(trips) + "$")
	}

	slow, slowR, _ := hold("hold")
	defer slow.Close()
	c, _, pid := hold("first")
	defer c.Close()
	syscall.Kill(pid, syscall.SIGKILL)
	wait("one child killed", head(1, 1), counters(1, 0))
	c2, _, pid := hold("second")
	defer c2.Close()
	syscall.Kill(pid, syscall.SIGKILL)
	wait("two children killed: the breaker restarts", head(2, 1), counters(2, 1))

	io.WriteString(slow, "still\n")
	if got, err := slowR.ReadString('\n'); err != nil || got != "STILL\n" {
		t.Errorf("the child holding its client at the trip: %q, %v", got, err)
	}
	out := s.stderr.String()
	for _, want := range []string{`msg="CRASH LIMIT REACHED: children keep crashing"`, `msg="restarting every child after the crash limit"`} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in the log:\n%s", want, out)
		}
	}
	slow.Close()
	wait("its client gone", head(2, 0), counters(2, 1))

	s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.done
	if s.err != nil {
		t.Errorf("ipc serve: %v", s.err)
	}
	noObjects(t)
}

// holdChild connects to addr and has the child started for it answer
// line (the upper handler), leaving the connection open: the child stays.
func holdChild(t *testing.T, addr, line string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	io.WriteString(c, line+"\n")
	if got, err := r.ReadString('\n'); err != nil || got != strings.ToUpper(line)+"\n" {
		c.Close()
		t.Fatalf("%s: %q, %v", line, got, err)
	}
	return c, r
}

// waitForkStatus reads ipc status of the fork server s until its first two
// lines match first and second, and checks that they name no worker and
// no pool.
func waitForkStatus(t *testing.T, s *serveProc, what string, first, second *regexp.Regexp) {
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

// --on-crash-limit exit in fork mode: ipc serve exits 1 saying that
// children crashed, in the log line too.
func TestServeForkCrashLimitExit(t *testing.T) {
	s := startServe(t, "--mode", "fork", "--max-children", "4", "--handler", "upper", "--crash-limit", "2", "--crash-window", "30s", "--on-crash-limit", "exit")
	killed := map[int]bool{}
	for i := range 2 {
		c, _ := holdChild(t, s.addr, "hold "+strconv.Itoa(i))
		defer c.Close()
		for _, w := range s.statusJSON(t).Workers {
			if !killed[w.PID] {
				killed[w.PID] = true
				syscall.Kill(w.PID, syscall.SIGKILL)
			}
		}
	}
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		t.Fatal("ipc serve still running after 2 children crashed with --crash-limit 2")
	}
	out := s.stderr.String()
	if code := exitCode(s.err); code != 1 || !strings.Contains(out, "ipc: prefork: 2 children crashed within 30s (the crash limit); the last: slot ") ||
		!strings.Contains(out, `msg="CRASH LIMIT REACHED: children keep crashing"`) || strings.Contains(out, "workers crashed") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "CRASH") || strings.HasPrefix(l, "ipc: ") {
			t.Logf("%s", l)
		}
	}
	noObjects(t)
}
