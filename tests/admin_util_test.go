package tests

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// Helpers of the administrator's tests (ipc ls --orphaned, --namespace,
// --all-namespaces, --prometheus, --watch). Every test makes IPC
// namespaces of its own (a "sleep" started by unshare --ipc holds each
// one), puts its objects there with the built ipc and with children
// entered by nsenter, and looks at them from outside with --namespace.

func init() {
	// mkshm KEY: create a segment (not attached) and stay alive.
	ipctest.Register("mkshm", func(args []string) int {
		key, _ := strconv.ParseUint(args[0], 0, 32)
		nextSecond()
		if _, err := unix.SysvShmGet(int(int32(key)), 64, unix.IPC_CREAT|0o600); err != nil {
			fmt.Fprintln(os.Stderr, "shmget:", err)
			return 1
		}
		return readyThenWait()
	})
	// semhold ID: semop +1 on semaphore 0, then stay alive.
	ipctest.Register("semhold", func(args []string) int {
		nextSecond()
		if e := sys.Semop(atoi(args[0]), []sys.Sembuf{{Num: 0, Op: 1}}); e != 0 {
			fmt.Fprintln(os.Stderr, "semop:", e)
			return 1
		}
		return readyThenWait()
	})
	// recvhold ID: receive one message, then stay alive.
	ipctest.Register("recvhold", func(args []string) int {
		buf := make([]byte, sys.LongSize+8192)
		nextSecond()
		if _, e := sys.Msgrcv(atoi(args[0]), buf, 8192, 0, unix.IPC_NOWAIT); e != 0 {
			fmt.Fprintln(os.Stderr, "msgrcv:", e)
			return 1
		}
		return readyThenWait()
	})
	// recvwait ID TYPE: block in msgrcv for a message of TYPE until stdin
	// closes.
	ipctest.Register("recvwait", func(args []string) int {
		id, typ := atoi(args[0]), atoi(args[1])
		fmt.Println("ready")
		go func() {
			io.Copy(io.Discard, os.Stdin)
			os.Exit(0)
		}()
		buf := make([]byte, sys.LongSize+8192)
		_, e := sys.Msgrcv(id, buf, 8192, int64(typ), 0)
		fmt.Fprintln(os.Stderr, "msgrcv returned:", e)
		return 1
	})
	// sender ID PERIOD: send a 10-byte message every PERIOD until stdin
	// closes.
	ipctest.Register("sender", func(args []string) int {
		id := atoi(args[0])
		period, _ := time.ParseDuration(args[1])
		done := make(chan struct{})
		go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
		fmt.Println("ready")
		buf := make([]byte, sys.LongSize+10)
		binary.NativeEndian.PutUint64(buf, 1) // mtype 1 (a long: 8 bytes on 64-bit Linux)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-done:
				return 0
			case <-t.C:
				if e := sys.Msgsnd(id, buf, 10, unix.IPC_NOWAIT); e != 0 {
					fmt.Fprintln(os.Stderr, "msgsnd:", e)
					return 1
				}
			}
		}
	})
}

// nextSecond sleeps into the next wall-clock second. Objects keep their
// times in whole seconds, so a process that starts and acts within one
// second cannot be told from a new process that took a dead one's pid
// (the verdict is then "may be alive", unsure); a role that starts in
// one second and acts in the next is certainly the one that acted.
func nextSecond() {
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(time.Second + 20*time.Millisecond).Sub(now))
}

func readyThenWait() int {
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// ipcBinary is the built ipc; the administrator's tests need root (for
// namespaces and nsenter) and util-linux's unshare and nsenter.
func ipcBinary(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make IPC namespaces")
	}
	for _, tool := range []string{"unshare", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("util-linux's %s is not installed", tool)
		}
	}
	return filepath.Join(os.Getenv(dirEnv), "ipc")
}

// ipcNS is an IPC namespace a test made, held by a sleeping process.
type ipcNS struct {
	ipc   string
	pid   int
	inode uint64
}

func nsInode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// newNS makes a new IPC namespace; it goes away with the test.
func newNS(t *testing.T) *ipcNS {
	t.Helper()
	ipc := ipcBinary(t)
	cmd := exec.Command("unshare", "--ipc", "sleep", "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ours := nsInode(t, "/proc/self/ns/ipc")
	path := fmt.Sprintf("/proc/%d/ns/ipc", cmd.Process.Pid)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		// unshare execs sleep once it has unshared: same pid, new namespace.
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid))
		if ino := nsInode(t, path); ino != ours && strings.TrimSpace(string(comm)) == "sleep" {
			return &ipcNS{ipc: ipc, pid: cmd.Process.Pid, inode: ino}
		}
		if time.Now().After(deadline) {
			t.Fatal("unshare --ipc did not start")
		}
	}
}

// run runs ipc --namespace PID args.
func (n *ipcNS) run(t *testing.T, args ...string) result {
	t.Helper()
	argv := append([]string{"ipc", "--namespace", strconv.Itoa(n.pid)}, args...)
	return run(t, n.ipc, argv, runOpts{})
}

// must runs ipc in the namespace and fails the test unless it succeeds;
// it returns stdout without its trailing newline.
func (n *ipcNS) must(t *testing.T, args ...string) string {
	t.Helper()
	r := n.run(t, args...)
	if r.code != 0 {
		t.Fatalf("ipc --namespace %d %q: %v", n.pid, args, r)
	}
	return strings.TrimSpace(r.stdout)
}

// child starts the test binary in role inside the namespace (through
// nsenter), waits for its "ready", and stops it at the end of the test.
// It returns the child's pid.
func (n *ipcNS) child(t *testing.T, role string, args ...string) int {
	t.Helper()
	cmd := n.start(t, role, args...)
	return cmd.Process.Pid
}

func (n *ipcNS) start(t *testing.T, role string, args ...string) *exec.Cmd {
	t.Helper()
	return startReady(t, n.command(t, role, args...), role, args)
}

// command is ipctest.Command for role, entering the namespace first
// through nsenter.
func (n *ipcNS) command(t *testing.T, role string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := ipctest.Command(t, role, args...)
	cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	nsenter, _ := exec.LookPath("nsenter")
	cmd.Path = nsenter
	cmd.Args = []string{"nsenter", "-t", strconv.Itoa(n.pid), "-i", "--", exe}
	return cmd
}

// once runs role to completion inside the namespace.
func (n *ipcNS) once(t *testing.T, role string, args ...string) {
	t.Helper()
	if code := ipctest.RunChild(t, n.command(t, role, args...)); code != 0 {
		t.Fatalf("%s %q in namespace %d: exit %d", role, args, n.pid, code)
	}
}

// verdict is one object of ipc ls --orphaned --json.
type verdict struct {
	Kind       string   `json:"kind"`
	ID         int      `json:"id"`
	KeyHex     string   `json:"keyhex"`
	Orphaned   bool     `json:"orphaned"`
	Confidence string   `json:"confidence"`
	Reasons    []string `json:"reasons"`
	PIDs       []struct {
		Role  string `json:"role"`
		PID   int    `json:"pid"`
		State string `json:"state"`
	} `json:"pids"`
	Namespace *struct {
		Inode uint64 `json:"inode"`
		PID   int    `json:"pid"`
	} `json:"namespace"`
}

// parseVerdicts reads ipc ls --orphaned --json, keyed by the objects'
// keys (the tests give each one its own).
func parseVerdicts(t *testing.T, out string) map[string]verdict {
	t.Helper()
	m := map[string]verdict{}
	for _, v := range verdictList(t, out) {
		m[v.KeyHex] = v
	}
	return m
}

func verdictList(t *testing.T, out string) []verdict {
	t.Helper()
	var doc struct {
		Verdicts []verdict `json:"verdicts"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v in:\n%s", err, out)
	}
	return doc.Verdicts
}
