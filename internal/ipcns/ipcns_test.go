package ipcns_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipcns"
	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	// selfns: open our own namespace and try to enter it, printing the
	// error (run as nobody: no CAP_SYS_ADMIN).
	ipctest.Register("selfns", func(args []string) int {
		ns, err := ipcns.Open(args[0])
		if err == nil {
			err = ns.Do(func() error { return nil })
			ns.Close()
		}
		fmt.Println(err)
		return 0
	})
	// execns PID: Exec a shell inside PID's namespace that prints its
	// namespace and the queues it sees.
	ipctest.Register("execns", func(args []string) int {
		ns, err := ipcns.Open(args[0])
		if err == nil {
			err = ns.Exec("/bin/sh", []string{"sh", "-c", "readlink /proc/self/ns/ipc; tail -n +2 /proc/sysvipc/msg | wc -l"}, os.Environ())
		}
		fmt.Println("exec failed:", err)
		return 1
	})
	ipctest.Main(m)
}

// holder starts a process in a new IPC namespace and returns its pid; it
// ends with the test.
func holder(t *testing.T) int {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a new IPC namespace")
	}
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWIPC, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process.Pid
}

func queueCount(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sysvipc/msg")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n") - 1
}

func TestOpenSelf(t *testing.T) {
	ns, err := ipcns.Open(strconv.Itoa(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	cur, err := ipcns.Current()
	if err != nil {
		t.Fatal(err)
	}
	if ns.Inode != cur || ns.PID != os.Getpid() || ns.Path != "/proc/"+strconv.Itoa(os.Getpid())+"/ns/ipc" {
		t.Errorf("got %+v, current inode %d", ns, cur)
	}
}

func TestOpenBad(t *testing.T) {
	for _, c := range []struct {
		spec string
		is   error
		text string
	}{
		{"999999999", fs.ErrNotExist, "open IPC namespace of pid 999999999: no such process"},
		{"-3", fs.ErrNotExist, "open IPC namespace of pid -3: no such process"},
		{"/nonexistent/ns", fs.ErrNotExist, "open IPC namespace /nonexistent/ns: no such file or directory"},
		{"/etc/hostname", ipcns.ErrNotNamespace, "open IPC namespace /etc/hostname: not an IPC namespace file"},
		{"/proc/self/ns/net", ipcns.ErrNotNamespace, "not an IPC namespace file: it is a network namespace"},
		{"/proc", ipcns.ErrNotNamespace, "not an IPC namespace file"},
	} {
		ns, err := ipcns.Open(c.spec)
		if err == nil {
			ns.Close()
			t.Errorf("Open(%q) succeeded", c.spec)
			continue
		}
		if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("Open(%q) = %v; want %v containing %q", c.spec, err, c.is, c.text)
		}
	}
}

// TestDo makes a queue inside another namespace and checks that only
// that namespace sees it, from the system calls and from /proc/sysvipc.
func TestDo(t *testing.T) {
	pid := holder(t)
	ns, err := ipcns.OpenPID(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	cur, _ := ipcns.Current()
	if ns.Inode == cur {
		t.Fatal("the holder shares our namespace")
	}
	before := queueCount(t)
	var inside, insideAfter int
	err = ns.Do(func() error {
		if ino, _ := ipcns.Current(); ino != ns.Inode {
			return fmt.Errorf("thread is in %d, want %d", ino, ns.Inode)
		}
		id, e := sys.Msgget(unix.IPC_PRIVATE, unix.IPC_CREAT|0o600)
		if e != 0 {
			return e
		}
		inside = queueCount(t)
		if _, e := sys.MsgctlDS(id, unix.IPC_RMID, nil); e != 0 {
			return e
		}
		insideAfter = queueCount(t)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if inside != 1 || insideAfter != 0 {
		t.Errorf("inside the namespace: %d queue(s) after msgget, %d after removal; want 1, 0", inside, insideAfter)
	}
	if after := queueCount(t); after != before {
		t.Errorf("our namespace: %d queues before, %d after", before, after)
	}
	// No thread of ours may stay in the other namespace, the main thread
	// least of all: /proc/PID/ns/ipc shows its namespace as the process's.
	for i := 0; i < 10; i++ {
		ns.Do(func() error { return nil })
	}
	want := fmt.Sprintf("ipc:[%d]", cur)
	if l, err := os.Readlink("/proc/self/ns/ipc"); l != want {
		t.Errorf("the main thread is in %s (%v), want %s", l, err, want)
	}
	// Do's threads end just after Do returns: allow them a moment.
	var bad []string
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		bad = bad[:0]
		tasks, _ := filepath.Glob("/proc/self/task/*/ns/ipc")
		for _, p := range tasks {
			if l, err := os.Readlink(p); err == nil && l != want {
				bad = append(bad, p+" is "+l)
			}
		}
		if len(bad) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(bad) > 0 {
		t.Errorf("threads left in the other namespace (want %s): %v", want, bad)
	}
}

func TestExec(t *testing.T) {
	pid := holder(t)
	ns, err := ipcns.OpenPID(pid)
	if err != nil {
		t.Fatal(err)
	}
	ino := ns.Inode
	ns.Close()
	cmd := ipctest.Command(t, "execns", strconv.Itoa(pid))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := fmt.Sprintf("ipc:[%d]\n0\n", ino)
	if string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

func TestNoCapability(t *testing.T) {
	pid := holder(t)
	for _, c := range []struct{ spec, want string }{
		// Another user's namespace file: the open itself is refused.
		{strconv.Itoa(pid), "open IPC namespace of pid " + strconv.Itoa(pid) + ": permission denied (needs CAP_SYS_ADMIN, or ptrace access to the process)"},
		// Its own: setns is refused.
		{"/proc/self/ns/ipc", "enter IPC namespace /proc/self/ns/ipc: operation not permitted (needs CAP_SYS_ADMIN)"},
	} {
		cmd := ipctest.AsNobody(t, ipctest.Command(t, "selfns", c.spec))
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(out)); got != c.want {
			t.Errorf("as nobody, %s: %q; want %q", c.spec, got, c.want)
		}
	}
}

func TestList(t *testing.T) {
	pid := holder(t)
	found, err := ipcns.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(found) < 2 || !found[0].Current {
		t.Fatalf("got %+v: want ours first and the holder's", found)
	}
	var hit bool
	for _, f := range found {
		for _, p := range f.PIDs {
			if p == pid {
				hit = true
				if f.Current || f.Command != "sleep" || f.PIDs[0] != pid {
					t.Errorf("holder's namespace: %+v", f)
				}
			}
		}
	}
	if !hit {
		t.Errorf("holder %d not found in %+v", pid, found)
	}
}

func TestContainerOf(t *testing.T) {
	id := "3f2a1b4c5d6e" + strings.Repeat("0a1b", 13) // 64 hex digits
	for _, c := range []struct{ cgroup, want string }{
		{"0::/system.slice/docker-" + id + ".scope\n", "docker 3f2a1b4c5d6e"},
		{"12:pids:/docker/" + id + "\n1:name=systemd:/docker/" + id + "\n", "docker 3f2a1b4c5d6e"},
		{"0::/machine.slice/libpod-" + id + ".scope/container\n", "podman 3f2a1b4c5d6e"},
		{"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-" + id + ".scope\n", "kubernetes 3f2a1b4c5d6e"},
		{"0::/lxc.payload.web/init.scope\n", "lxc web"},
		{"0::/machine.slice/machine-debian\\x2dtest.scope\n", "machine debian-test"},
		{"0::/user.slice/user-0.slice/session-3.scope\n", ""},
		{"0::/\n", ""},
	} {
		if got := ipcns.ContainerOf(c.cgroup); got != c.want {
			t.Errorf("%q: %q, want %q", c.cgroup, got, c.want)
		}
	}
}
