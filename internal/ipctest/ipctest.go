// Package ipctest is the test harness shared by every package that makes
// System V IPC objects: a TestMain that runs the package's tests in a private
// IPC namespace and fails them if any object is left behind, and helpers that
// run a piece of a test in a real child process (as another user if need be).
package ipctest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	// Not used here: it stops a build for an unsupported system with its
	// one error (see internal/sys/unsupported.go).
	_ "github.com/ipctoolkit/ipc/internal/sys"
)

const (
	nsEnv   = "IPCTEST_PRIVATE_NS"
	roleEnv = "IPCTEST_ROLE"
)

var roles = map[string]func(args []string) int{}

// Register names a function that a child process started with Command runs
// instead of the tests. Call it from init or before Main.
func Register(role string, fn func(args []string) int) {
	roles[role] = fn
}

// Main is the TestMain of a package that makes IPC objects.
//
// Run as root, it starts the test binary again in a new IPC namespace
// (CLONE_NEWIPC), so the tests cannot see, disturb or be disturbed by the
// host's objects or another package's tests running beside them. In every
// case it compares /proc/sysvipc before and after the tests and fails the
// package if an object was left behind.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main that returns the exit status instead of exiting, for a
// TestMain that has to clean up after the tests (children it starts still
// exit from here).
func Run(m *testing.M) int {
	if role := os.Getenv(roleEnv); role != "" {
		fn, ok := roles[role]
		if !ok {
			fmt.Fprintf(os.Stderr, "ipctest: unknown role %q\n", role)
			os.Exit(2)
		}
		if os.Getenv(nobodyEnv) != "" {
			// Dropped here rather than with SysProcAttr.Credential: the test
			// binary sits in a directory only root may enter.
			if err := dropToNobody(); err != nil {
				fmt.Fprintf(os.Stderr, "ipctest: become nobody: %v\n", err)
				os.Exit(2)
			}
		}
		os.Exit(fn(childArgs()))
	}
	if os.Getenv(nsEnv) == "" {
		if code, ok := runInPrivateNamespace(); ok {
			return code
		}
	}
	before := Snapshot()
	code := m.Run()
	if leaks := Leaked(before); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "ipctest: leak guard: tests left %d System V IPC object(s):\n", len(leaks))
		for _, l := range leaks {
			fmt.Fprintln(os.Stderr, "  "+l)
		}
		if code == 0 {
			code = 1
		}
	}
	return code
}

func runInPrivateNamespace() (int, bool) {
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), nsEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWIPC, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		// Not privileged: run in the host namespace; the leak guard still
		// works by difference.
		fmt.Fprintf(os.Stderr, "ipctest: no private IPC namespace (%v); testing in the host's\n", err)
		return 0, false
	}
	err := cmd.Wait()
	if err == nil {
		return 0, true
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			fmt.Fprintf(os.Stderr, "ipctest: test process killed by %v\n", ws.Signal())
			return 1, true
		}
		return ee.ExitCode(), true
	}
	fmt.Fprintf(os.Stderr, "ipctest: %v\n", err)
	return 1, true
}

// PrivateNamespace reports whether the tests run in their own IPC namespace,
// where listing and removing every object is safe.
func PrivateNamespace() bool { return os.Getenv(nsEnv) != "" }

// Snapshot lists the objects in /proc/sysvipc/{sem,msg,shm} as "kind id key"
// strings.
func Snapshot() map[string]bool {
	set := map[string]bool{}
	for _, kind := range []string{"sem", "msg", "shm"} {
		f, err := os.Open("/proc/sysvipc/" + kind)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 {
				// key is field 0, id field 1 in all three files.
				set[fmt.Sprintf("%s id=%s key=%s", kind, fields[1], fields[0])] = true
			}
		}
		f.Close()
	}
	return set
}

// Leaked lists the objects present now that were not in before.
func Leaked(before map[string]bool) []string {
	var out []string
	for k := range Snapshot() {
		if !before[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

const (
	argsEnv   = "IPCTEST_ARGS"
	nobodyEnv = "IPCTEST_NOBODY"
)

func dropToNobody() error {
	if err := syscall.Setgroups(nil); err != nil {
		return err
	}
	if err := syscall.Setgid(Nobody); err != nil {
		return err
	}
	return syscall.Setuid(Nobody)
}

func childArgs() []string {
	s := os.Getenv(argsEnv)
	if s == "" {
		return nil
	}
	return strings.Split(s, "\x1f")
}

// Command prepares a child process that runs the function registered as role
// with args, instead of the tests. Its output goes to the test's output.
func Command(t testing.TB, role string, args ...string) *exec.Cmd {
	t.Helper()
	if _, ok := roles[role]; !ok {
		t.Fatalf("ipctest: role %q is not registered", role)
	}
	cmd := exec.Command("/proc/self/exe")
	// A race-enabled child would otherwise sleep a second at exit
	// (atexit_sleep_ms), which adds up over a package's many children.
	cmd.Env = append(os.Environ(), roleEnv+"="+role, argsEnv+"="+strings.Join(args, "\x1f"), "GORACE=atexit_sleep_ms=0 "+os.Getenv("GORACE"))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Nobody is the uid and gid of the unprivileged user children run as.
const Nobody = 65534

// AsNobody makes cmd run as the unprivileged user nobody, so that permission
// checks apply to it. It skips the test unless the tests run as root.
func AsNobody(t testing.TB, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a child as another user")
	}
	cmd.Env = append(cmd.Env, nobodyEnv+"=1")
	return cmd
}

// RunChild runs cmd and returns its exit code, failing the test if it
// could not run or was killed by a signal.
func RunChild(t testing.TB, cmd *exec.Cmd) int {
	t.Helper()
	err := cmd.Run()
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() >= 0 {
		return ee.ExitCode()
	}
	t.Fatalf("child %v: %v", cmd.Args, err)
	return -1
}

// Output runs role with args in a child (as nobody when asNobody), fails
// the test unless it exits 0, and returns what it printed on stdout, trimmed
// of surrounding blanks.
func Output(t testing.TB, asNobody bool, role string, args ...string) string {
	t.Helper()
	cmd := Command(t, role, args...)
	if asNobody {
		AsNobody(t, cmd)
	}
	// A -race child otherwise sleeps a second before exiting (the race
	// runtime's atexit_sleep_ms).
	cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	var out strings.Builder
	cmd.Stdout = &out
	if code := RunChild(t, cmd); code != 0 {
		t.Fatalf("child %s %v exited %d; stdout %q", role, args, code, out.String())
	}
	return strings.TrimSpace(out.String())
}

// WaitFor polls cond every millisecond until it holds, failing the test
// after 10 seconds: for a test that must act once another goroutine or
// process has reached a state (a waiter counted by GETNCNT, say).
func WaitFor(t testing.TB, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
	}
}
