package main

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ipc proc-demo shows each state a child goes through, in words and in
// order: the zombie's Z from /proc, statuses 3 and 7 decoded, WNOHANG
// polls, SIGCHLD reaping, stopped, continued, terminated.
func TestProcDemo(t *testing.T) {
	out, err := exec.Command(ipcBin, "proc-demo", "--delay", "60ms").Output()
	if err != nil {
		t.Fatalf("proc-demo: %v\n%s", err, out)
	}
	// Step 4's children end 60 ms apart, the last started first: which
	// ends when depends on how fast they start on a loaded machine, so
	// only the set of statuses is required.
	for _, code := range []string{"0", "1", "2"} {
		if !regexp.MustCompile(`SIGCHLD: reaped child \d+: exited with status ` + code + ` \(\d left\)`).Match(out) {
			t.Errorf("step 4 did not reap the child that exits with %s:\n%s", code, out)
		}
	}
	demoSteps(t, string(out), []string{
		"this same binary started again (/proc/self/exe)",
		"step 1:", "state Z (zombie)", "exited with status 0; now /proc/", " is gone",
		"step 2:", "status word 0x0300: WIFEXITED, normal termination, exit status = 3",
		"status word 0x0700: WIFEXITED, normal termination, exit status = 7",
		"step 3:", "poll 1: waitid(WEXITED|WNOHANG) returned at once: child", "still running", "WNOHANG) found child",
		"step 4:", "SIGCHLD: reaped child", "(2 left)", "SIGCHLD: reaped child", "(1 left)", "SIGCHLD: reaped child", "(0 left)",
		"step 5:", "sending SIGSTOP", "stopped by signal 19", "state T (stopped)", "WIFSTOPPED",
		"sending SIGCONT", "continued;", "WIFCONTINUED",
		"sending SIGTERM", "killed by signal 15 (terminated)", "WIFSIGNALED",
		"done: every child reaped",
	})
	if _, _, code := ipcRun(t, nil, "proc-demo", "--delay", "-1s"); code != 2 {
		t.Errorf("proc-demo --delay -1s: exit %d, want 2", code)
	}
}

// Ctrl-C in the middle: every child killed and reaped, status 130.
func TestProcDemoInterrupt(t *testing.T) {
	cmd := exec.Command(ipcBin, "proc-demo", "--delay", "200ms")
	pr, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	watchdog := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	defer watchdog.Stop()
	started := regexp.MustCompile(`started child (\d+)`)
	var pids []string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if m := started.FindStringSubmatch(sc.Text()); m != nil {
			pids = append(pids, m[1])
		}
		if strings.Contains(sc.Text(), "step 4:") {
			break
		}
	}
	for sc.Scan() {
		if m := started.FindStringSubmatch(sc.Text()); m != nil {
			pids = append(pids, m[1])
		}
		if strings.Contains(sc.Text(), "which exits with 2") {
			break // all three of step 4 are running
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var rest strings.Builder
	for sc.Scan() {
		rest.WriteString(sc.Text() + "\n")
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit status %d after SIGINT, want 130:\n%s", code, rest.String())
	}
	if !strings.Contains(rest.String(), "caught interrupt: killing and reaping") {
		t.Errorf("after SIGINT:\n%s", rest.String())
	}
	if len(pids) < 5 {
		t.Fatalf("saw only %d children start", len(pids))
	}
	// The three of step 4 were running: each is reaped before the exit.
	for _, pid := range pids[len(pids)-3:] {
		if !strings.Contains(rest.String(), "reaped child "+pid+": ") {
			t.Errorf("child %s was not reaped by the demo:\n%s", pid, rest.String())
		}
	}
	for _, pid := range pids {
		if _, err := os.Stat("/proc/" + pid); err == nil {
			t.Errorf("child %s is still there (a zombie or alive)", pid)
		}
	}
}
