package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var demoLine = regexp.MustCompile(`^\[(\d+)\] (parent|child) +(.*)$`)

func TestSemDemoTurns(t *testing.T) {
	out, err := exec.Command(ipcBin, "sem-demo", "--rounds", "4", "--delay", "20ms").Output()
	if err != nil {
		t.Fatalf("sem-demo: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var turns []string
	pids := map[string]string{}
	for _, l := range lines {
		m := demoLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %q does not start with [pid] parent|child", l)
		}
		if old, ok := pids[m[2]]; ok && old != m[1] {
			t.Fatalf("%s printed with two pids: %s and %s", m[2], old, m[1])
		}
		pids[m[2]] = m[1]
		if strings.HasPrefix(m[3], "round ") {
			turns = append(turns, m[2])
		}
	}
	if len(turns) != 8 {
		t.Fatalf("%d turn lines, want 8:\n%s", len(turns), out)
	}
	for i, who := range turns {
		if want := []string{"parent", "child"}[i%2]; who != want {
			t.Fatalf("turn %d taken by %s, want strict alternation:\n%s", i+1, who, out)
		}
	}
	if last := lines[len(lines)-2]; !strings.HasSuffix(last, "child "+pids["child"]+" exited with status 0") {
		t.Fatalf("parent did not report the child's end: %q", last)
	}
	if !strings.Contains(lines[len(lines)-1], "removed semaphore set") {
		t.Fatalf("last line %q", lines[len(lines)-1])
	}
	noObjects(t)
}

func TestSemDemoMutex(t *testing.T) {
	out, err := exec.Command(ipcBin, "sem-demo", "--mode", "mutex", "--rounds", "3", "--delay", "30ms").Output()
	if err != nil {
		t.Fatalf("sem-demo --mode mutex: %v\n%s", err, out)
	}
	// Between "got it" and "releasing it" of one process, the other must
	// not get it.
	holder := ""
	got := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		m := demoLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %q", l)
		}
		switch {
		case strings.Contains(m[3], ": got it"):
			if holder != "" {
				t.Fatalf("%s got the mutex while %s held it:\n%s", m[2], holder, out)
			}
			holder = m[2]
			got[m[2]]++
		case strings.Contains(m[3], ": releasing it"):
			if holder != m[2] {
				t.Fatalf("%s released a mutex held by %q:\n%s", m[2], holder, out)
			}
			holder = ""
		}
	}
	if got["parent"] != 3 || got["child"] != 3 {
		t.Fatalf("each should hold it 3 times: %v\n%s", got, out)
	}
	noObjects(t)
}

// SIGINT or SIGTERM to the parent alone stops the child, removes the set and
// exits 128+signal within a second.
func TestDemoSignals(t *testing.T) {
	for _, demo := range []string{"sem-demo", "msgq-demo", "shm-demo", "pipe-demo"} {
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
			t.Run(demo+"/"+sig.String(), func(t *testing.T) { demoSignal(t, demo, sig) })
		}
	}
}

func demoSignal(t *testing.T, demo string, sig syscall.Signal) {
	{
		{
			cmd := exec.Command(ipcBin, demo, "--rounds", "1000", "--delay", "50ms")
			var rest bytes.Buffer
			pr, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(pr)
			var childPid int
			for sc.Scan() {
				if _, err := fmt.Sscanf(sc.Text()[strings.Index(sc.Text(), "started child ")+len("started child "):], "%d", &childPid); err == nil {
					break
				}
			}
			for sc.Scan() { // let the turns begin
				if strings.Contains(sc.Text(), "child  round") {
					break
				}
			}
			start := time.Now()
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			for sc.Scan() {
				rest.WriteString(sc.Text() + "\n")
			}
			err = cmd.Wait()
			if el := time.Since(start); el > time.Second {
				t.Errorf("took %v to stop", el)
			}
			if code := cmd.ProcessState.ExitCode(); code != 128+int(sig) {
				t.Errorf("exit status %d (%v), want %d", code, err, 128+int(sig))
			}
			if !strings.Contains(rest.String(), "child "+strconv.Itoa(childPid)+" ") || !strings.Contains(rest.String(), "removed ") && demo != "pipe-demo" {
				t.Errorf("output after the signal:\n%s", rest.String())
			}
			if childPid == 0 {
				t.Fatal("no child pid printed")
			}
			if _, err := os.Stat("/proc/" + strconv.Itoa(childPid)); err == nil {
				t.Errorf("child %d still exists", childPid)
			}
			noObjects(t)
		}
	}
}

func TestSemDemoUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--rounds", "0"}, {"--mode", "fifo"}, {"--delay", "-1s"}, {"extra"}, {"--rounds", "x"},
	} {
		var stderr bytes.Buffer
		code := run(append([]string{"ipc", "sem-demo"}, args...), &bytes.Buffer{}, &stderr)
		if code != 2 || strings.Count(stderr.String(), "\n") < 1 || !strings.HasPrefix(stderr.String(), "ipc: ") {
			t.Errorf("sem-demo %v: exit %d, stderr %q; want 2 and one ipc: line", args, code, stderr.String())
		}
	}
}

// noObjects fails the test if any object exists: the tests run alone in
// their own IPC namespace.
func noObjects(t *testing.T) {
	t.Helper()
	if n := ipcObjects(t); n != 0 {
		t.Fatalf("%d objects left behind", n)
	}
}

// The other demos print a line per step, reap the child, say how it ended
// and leave nothing behind.
func TestDemos(t *testing.T) {
	for _, demo := range []struct {
		name  string
		steps []string // substrings that must appear, in order
	}{
		{"msgq-demo", []string{"parent round 1/2: sent type 3", "-> type 1 \"a1\"", "-> type 1 \"a2\"", "-> type 2 \"b1\"", "-> type 3 \"c1\"", "-> type 5 \"e1\"", "-> type 3 \"c2\"", "round 2/2: got type 101", "exited with status 0", "removed queue"}},
		{"shm-demo", []string{"attached it (nattch 1)", "child  attached segment", "(nattch 2)", "read \"hello #1", "HELLO #1", "the child answered", "round 2/2", "child  detached (nattch 1)", "exited with status 0", "removed segment"}},
		{"pipe-demo", []string{"wrote \"line 1 from the parent\" into the pipe", "child  round 1/2: read \"line 1", "read \"LINE 1 FROM THE PARENT\"", "passing descriptor", "read \"written by", "the child reports", "exited with status 0", "deleted"}},
	} {
		t.Run(demo.name, func(t *testing.T) {
			out, err := exec.Command(ipcBin, demo.name, "--rounds", "2", "--delay", "0").Output()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			demoSteps(t, string(out), demo.steps)
			noObjects(t)
		})
	}
}

// kill -9 of a demo's child in the middle: the parent notices while it
// waits (on a semaphore, a queue, a socket), says how the child ended,
// removes its objects and exits non-zero, all within a second.
func TestDemoChildKilled(t *testing.T) {
	for _, demo := range []string{"sem-demo", "msgq-demo", "shm-demo", "pipe-demo"} {
		t.Run(demo, func(t *testing.T) {
			cmd := exec.Command(ipcBin, demo, "--rounds", "1000", "--delay", "50ms")
			pr, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// A parent that never notices would block this test forever.
			watchdog := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() })
			defer watchdog.Stop()
			sc := bufio.NewScanner(pr)
			childPid := 0
			for childPid == 0 && sc.Scan() {
				if _, after, ok := strings.Cut(sc.Text(), "started child "); ok {
					fmt.Sscanf(after, "%d", &childPid)
				}
			}
			for sc.Scan() && !strings.Contains(sc.Text(), "child  round") {
			}
			if childPid == 0 {
				t.Fatal("no child pid printed")
			}
			start := time.Now()
			if err := syscall.Kill(childPid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			var rest strings.Builder
			for sc.Scan() {
				rest.WriteString(sc.Text() + "\n")
			}
			err = cmd.Wait()
			elapsed := time.Since(start)
			if elapsed > time.Second {
				t.Errorf("the parent took %v to end after its child was killed", elapsed)
			}
			want := fmt.Sprintf("child %d killed by signal 9 (killed)", childPid)
			if code := cmd.ProcessState.ExitCode(); code == 0 || err == nil {
				t.Errorf("exit status %d, want non-zero", code)
			}
			if !strings.Contains(rest.String(), "parent child "+strconv.Itoa(childPid)+" killed by signal 9 (killed)\n") {
				t.Errorf("the parent did not say %q:\n%s", want, rest.String())
			}
			if stderr.String() != "ipc: "+want+"\n" {
				t.Errorf("stderr %q, want the one line %q", stderr.String(), "ipc: "+want)
			}
			if demo == "pipe-demo" {
				if !strings.Contains(rest.String(), "deleted ") {
					t.Errorf("pipe-demo did not delete its file:\n%s", rest.String())
				}
			} else if !strings.Contains(rest.String(), "removed ") {
				t.Errorf("%s did not say it removed its objects:\n%s", demo, rest.String())
			}
			noObjects(t)
			t.Logf("ended %v after the kill", elapsed.Round(time.Millisecond))
		})
	}
}

// demoSteps fails the test unless out, a demo's output, has each of steps
// in order and every line starts with "[pid] parent" or "[pid] child".
func demoSteps(t *testing.T, out string, steps []string) {
	t.Helper()
	rest := out
	for _, step := range steps {
		i := strings.Index(rest, step)
		if i < 0 {
			t.Fatalf("%q missing or out of order in:\n%s", step, out)
		}
		rest = rest[i+len(step):]
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !demoLine.MatchString(l) {
			t.Fatalf("line %q does not start with [pid] parent|child", l)
		}
	}
}
