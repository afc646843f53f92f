package prefork_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"golang.org/x/sys/unix"
)

// execSupervisorEnv makes the test binary run a test supervisor with the
// arguments it holds (separated by \x1f) as a plain program: an upgrade's
// new supervisor is the binary's path run again, which a proc child (whose
// parent is checked) cannot be.
const execSupervisorEnv = "PREFORK_TEST_EXEC_SUPERVISOR"

// execServer starts bin as a supervisor with args, and env added to its
// environment, and waits for it to serve.
func execServer(t *testing.T, bin string, env []string, args ...string) (*server, *exec.Cmd) {
	t.Helper()
	v := &server{t: t, log: &logBuf{}, done: make(chan struct{})}
	cmd := exec.Command(bin)
	cmd.Env = append(append(os.Environ(), env...), execSupervisorEnv+"="+strings.Join(args, "\x1f"))
	// A file, not a pipe: the new supervisor of an upgrade inherits it and
	// must be able to write to it after the old one (and Wait) are gone.
	logFile, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logFile.Close()
	stopTail := make(chan struct{})
	go func() {
		for {
			b, _ := os.ReadFile(logFile.Name())
			v.log.mu.Lock()
			v.log.buf.Reset()
			v.log.buf.Write(b)
			v.log.mu.Unlock()
			select {
			case <-stopTail:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	go func() { cmd.Wait(); close(v.done) }()
	t.Cleanup(func() {
		close(stopTail)
		cmd.Process.Signal(syscall.SIGKILL)
		<-v.done
		if t.Failed() {
			t.Logf("supervisor's log:\n%s", v.log)
		}
	})
	e := v.waitEvent("server ready", 20*time.Second, nil)
	v.addr = e.str("addr")
	return v, cmd
}

// tcpDialer dials addr, for ipctest.StartHTTPLoad.
func tcpDialer(addr string) func() (net.Conn, error) {
	return func() (net.Conn, error) { return net.DialTimeout("tcp", addr, 5*time.Second) }
}

// sameInode reports whether /proc/pid/exe is the file at path.
func sameInode(pid int, path string) bool {
	a, err1 := os.Stat("/proc/" + strconv.Itoa(pid) + "/exe")
	b, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// reapPID waits up to d for pid, a child of this process (an orphan it
// inherited as subreaper), to exit.
func reapPID(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		var ws syscall.WaitStatus
		if p, _ := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); p == pid {
			return true
		}
		if gone(pid) {
			// A zombie that died since the Wait4 above: reap it if it is
			// ours (ECHILD at once if it is not).
			syscall.Wait4(pid, &ws, 0, nil)
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// upgradable starts an HTTP server of 2 workers from a copy of the test
// binary at bin, with a pid file, in a directory of its own (tmp); env is
// added to its environment.
func upgradable(t *testing.T, env ...string) (self, tmp, bin, pidFile string, v *server, cmd *exec.Cmd) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tmp = t.TempDir()
	bin, pidFile = filepath.Join(tmp, "server"), filepath.Join(tmp, "server.pid")
	ipctest.InstallBinary(t, self, bin)
	v, cmd = execServer(t, bin, env, "addr=127.0.0.1:0", "workers=2", "dir="+t.TempDir(), "handler=http",
		"pidfile="+pidFile, "upgradetimeout=10s", "graceful=5s")
	return self, tmp, bin, pidFile, v, cmd
}

// SIGUSR2 under HTTP load, keep-alive and not: the binary on disk is
// replaced, the new supervisor takes over the sockets and the pid file,
// the old one drains and exits, no request fails (the load client never
// retries), and every process left runs the new binary.
func TestUpgrade(t *testing.T) {
	before := ipctest.Snapshot()
	self, _, bin, pidFile, v, cmd := upgradable(t)
	old := cmd.Process.Pid
	if pid, _ := os.ReadFile(pidFile); strings.TrimSpace(string(pid)) != strconv.Itoa(old) {
		t.Fatalf("pid file %q, supervisor %d", pid, old)
	}
	load := ipctest.StartHTTPLoad(tcpDialer(v.addr), 4)
	time.Sleep(300 * time.Millisecond)

	ipctest.InstallBinary(t, self, bin) // the deploy: a new file at the path
	t0 := time.Now()
	cmd.Process.Signal(syscall.SIGUSR2)
	select {
	case <-v.done:
	case <-time.After(20 * time.Second):
		load.Stop()
		t.Fatal("the old supervisor did not exit after SIGUSR2")
	}
	exited := time.Since(t0)
	time.Sleep(300 * time.Millisecond) // the new one alone
	load.Stop()
	t.Logf("upgrade under load: %v; the old supervisor exited %v after SIGUSR2, %v",
		load, exited.Round(time.Millisecond), overlap(v.log))
	if load.Failed.Load() != 0 || load.KeepAlive.Load() == 0 || load.NewConn.Load() == 0 {
		t.Errorf("across the upgrade: %v: %s", load, load.Errors())
	}
	if e := v.log.events("upgraded: the new supervisor serves; stopping gracefully"); len(e) != 1 {
		t.Errorf("no hand-over in the old supervisor's log")
	}

	b, _ := os.ReadFile(pidFile)
	newPID, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if newPID <= 0 || newPID == old || gone(newPID) {
		t.Fatalf("pid file after the upgrade names %q (old supervisor %d)", b, old)
	}
	defer stopNewSupervisor(t, newPID, before)
	if _, err := os.Stat(pidFile + ".oldbin"); err == nil {
		t.Errorf("%s.oldbin left after the old supervisor exited", pidFile)
	}
	procs := append([]int{newPID}, childrenOf(newPID, false)...)
	if len(procs) < 3 {
		t.Errorf("new supervisor and children: %v, want it and at least 2 workers", procs)
	}
	for _, pid := range procs {
		if !sameInode(pid, bin) {
			exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
			t.Errorf("process %d runs %s, not the new binary", pid, exe)
		}
	}
	t.Logf("after the upgrade, processes %v all run the new %s", procs, bin)
	if got, err := http.Get("http://" + v.addr + "/"); err != nil {
		t.Errorf("after the upgrade: %v", err)
	} else {
		got.Body.Close()
	}
}

// An upgrade to a binary that exits at start rolls back: the old
// supervisor serves on with no failed request and takes its pid file back.
func TestUpgradeRollback(t *testing.T) {
	before := ipctest.Snapshot()
	_, tmp, bin, pidFile, v, cmd := upgradable(t)
	old := cmd.Process.Pid
	load := ipctest.StartHTTPLoad(tcpDialer(v.addr), 4)
	time.Sleep(200 * time.Millisecond)

	broken := filepath.Join(tmp, "broken")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\necho broken binary >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ipctest.InstallBinary(t, broken, bin)
	cmd.Process.Signal(syscall.SIGUSR2)
	e := v.waitEvent("upgrade failed: rolled back, the old supervisor serves on", 15*time.Second, nil)
	t.Logf("rollback: %s", e.str("why"))
	time.Sleep(300 * time.Millisecond)
	load.Stop()
	t.Logf("rollback under load: %v", load)
	if load.Failed.Load() != 0 || load.KeepAlive.Load() == 0 || load.NewConn.Load() == 0 {
		t.Errorf("across the rollback: %v: %s", load, load.Errors())
	}
	if b, _ := os.ReadFile(pidFile); strings.TrimSpace(string(b)) != strconv.Itoa(old) {
		t.Errorf("pid file after the rollback: %q, want %d", b, old)
	}
	if _, err := os.Stat(pidFile + ".oldbin"); err == nil {
		t.Errorf("%s.oldbin left after the rollback", pidFile)
	}
	select {
	case <-v.done:
		t.Fatal("the old supervisor exited")
	default:
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-v.done:
	case <-time.After(15 * time.Second):
		t.Error("the old supervisor did not stop on SIGTERM")
	}
	if leaks := ipctest.Leaked(before); len(leaks) > 0 {
		t.Errorf("left behind: %v", leaks)
	}
}

// overlap says, from a log both supervisors wrote, how long the hand-over
// took (SIGUSR2 to the new supervisor's ready, as the old one measured it)
// and how long the two generations then served side by side (from the
// hand-over to the old supervisor's last line, "server stopped": its
// workers finish what they had).
func overlap(log *logBuf) string {
	up := log.events("upgraded: the new supervisor serves; stopping gracefully")
	stopped := log.events("server stopped")
	if len(up) == 0 || len(stopped) == 0 {
		return "no hand-over in the log"
	}
	return fmt.Sprintf("hand-over %v after SIGUSR2, generations overlapped %v",
		time.Duration(up[0].num("took")).Round(time.Millisecond), eventTime(stopped[0]).Sub(eventTime(up[0])).Round(time.Millisecond))
}

func eventTime(e event) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, e.str("time"))
	return t
}

// notification is one datagram a fake NOTIFY_SOCKET got, and who sent it
// (SO_PASSCRED: the kernel says, whatever the sender claims).
type notification struct {
	pid  int
	text string
}

// notifySocket is a fake systemd NOTIFY_SOCKET.
func notifySocket(t *testing.T) (path string, msgs chan notification) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "notify")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	msgs = make(chan notification, 1000)
	done := make(chan struct{})
	t.Cleanup(func() { unix.Shutdown(fd, unix.SHUT_RDWR); <-done; unix.Close(fd) })
	go func() {
		defer close(done)
		buf, oob := make([]byte, 4096), make([]byte, 1024)
		for {
			n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, 0)
			if err != nil || n == 0 {
				return
			}
			m := notification{text: string(buf[:n])}
			if scms, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for _, c := range scms {
					if cred, err := unix.ParseUnixCredentials(&c); err == nil {
						m.pid = int(cred.Pid)
					}
				}
			}
			msgs <- m
		}
	}()
	return path, msgs
}

// The MAINPID hand-over through NOTIFY_SOCKET, as systemd (NotifyAccess=main)
// needs it: the old supervisor says MAINPID=<new>, then the new one says
// READY=1 (before that systemd would ignore it), then the new one alone
// speaks: it pets the watchdog, and the old one says neither STOPPING=1 nor
// WATCHDOG=1 as it drains.
func TestUpgradeNotify(t *testing.T) {
	before := ipctest.Snapshot()
	sock, msgs := notifySocket(t)
	self, _, bin, pidFile, v, cmd := upgradable(t, "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=400000")
	old := cmd.Process.Pid
	next := func(what string) notification {
		t.Helper()
		for {
			select {
			case m := <-msgs:
				if m.text != "WATCHDOG=1" {
					return m
				}
			case <-time.After(15 * time.Second):
				t.Fatalf("no notification: waiting for %s", what)
			}
		}
	}
	if m := next("READY=1"); m.pid != old || !strings.HasPrefix(m.text, "READY=1\n") || !strings.Contains(m.text, "\nMAINPID="+strconv.Itoa(old)) {
		t.Fatalf("first notification %+v, want READY=1 with MAINPID=%d from %d", m, old, old)
	}
	ipctest.InstallBinary(t, self, bin)
	cmd.Process.Signal(syscall.SIGUSR2)
	m := next("MAINPID")
	newPID, _ := strconv.Atoi(strings.TrimPrefix(strings.SplitN(m.text, "\n", 2)[0], "MAINPID="))
	if m.pid != old || newPID <= 0 || newPID == old {
		t.Fatalf("after SIGUSR2: %+v, want MAINPID=<new> from the old supervisor %d", m, old)
	}
	defer stopNewSupervisor(t, newPID, before)
	if m := next("READY=1 from the new supervisor"); m.pid != newPID || !strings.HasPrefix(m.text, "READY=1\n") ||
		!strings.Contains(m.text, "\nMAINPID="+strconv.Itoa(newPID)) {
		t.Fatalf("after MAINPID=%d: %+v, want READY=1 from it", newPID, m)
	}
	select {
	case <-v.done:
	case <-time.After(15 * time.Second):
		t.Fatal("the old supervisor did not exit")
	}
	// Until then and for a while after, the new supervisor alone speaks,
	// and it pets the watchdog (every 200 ms).
	watchdogs := 0
	for end := time.After(time.Second); ; {
		select {
		case m := <-msgs:
			if m.pid != newPID || m.text != "WATCHDOG=1" {
				t.Errorf("after the hand-over: %+v (old %d, new %d)", m, old, newPID)
			}
			watchdogs++
			continue
		case <-end:
		}
		break
	}
	if watchdogs < 3 {
		t.Errorf("%d WATCHDOG=1 from the new supervisor in 1s with WATCHDOG_USEC=400000", watchdogs)
	}
	if b, _ := os.ReadFile(pidFile); strings.TrimSpace(string(b)) != strconv.Itoa(newPID) {
		t.Errorf("pid file %q, new supervisor %d", b, newPID)
	}
	syscall.Kill(newPID, syscall.SIGTERM)
	if m := next("STOPPING=1"); m.pid != newPID || !strings.HasPrefix(m.text, "STOPPING=1") {
		t.Errorf("on SIGTERM to the new supervisor: %+v", m)
	}
}

// stopNewSupervisor stops the supervisor an upgrade started (an orphan this
// process reaps as subreaper) and checks that nothing is left.
func stopNewSupervisor(t *testing.T, pid int, before map[string]bool) {
	t.Helper()
	syscall.Kill(pid, syscall.SIGTERM)
	if !reapPID(pid, 15*time.Second) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("the new supervisor %d did not stop on SIGTERM", pid)
	}
	if leaks := ipctest.Leaked(before); len(leaks) > 0 {
		t.Errorf("left behind: %v", leaks)
	}
}

// A connection that brings no request (a client's preconnect) is idle, as
// a kept-alive one between requests: a draining HTTP worker closes it after
// its grace, and does not wait the graceful timeout for it; a request that
// comes on a connection opened just before the drain is answered.
func TestHTTPDrainSilentConnection(t *testing.T) {
	s := startServer(t, "workers=1", "handler=http", "graceful=20s")
	silent, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// Handed to the worker before the drain begins.
	time.Sleep(200 * time.Millisecond)
	late, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	time.Sleep(100 * time.Millisecond)
	t0 := time.Now()
	s.signal(syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond)
	io.WriteString(late, "GET / HTTP/1.1\r\nHost: test\r\n\r\n")
	late.SetReadDeadline(time.Now().Add(10 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(late), nil); err != nil || resp.StatusCode != 200 || !resp.Close {
		t.Errorf("a request 300 ms into the drain: %v, %v", resp, err)
	}
	silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := silent.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("the silent connection: %d, %v; want it closed (EOF)", n, err)
	}
	s.wait(10 * time.Second)
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("the server took %v to stop with a silent connection open (graceful timeout 20s)", d.Round(time.Millisecond))
	}
	if e := s.log.events("graceful timeout passed; cutting connections"); len(e) > 0 {
		t.Errorf("connections cut: %v", e)
	}
}
