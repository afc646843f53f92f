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

	"github.com/ipctoolkit/ipc/ipc"
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
	noSets(t)
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
	noSets(t)
}

// SIGINT or SIGTERM to the parent alone stops the child, removes the set and
// exits 128+signal within a second.
func TestSemDemoSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(ipcBin, "sem-demo", "--rounds", "1000", "--delay", "50ms")
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
			if !strings.Contains(rest.String(), "child "+strconv.Itoa(childPid)+" ") || !strings.Contains(rest.String(), "removed semaphore set") {
				t.Errorf("output after the signal:\n%s", rest.String())
			}
			if childPid == 0 {
				t.Fatal("no child pid printed")
			}
			if _, err := os.Stat("/proc/" + strconv.Itoa(childPid)); err == nil {
				t.Errorf("child %d still exists", childPid)
			}
			noSets(t)
		})
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

func noSets(t *testing.T) {
	t.Helper()
	sets, err := ipc.Semaphores()
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) != 0 {
		t.Fatalf("semaphore sets left behind: %+v", sets)
	}
}
