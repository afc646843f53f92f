package proc_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/ipc/proc"
	"golang.org/x/sys/unix"
)

func TestRoleArgsAndExitCode(t *testing.T) {
	for _, code := range []int{0, 3} {
		var out bytes.Buffer
		c := proc.Command("exit", strconv.Itoa(code), "a b", "", "-test.v")
		c.Stdout = &out
		st, err := c.Run()
		if err != nil {
			t.Fatal(err)
		}
		if !st.Exited() || st.ExitCode() != code || st.Success() != (code == 0) || st.Signaled() || st.Final() != true {
			t.Errorf("exit %d: status %v: exited %t code %d success %t", code, st, st.Exited(), st.ExitCode(), st.Success())
		}
		if want := "exited with status " + strconv.Itoa(code); st.String() != want {
			t.Errorf("String() = %q, want %q", st, want)
		}
		if st.Pid() != c.Pid() || c.Pid() <= 0 {
			t.Errorf("status pid %d, Cmd pid %d", st.Pid(), c.Pid())
		}
		// The child knows its role and parent, got its arguments intact
		// (flags meant for the test binary included), and no longer has the
		// marker its own children would misread.
		want := `role=exit child=true parent-ok=true marker=false args=["a b" "" "-test.v"]` + "\n"
		if out.String() != want {
			t.Errorf("child said %q, want %q", out.String(), want)
		}
	}
}

func TestNotAChild(t *testing.T) {
	if proc.IsChild() || proc.Role() != "" || proc.ParentPID() != 0 || proc.InheritedFile(0, "x") != nil {
		t.Errorf("the test process takes itself for a child: role %q parent %d", proc.Role(), proc.ParentPID())
	}
}

func TestExtraFiles(t *testing.T) {
	r1, w1, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r2, w2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	defer r2.Close()
	c := proc.Command("write", "to fd 3", "to fd 4")
	c.ExtraFiles = []*os.File{w1, w2}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	w1.Close()
	w2.Close()
	b1, err1 := io.ReadAll(r1)
	b2, err2 := io.ReadAll(r2)
	st, err := c.Wait()
	if err != nil || !st.Success() {
		t.Fatalf("child: %v %v", st, err)
	}
	if err1 != nil || err2 != nil || string(b1) != "to fd 3" || string(b2) != "to fd 4" {
		t.Errorf("read %q (%v) and %q (%v)", b1, err1, b2, err2)
	}
}

func TestStderrAndStdin(t *testing.T) {
	var stderr bytes.Buffer
	c := proc.Command("panic")
	c.Stderr = &stderr
	st, err := c.Run()
	if err != nil {
		t.Fatal(err)
	}
	// A role that panics ends the child as any Go program: status 2, the
	// panic on stderr.
	if st.ExitCode() != 2 || !strings.Contains(stderr.String(), "panic: boom") {
		t.Errorf("panicking role: %v, stderr %q", st, stderr.String())
	}
}

func TestStdin(t *testing.T) {
	for _, tc := range []struct {
		in   io.Reader
		want string
	}{
		{nil, "0 "}, // /dev/null
		{strings.NewReader("through a pipe"), "14 THROUGH A PIPE"},
	} {
		var out bytes.Buffer
		c := proc.Command("stdin")
		c.Stdin, c.Stdout = tc.in, &out
		if st, err := c.Run(); err != nil || !st.Success() || out.String() != tc.want {
			t.Errorf("stdin %v: %v %v, output %q, want %q", tc.in, st, err, out.String(), tc.want)
		}
	}
}

// A child runs the parent's binary, not whatever a deploy has put at its
// path since: the parent, run from a copy, replaces the copy with a script
// and then starts a child.
func TestChildRunsTheRunningBinary(t *testing.T) {
	self, err := os.Open(proc.Self)
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	path := t.TempDir() + "/deployed"
	copyTo, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(copyTo, self)
	if cerr := copyTo.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Started by hand from the copy; it is our child, with a life pipe.
	cmd := exec.Command(path, path)
	cmd.Env = append(os.Environ(), proc.ChildEnvForTest(os.Getpid(), 3, "deployer"))
	cmd.ExtraFiles = []*os.File{w}
	out, err := cmd.CombinedOutput()
	w.Close()
	if err != nil {
		t.Fatalf("deployer: %v: %s", err, out)
	}
	if want := "role=exit child=true parent-ok=true marker=false args=[]\nchild exited with status 0\n"; string(out) != want {
		t.Errorf("deployer said %q, want %q", out, want)
	}
}

func TestStartErrors(t *testing.T) {
	c := proc.Command("no such role")
	err := c.Start()
	var pe *proc.Error
	if !errors.Is(err, proc.ErrUnknownRole) || !errors.As(err, &pe) || pe.Role != "no such role" {
		t.Errorf("unknown role: %v", err)
	}
	if want := `proc: start child "no such role": no such role is registered`; err.Error() != want {
		t.Errorf("text %q, want %q", err, want)
	}
	if _, err := c.Wait(); !errors.Is(err, proc.ErrNotStarted) {
		t.Errorf("Wait before Start: %v", err)
	}
	if err := c.Signal(syscall.SIGTERM); !errors.Is(err, proc.ErrNotStarted) {
		t.Errorf("Signal before Start: %v", err)
	}

	c = start(t, proc.Command("sleep"))
	if err := c.Start(); !errors.Is(err, proc.ErrStarted) {
		t.Errorf("second Start: %v", err)
	}
}

// Every kind of status, produced for real.
func TestStatuses(t *testing.T) {
	type check func(t *testing.T, st proc.Status)
	cases := []struct {
		name   string
		role   string
		args   []string
		signal syscall.Signal
		want   string
		check  check
	}{
		{name: "exit 0", role: "exit", args: []string{"0"}, want: "exited with status 0"},
		{name: "exit 3", role: "exit", args: []string{"3"}, want: "exited with status 3"},
		{name: "exit 255", role: "exit", args: []string{"255"}, want: "exited with status 255"},
		{name: "SIGTERM", role: "sleep", signal: syscall.SIGTERM, want: "killed by signal 15 (terminated)"},
		{name: "SIGKILL", role: "sleep", signal: syscall.SIGKILL, want: "killed by signal 9 (killed)"},
		{name: "SIGSEGV", role: "segv", want: "killed by signal 11 (segmentation fault)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := proc.Command(tc.role, tc.args...)
			c.Stdout = io.Discard
			start(t, c)
			if tc.signal != 0 {
				if err := c.Signal(tc.signal); err != nil {
					t.Fatal(err)
				}
			}
			st, err := c.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if st.String() != tc.want {
				t.Errorf("got %q, want %q", st, tc.want)
			}
			if tc.signal != 0 && (!st.Signaled() || st.Signal() != tc.signal || st.ExitCode() != -1 || st.Exited() || st.Success() || st.CoreDump()) {
				t.Errorf("%v: signaled %t signal %v code %d core %t", st, st.Signaled(), st.Signal(), st.ExitCode(), st.CoreDump())
			}
		})
	}
}

// SIGSEGV with a core file, where the kernel can write one in a directory of
// ours: the core bit must say exactly whether it did.
func TestCoreDump(t *testing.T) {
	pattern, err := os.ReadFile("/proc/sys/kernel/core_pattern")
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	c := proc.Command("segv", "core")
	c.Dir = dir
	st, err := c.Run()
	if err != nil {
		t.Fatal(err)
	}
	if !st.Signaled() || st.Signal() != syscall.SIGSEGV {
		t.Fatalf("status %v", st)
	}
	p := strings.TrimSpace(string(pattern))
	if strings.HasPrefix(p, "|") || strings.Contains(p, "/") || strings.Contains(p, "%") {
		// A pipe or a path elsewhere: whether a core was written is not
		// ours to see. The wording must still agree with the bit.
		t.Logf("core_pattern %q: core dumped %t", p, st.CoreDump())
		if st.CoreDump() != strings.HasSuffix(st.String(), ", core dumped") {
			t.Errorf("%q disagrees with CoreDump() = %t", st, st.CoreDump())
		}
		return
	}
	_, statErr := os.Stat(dir + "/" + p)
	wrote := statErr == nil
	if st.CoreDump() != wrote {
		t.Errorf("CoreDump() = %t, core file written: %t", st.CoreDump(), wrote)
	}
	t.Logf("core file written: %t; status %q", wrote, st)
	want := "killed by signal 11 (segmentation fault)"
	if wrote {
		want += ", core dumped"
	}
	if st.String() != want {
		t.Errorf("got %q, want %q", st, want)
	}
}

// Stops and continues are reported by WaitEvent, and the exit is only
// looked at: the child stays a zombie until Wait reaps it.
func TestWaitEvent(t *testing.T) {
	c := start(t, proc.Command("sleep"))
	expect := func(sig syscall.Signal, want string) proc.Status {
		t.Helper()
		if err := c.Signal(sig); err != nil {
			t.Fatal(err)
		}
		ev, err := c.WaitEvent()
		if err != nil {
			t.Fatal(err)
		}
		if ev.String() != want || ev.Pid() != c.Pid() {
			t.Fatalf("after %v: %q (pid %d), want %q (pid %d)", sig, ev, ev.Pid(), want, c.Pid())
		}
		return ev
	}
	ev := expect(syscall.SIGSTOP, "stopped by signal 19 (stopped (signal))")
	if !ev.Stopped() || ev.StopSignal() != syscall.SIGSTOP || ev.Final() || ev.Exited() || ev.Signaled() || ev.ExitCode() != -1 {
		t.Errorf("stop event decodes wrong: %+v", ev)
	}
	ev = expect(syscall.SIGCONT, "continued")
	if !ev.Continued() || ev.Final() || ev.Stopped() || ev.StopSignal() != 0 || ev.Signal() != 0 {
		t.Errorf("continue event decodes wrong: %+v", ev)
	}
	expect(syscall.SIGSTOP, "stopped by signal 19 (stopped (signal))")
	expect(syscall.SIGCONT, "continued")
	final := expect(syscall.SIGTERM, "killed by signal 15 (terminated)")
	if !final.Final() {
		t.Error("the end is not Final")
	}
	if st, _ := procState(c.Pid()); st != 'Z' {
		t.Errorf("after WaitEvent saw the end, the child's state is %q, want a zombie not yet reaped", st)
	}
	if again, err := c.WaitEvent(); err != nil || again != final {
		t.Errorf("WaitEvent again: %v %v", again, err)
	}
	st, err := c.Wait()
	if err != nil || st != final {
		t.Errorf("Wait: %v %v, want %v", st, err, final)
	}
	if st, _ := procState(c.Pid()); st != 0 {
		t.Errorf("after Wait the child is still there (state %q)", st)
	}
	if again, err := c.WaitEvent(); err != nil || again != final {
		t.Errorf("WaitEvent after Wait: %v %v", again, err)
	}
}

// A Wait already blocked while WaitEvent reads the stops: neither steals from
// the other.
func TestWaitEventBesideWait(t *testing.T) {
	c := start(t, proc.Command("sleep"))
	type result struct {
		st  proc.Status
		err error
	}
	waited := make(chan result, 1)
	go func() {
		st, err := c.Wait()
		waited <- result{st, err}
	}()
	for _, sig := range []syscall.Signal{syscall.SIGSTOP, syscall.SIGCONT} {
		c.Signal(sig)
		ev, err := c.WaitEvent()
		if err != nil || ev.Final() {
			t.Fatalf("after %v: %v %v", sig, ev, err)
		}
	}
	c.Signal(syscall.SIGKILL)
	ev, err := c.WaitEvent()
	if err != nil || ev.String() != "killed by signal 9 (killed)" {
		t.Errorf("WaitEvent: %v %v", ev, err)
	}
	r := <-waited
	if r.err != nil || r.st.String() != "killed by signal 9 (killed)" {
		t.Errorf("Wait: %v %v", r.st, r.err)
	}
}

func TestWaitOnceForAll(t *testing.T) {
	c := proc.Command("exit", "7")
	c.Stdout = io.Discard
	start(t, c)
	var wg sync.WaitGroup
	results := make([]proc.Status, 8)
	for i := range results {
		wg.Go(func() {
			st, err := c.Wait()
			if err != nil {
				t.Error(err)
			}
			results[i] = st
		})
	}
	wg.Wait()
	for _, st := range results {
		if st != results[0] || st.ExitCode() != 7 {
			t.Errorf("Wait results differ: %v", results)
		}
	}
	if err := c.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after Wait: %v", err)
	}
}

// The trap a wait4(-1) reaper sets: it takes the status, and Wait says so
// instead of inventing one.
func TestReapedElsewhere(t *testing.T) {
	c := proc.Command("exit", "0")
	c.Stdout = io.Discard
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(c.Pid(), &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitEvent(); !errors.Is(err, proc.ErrReapedElsewhere) || !errors.Is(err, syscall.ECHILD) {
		t.Errorf("WaitEvent: %v", err)
	}
	_, err := c.Wait()
	if !errors.Is(err, proc.ErrReapedElsewhere) || !errors.Is(err, syscall.ECHILD) {
		t.Errorf("Wait: %v", err)
	}
	if want := `proc: wait for child ` + strconv.Itoa(c.Pid()) + ` ("exit"): reaped by someone else (a wait4(-1) reaper?): waitid: no child processes`; err.Error() != want {
		t.Errorf("text %q, want %q", err, want)
	}
}

// A child whose recorded parent is not its parent exits at once, without
// running its role.
func TestParentCheck(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(proc.Self)
	// Claims to be the child of our own parent.
	cmd.Env = append(os.Environ(), proc.ChildEnvForTest(os.Getppid(), 3, "exit"))
	cmd.Args = []string{"x", "0"}
	cmd.ExtraFiles = []*os.File{w}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	w.Close()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != proc.ExitOrphaned {
		t.Fatalf("child with the wrong parent: %v, stderr %q", err, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("the role ran: %q", stdout.String())
	}
	if !strings.Contains(stderr.String(), "no longer is") {
		t.Errorf("stderr %q", stderr.String())
	}

	// A child meant to outlive its parent (NoPdeathsig) runs its role
	// even when the parent is already gone: a janitor started just before
	// its supervisor's kill -9 still has its work to do.
	lr, lw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	lw.Close()
	cmd = exec.Command(proc.Self, "0")
	cmd.Env = append(os.Environ(), proc.OutlivingChildEnvForTest(os.Getppid(), 3, "exit"))
	cmd.ExtraFiles = []*os.File{lr}
	stdout.Reset()
	cmd.Stdout = &stdout
	err = cmd.Run()
	lr.Close()
	if err != nil || !strings.HasPrefix(stdout.String(), "role=exit") {
		t.Errorf("outliving child, parent gone: %v, %q", err, stdout.String())
	}

	// By hand with the right parent, the role runs while the life pipe's
	// writer is open, and not once it is closed.
	for _, open := range []bool{true, false} {
		lr, lw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		if !open {
			lw.Close()
		}
		cmd = exec.Command(proc.Self, "0")
		cmd.Env = append(os.Environ(), proc.ChildEnvForTest(os.Getpid(), 3, "exit"))
		cmd.ExtraFiles = []*os.File{lr}
		stdout.Reset()
		cmd.Stdout = &stdout
		err = cmd.Run()
		lr.Close()
		lw.Close()
		if open && (err != nil || !strings.HasPrefix(stdout.String(), "role=exit")) {
			t.Errorf("right parent: %v, %q", err, stdout.String())
		}
		if !open && (!errors.As(err, &ee) || ee.ExitCode() != proc.ExitOrphaned || stdout.Len() != 0) {
			t.Errorf("right parent, life pipe closed: %v, %q", err, stdout.String())
		}
	}
}

// In a new pid namespace the child's getppid is 0: it cannot check its
// parent by pid, and runs its role on the word of the life pipe.
func TestNewPIDNamespace(t *testing.T) {
	var out bytes.Buffer
	c := proc.Command("exit", "0")
	c.Stdout = &out
	c.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	st, err := c.Run()
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) {
		t.Skip("no new pid namespace:", err)
	}
	if err != nil || !st.Success() {
		t.Fatalf("%v %v", st, err)
	}
	if want := `role=exit child=true parent-ok=false marker=false args=[]` + "\n"; out.String() != want {
		t.Errorf("child said %q, want %q", out.String(), want)
	}
}

// Pdeathsig fires when the thread that started the child ends
// (golang/go#27505). A child started by this package survives the end of the
// calling goroutine's thread; a plain exec.Cmd started the same way is
// killed, which shows the test would see it.
func TestPdeathsigOutlivesCallingThread(t *testing.T) {
	type started struct {
		c    *proc.Cmd
		ctrl *exec.Cmd
		err  error
	}
	var s started
	onDyingThread(func() {
		s.c = proc.Command("sleep")
		if s.err = s.c.Start(); s.err != nil {
			return
		}
		if path, err := exec.LookPath("sleep"); err == nil {
			s.ctrl = exec.Command(path, "60")
			s.ctrl.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			s.err = s.ctrl.Start()
		}
	})
	if s.err != nil {
		t.Fatal(s.err)
	}
	t.Cleanup(func() {
		s.c.Signal(syscall.SIGKILL)
		s.c.Wait()
	})
	if s.ctrl != nil {
		done := make(chan error, 1)
		go func() { done <- s.ctrl.Wait() }()
		select {
		case err := <-done:
			if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Errorf("control child: %v", err)
			}
		case <-time.After(5 * time.Second):
			s.ctrl.Process.Kill()
			<-done
			t.Error("the control child outlived its thread: the test cannot tell")
		}
	} else {
		time.Sleep(300 * time.Millisecond)
	}
	if st, _ := procState(s.c.Pid()); st == 0 || st == 'Z' {
		t.Fatalf("the proc child died with the thread that called Start (state %q)", st)
	}
	s.c.Signal(syscall.SIGTERM)
	if st, err := s.c.Wait(); err != nil || st.Signal() != syscall.SIGTERM {
		t.Errorf("proc child: %v %v", st, err)
	}
}

// onDyingThread runs f on an OS thread that ends right after. Not the main
// thread, which Go never ends (a goroutine that exits locked to it wedges it
// instead): a goroutine that lands there holds it until f has run elsewhere.
func onDyingThread(f func()) {
	var held []chan struct{}
	defer func() {
		for _, h := range held {
			close(h)
		}
	}()
	for {
		ran := make(chan bool)
		hold := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			if unix.Gettid() == unix.Getpid() {
				ran <- false
				<-hold
				runtime.UnlockOSThread()
				return
			}
			f()
			ran <- true
			// Returns still locked: the runtime ends the thread.
		}()
		if <-ran {
			return
		}
		held = append(held, hold)
	}
}

// subreaper makes this process adopt its orphaned descendants for the test,
// so that it can reap a grandchild and see how it died.
func subreaper(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Skip("no child subreaper:", err)
	}
	t.Cleanup(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
}

// reapWithin waits up to d for the adopted process pid to end.
func reapWithin(t *testing.T, pid int, d time.Duration) (unix.WaitStatus, bool) {
	t.Helper()
	type result struct {
		ws  unix.WaitStatus
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var ws unix.WaitStatus
		_, err := unix.Wait4(pid, &ws, 0, nil)
		ch <- result{ws, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("wait4 %d: %v", pid, r.err)
		}
		return r.ws, true
	case <-time.After(d):
		unix.Kill(pid, unix.SIGKILL)
		<-ch
		return 0, false
	}
}

// kill -9 of a middle process: its child gets its parent-death signal
// (by default SIGKILL) at once.
func TestPdeathsigKill9(t *testing.T) {
	subreaper(t)
	for _, tc := range []struct {
		arg  string
		want syscall.Signal
	}{{"", syscall.SIGKILL}, {"term", syscall.SIGTERM}} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		mid := proc.Command("middle", tc.arg)
		mid.ExtraFiles = []*os.File{w}
		start(t, mid)
		w.Close()
		line := readLine(t, bufio.NewReader(r), 10*time.Second)
		gpid, err := strconv.Atoi(strings.TrimPrefix(line, "grandchild "))
		if err != nil {
			t.Fatalf("middle said %q", line)
		}
		killed := time.Now()
		mid.Signal(syscall.SIGKILL)
		if st, err := mid.Wait(); err != nil || st.Signal() != syscall.SIGKILL {
			t.Fatalf("middle: %v %v", st, err)
		}
		ws, ok := reapWithin(t, gpid, time.Second)
		if !ok {
			t.Fatal("the grandchild outlived its parent by a second")
		}
		st := proc.MakeStatus(gpid, syscall.WaitStatus(ws))
		if st.Signal() != tc.want {
			t.Errorf("grandchild %s, want killed by %v", st, tc.want)
		}
		t.Logf("grandchild %s %v after its parent was killed", st, time.Since(killed))
	}
}

// A child with no parent-death signal learns of its parent's end through
// WatchParent.
func TestWatchParent(t *testing.T) {
	subreaper(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	mid := proc.Command("middle", "watch")
	mid.ExtraFiles = []*os.File{w}
	start(t, mid)
	w.Close()
	// The middle reports the watcher's pid, the watcher that it is
	// watching, in either order. Killing the middle before the watcher has
	// got going would only test the orphan check.
	br := bufio.NewReader(r)
	gpid, watching := 0, false
	for gpid == 0 || !watching {
		line := readLine(t, br, 10*time.Second)
		if line == "watching" {
			watching = true
		} else if gpid, err = strconv.Atoi(strings.TrimPrefix(line, "grandchild ")); err != nil {
			t.Fatalf("unexpected %q", line)
		}
	}
	reaped := false
	t.Cleanup(func() {
		if !reaped {
			unix.Kill(gpid, unix.SIGKILL)
			unix.Wait4(gpid, nil, 0, nil)
		}
	})
	killed := time.Now()
	mid.Signal(syscall.SIGKILL)
	mid.Wait()
	line := readLine(t, br, time.Second)
	if want := "parent " + strconv.Itoa(mid.Pid()) + " gone"; line != want {
		t.Errorf("watcher said %q, want %q", line, want)
	}
	t.Logf("the watcher noticed %v after its parent was killed", time.Since(killed))
	ws, ok := reapWithin(t, gpid, 5*time.Second)
	reaped = true
	if !ok || !ws.Exited() || ws.ExitStatus() != 0 {
		t.Errorf("watcher: %v %v", ws, ok)
	}
}

// While the parent lives, WatchParent's thread sleeps in poll and is not
// woken; when ctx ends, the watch ends and its eventfd is closed.
func TestWatchParentQuiet(t *testing.T) {
	c := proc.Command("quietwatcher")
	var out bytes.Buffer
	c.Stdout = &out
	c.Stderr = &out
	start(t, c)
	st, _ := c.Wait()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if st.Success() && lines[0] == "no wchan" {
		t.Skip("this kernel does not show where a thread sleeps (/proc/PID/task/TID/wchan)")
	}
	if !st.Success() || len(lines) != 2 || lines[1] != "stopped" {
		t.Fatalf("watcher %v:\n%s", st, out.String())
	}
	n, err := strconv.Atoi(strings.TrimPrefix(lines[0], "switches "))
	if err != nil {
		t.Fatalf("watcher said %q", lines[0])
	}
	// Polling every parentPollInterval would be 5 a second.
	if n > 1 {
		t.Errorf("the watching thread woke %d times in a second of quiet; want none", n)
	}
}
