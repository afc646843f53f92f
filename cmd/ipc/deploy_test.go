package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"golang.org/x/sys/unix"
)

// The example units of cmd/ipc/systemd, run as systemd would run them:
// systemd-socket-activate binds the .socket's ListenStream addresses and
// executes the .service's ExecStart with LISTEN_FDS, and a unixgram socket
// of the test stands in for systemd's NOTIFY_SOCKET.

// unit reads the [Section] Key= values of a unit file, in order.
func unit(t *testing.T, name string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("systemd", name))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			out[k] = append(out[k], v)
		}
	}
	return out
}

func needSocketActivate(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("no systemd-socket-activate (Debian's systemd package):", err)
	}
	return p
}

// notifySocket is a fake NOTIFY_SOCKET: every datagram it gets, as a line.
type notifySocket struct {
	path string
	c    *net.UnixConn
	msgs chan string
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	n := &notifySocket{path: filepath.Join(t.TempDir(), "notify"), msgs: make(chan string, 1000)}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n.c = c
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := c.Read(buf)
			if err != nil {
				close(n.msgs)
				return
			}
			n.msgs <- string(buf[:k])
		}
	}()
	return n
}

// expect waits for a message with the line want (skipping WATCHDOG=1
// unless that is what is wanted) and returns it; any other message first is
// an error.
func (n *notifySocket) expect(t *testing.T, want string, d time.Duration) string {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case m, ok := <-n.msgs:
			if !ok {
				t.Fatalf("notify socket closed waiting for %s", want)
			}
			lines := strings.Split(m, "\n")
			if lines[0] == want {
				return m
			}
			if m != "WATCHDOG=1" {
				t.Fatalf("got notification %q, want %s", m, want)
			}
		case <-timeout:
			t.Fatalf("no %s after %v", want, d)
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestExampleUnitsVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze:", err)
	}
	dir := t.TempDir()
	for _, name := range []string{"ipc-serve.socket", "ipc-serve.service"} {
		b, err := os.ReadFile(filepath.Join("systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		// verify checks that ExecStart's program exists.
		b = []byte(strings.ReplaceAll(string(b), "/usr/local/bin/ipc", ipcBin))
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(sa, "verify", filepath.Join(dir, "ipc-serve.socket"), filepath.Join(dir, "ipc-serve.service")).CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestServeSocketActivated(t *testing.T) {
	ssa := needSocketActivate(t)
	sock, svc := unit(t, "ipc-serve.socket"), unit(t, "ipc-serve.service")
	if svc["Type"][0] != "notify" || len(sock["ListenStream"]) != 2 {
		t.Fatalf("units: Type %v, ListenStream %v", svc["Type"], sock["ListenStream"])
	}
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "run-ipc")
	if err := os.Mkdir(stateDir, 0o750); err != nil {
		t.Fatal(err)
	}
	// The unit's sockets, moved where a test may bind them.
	tcp, path := freePort(t), filepath.Join(dir, "ipc-serve.sock")
	if sock["ListenStream"][0] != "127.0.0.1:8989" || sock["ListenStream"][1] != "/run/ipc-serve.sock" {
		t.Fatalf("ListenStream %v", sock["ListenStream"])
	}
	// The unit's ExecStart, with the binary and /run/ipc moved likewise.
	argv := strings.Fields(svc["ExecStart"][0])
	if argv[0] != "/usr/local/bin/ipc" {
		t.Fatalf("ExecStart %v", argv)
	}
	argv[0] = ipcBin
	pidFile := ""
	for i, a := range argv {
		if strings.HasPrefix(a, "/run/ipc/") {
			argv[i] = filepath.Join(stateDir, strings.TrimPrefix(a, "/run/ipc/"))
			pidFile = argv[i]
		}
		if a == "--user" && os.Geteuid() != 0 {
			argv[i], argv[i+1] = "--workers", "2" // only root can drop privileges
		}
	}
	argv = append(argv, "--state-dir", stateDir)

	notify := newNotifySocket(t)
	args := []string{"-l", tcp, "-l", path, "--fdname=" + sock["FileDescriptorName"][0],
		"-E", "NOTIFY_SOCKET=" + notify.path, "-E", "WATCHDOG_USEC=300000"}
	cmd := exec.Command(ssa, append(args, argv...)...)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("stderr:\n%s", stderr.String())
		}
	})
	for deadline := time.Now().Add(10 * time.Second); strings.Count(stderr.String(), "Listening on") < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("systemd-socket-activate is not listening:\n%s", stderr.String())
		}
	}

	// The first connection makes systemd-socket-activate execute the
	// server (in its own process: LISTEN_PID is that pid), which then
	// answers it on the socket it was given, as it answers later ones.
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(c *http.Client, url string) {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "hello from worker ") {
			t.Fatalf("GET %s: %s %q", url, resp.Status, b)
		}
	}
	get(client, "http://"+tcp+"/")
	ready := notify.expect(t, "READY=1", 20*time.Second)
	if !strings.Contains(ready, "\nMAINPID="+strconv.Itoa(cmd.Process.Pid)) {
		t.Errorf("READY without MAINPID=%d: %q", cmd.Process.Pid, ready)
	}
	overUnix := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
	}}
	for range 5 {
		get(client, "http://"+tcp+"/")
		get(overUnix, "http://ipc/")
	}
	log := stderr.String()
	for _, want := range []string{`"msg":"serving the sockets systemd passed","sockets":"` + tcp + " " + path + `"`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	if strings.Contains(log, "address already in use") {
		t.Errorf("the server bound an address itself:\n%s", log)
	}
	if b, err := os.ReadFile(pidFile); err != nil || string(b) != strconv.Itoa(cmd.Process.Pid)+"\n" {
		t.Errorf("pid file %s: %q %v", pidFile, b, err)
	}

	// The watchdog, every WATCHDOG_USEC/2.
	count := 0
	for deadline := time.After(2 * time.Second); count < 3; {
		select {
		case m := <-notify.msgs:
			if m != "WATCHDOG=1" {
				t.Fatalf("notification %q while idle", m)
			}
			count++
		case <-deadline:
			t.Fatalf("%d WATCHDOG=1 in 2s, with WATCHDOG_USEC=300000", count)
		}
	}

	// ExecReload: RELOADING=1, and READY=1 when the new generation alone
	// serves.
	cmd.Process.Signal(syscall.SIGHUP)
	if m := notify.expect(t, "RELOADING=1", 10*time.Second); !regexp.MustCompile(`\nMONOTONIC_USEC=\d+\n`).MatchString(m) {
		t.Errorf("RELOADING=1 without MONOTONIC_USEC: %q", m)
	}
	notify.expect(t, "READY=1", 20*time.Second)
	if n := strings.Count(stderr.String(), `"msg":"worker ready"`); n < 4 {
		t.Errorf("%d workers ready after the reload", n)
	}
	get(overUnix, "http://ipc/")

	cmd.Process.Signal(syscall.SIGTERM)
	notify.expect(t, "STOPPING=1", 10*time.Second)
	select {
	case <-done:
		if waitErr != nil {
			t.Fatalf("server exited: %v", waitErr)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server still running 15s after SIGTERM")
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file after exit: %v", err)
	}
	// The socket file is systemd's: the server leaves it.
	if _, err := os.Stat(path); err != nil {
		t.Errorf("systemd's socket file: %v", err)
	}
}

// A datagram socket cannot be served: the server says so and exits.
func TestServeSocketActivatedDatagram(t *testing.T) {
	ssa := needSocketActivate(t)
	path := filepath.Join(t.TempDir(), "dgram.sock")
	cmd := exec.Command(ssa, "-d", "-l", path, ipcBin, "serve", "--state-dir", t.TempDir())
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stderr.String(), "Listening on"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not listening:\n%s", stderr.String())
		}
	}
	c, err := net.Dial("unixgram", path)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(c, "wake up")
	c.Close()
	err = cmd.Wait()
	if exitCode(err) != 1 {
		t.Fatalf("exit %v:\n%s", err, stderr.String())
	}
	last := strings.TrimSpace(stderr.String())
	last = last[strings.LastIndexByte(last, '\n')+1:]
	if last != "ipc: prefork: start server: not a listening stream socket (socket-activated descriptor 3, LISTEN_FD_3)" {
		t.Fatalf("last line %q", last)
	}
}

// --addr given twice: TCP and a Unix socket with the mode and owner asked
// for; --socket-mode is checked.
func TestServeUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	s := startServe(t, "--handler", "upper", "--workers", "2", "--addr", "unix:"+path, "--socket-mode", "0600")
	out, err := exec.Command("stat", "-c", "%F %a %U", path).CombinedOutput()
	if err != nil || string(out) != "socket 600 root\n" && os.Geteuid() == 0 {
		t.Fatalf("stat %s: %q %v", path, out, err)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(c, "over unix")
	line, err := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if err != nil || line != "OVER UNIX\n" {
		t.Fatalf("%q %v", line, err)
	}
	upperAsk(t, s.addr, "over tcp")
	s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.done
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("socket file after exit: %v", err)
	}

	for _, bad := range []string{"0", "999", "rw", "01777"} {
		out, err := exec.Command(ipcBin, "serve", "--addr", "unix:"+path, "--socket-mode", bad).CombinedOutput()
		want := fmt.Sprintf("ipc: serve: --socket-mode must be octal permission bits such as 0660, not %q\n", bad)
		if exitCode(err) != 2 || string(out) != want {
			t.Errorf("--socket-mode %s: %v %q", bad, err, out)
		}
	}
}

// procStatusLine is the value of a line of /proc/PID/status, spaces
// squeezed.
func procStatusLine(pid int, key string) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}

// An upgrade of the real binary under load on a TCP and a Unix socket (as
// root also with --private-ipc and --user nobody): no request fails on
// either; afterwards every process runs the new binary, the workers run as
// nobody, the socket is the same file and `ipc status` shows the new
// supervisor. Its standard error is then a pipe nobody reads (the test
// closes it, as a log reader that followed the old process would): the
// new supervisor logs a reload into it and serves on, and exits 0.
func TestServeUpgrade(t *testing.T) {
	root := os.Geteuid() == 0
	top := t.TempDir()
	if root {
		// nobody's workers execute the binary there.
		for _, d := range []string{top, filepath.Dir(top)} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	bin, sock, pidFile, state := filepath.Join(top, "ipc"), filepath.Join(top, "s.sock"), filepath.Join(top, "ipc.pid"), filepath.Join(top, "state")
	ipctest.InstallBinary(t, ipcBin, bin)
	args := []string{"serve", "--handler", "http", "--workers", "2", "--addr", "127.0.0.1:0", "--addr", "unix:" + sock,
		"--pid-file", pidFile, "--state-dir", state, "--log-json", "--upgrade-timeout", "20s", "--graceful-timeout", "5s"}
	if root {
		args = append(args, "--private-ipc", "--user", "nobody")
	}
	// The new supervisor outlives the old one, its parent: it comes back
	// here, to be waited for.
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	log := &lockedBuffer{}
	copied := make(chan struct{})
	go func() { io.Copy(log, r); close(copied) }()
	cmd := exec.Command(bin, args...)
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	old := cmd.Process.Pid
	oldDone := make(chan struct{})
	go func() { cmd.Wait(); close(oldDone) }()
	newPID := 0
	t.Cleanup(func() {
		for _, pid := range []int{old, newPID} {
			if pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		<-oldDone
		if newPID > 0 {
			var ws syscall.WaitStatus
			syscall.Wait4(newPID, &ws, 0, nil)
		}
		r.Close()
		if t.Failed() {
			t.Logf("log:\n%s", log.String())
		}
	})
	waitLog := func(what string, n int) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); strings.Count(log.String(), `"msg":"`+what+`"`) < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q (%d) in the log", what, n)
			}
		}
	}
	waitLog("server ready", 1)
	files, _ := filepath.Glob(filepath.Join(state, "prefork-*.json"))
	if len(files) != 1 {
		t.Fatalf("state files %v", files)
	}
	var st struct {
		Addr string `json:"addr"`
	}
	if b, err := os.ReadFile(files[0]); err != nil || json.Unmarshal(b, &st) != nil {
		t.Fatalf("state file: %v", err)
	}
	var sockBefore syscall.Stat_t
	if err := syscall.Stat(sock, &sockBefore); err != nil {
		t.Fatal(err)
	}
	tcpLoad := ipctest.StartHTTPLoad(func() (net.Conn, error) { return net.DialTimeout("tcp", st.Addr, 5*time.Second) }, 4)
	unixLoad := ipctest.StartHTTPLoad(func() (net.Conn, error) { return net.DialTimeout("unix", sock, 5*time.Second) }, 4)
	time.Sleep(300 * time.Millisecond)

	ipctest.InstallBinary(t, ipcBin, bin) // the deploy
	cmd.Process.Signal(syscall.SIGUSR2)
	select {
	case <-oldDone:
	case <-time.After(20 * time.Second):
		t.Fatal("the old supervisor did not exit after SIGUSR2")
	}
	time.Sleep(300 * time.Millisecond)
	tcpLoad.Stop()
	unixLoad.Stop()
	t.Logf("upgrade (root %v): TCP: %v; Unix: %v", root, tcpLoad, unixLoad)
	for _, l := range []*ipctest.HTTPLoad{tcpLoad, unixLoad} {
		if l.Failed.Load() != 0 || l.KeepAlive.Load() == 0 || l.NewConn.Load() == 0 {
			t.Errorf("across the upgrade: %v: %s", l, l.Errors())
		}
	}
	if !strings.Contains(log.String(), `"msg":"upgraded: the new supervisor serves; stopping gracefully"`) {
		t.Fatal("no hand-over in the log")
	}
	b, _ := os.ReadFile(pidFile)
	if newPID, _ = strconv.Atoi(strings.TrimSpace(string(b))); newPID <= 0 || newPID == old {
		t.Fatalf("pid file %q after the upgrade (old %d)", b, old)
	}
	var sockAfter syscall.Stat_t
	if err := syscall.Stat(sock, &sockAfter); err != nil || sockAfter.Ino != sockBefore.Ino {
		t.Errorf("socket file after the upgrade: %v, inode %d, was %d", err, sockAfter.Ino, sockBefore.Ino)
	}

	// Every process is the new binary; the workers are nobody's.
	tryStatus := func() (statusJSON, error) {
		out, err := exec.Command(ipcBin, "status", "--state-dir", state, "--json").Output()
		var sj statusJSON
		if err == nil {
			err = json.Unmarshal(out, &sj)
		}
		return sj, err
	}
	sj, err := tryStatus()
	if err != nil {
		t.Fatalf("ipc status: %v", err)
	}
	if sj.PID != newPID || len(sj.Workers) != 2 {
		t.Fatalf("ipc status after the upgrade: pid %d, %d workers; want %d, 2", sj.PID, len(sj.Workers), newPID)
	}
	procs := append([]int{newPID}, ipctest.Children(newPID, false)...)
	fb, _ := os.Stat(bin)
	for _, pid := range procs {
		if fe, err := os.Stat("/proc/" + strconv.Itoa(pid) + "/exe"); err != nil || !os.SameFile(fe, fb) {
			exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
			t.Errorf("process %d runs %s, not the new %s", pid, exe, bin)
		}
	}
	if uid := procStatusLine(newPID, "Uid"); root && uid != "0 0 0 0" {
		t.Errorf("the new supervisor: Uid %s, want root's (it binds, supervises, cleans up)", uid)
	}
	for _, wk := range sj.Workers {
		if uid := procStatusLine(wk.PID, "Uid"); root && uid != "65534 65534 65534 65534" {
			t.Errorf("worker %d after the upgrade: Uid %s, want nobody's", wk.PID, uid)
		}
	}
	if root {
		ns := func(pid int) string { l, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/ipc"); return l }
		if ns(newPID) == ns(os.Getpid()) || ns(sj.Workers[0].PID) != ns(newPID) {
			t.Errorf("IPC namespaces: new supervisor %s, its worker %s, the test %s", ns(newPID), ns(sj.Workers[0].PID), ns(os.Getpid()))
		}
	}
	t.Logf("after the upgrade, processes %v run the new binary; workers %d and %d are uid %s", procs,
		sj.Workers[0].PID, sj.Workers[1].PID, procStatusLine(sj.Workers[0].PID, "Uid"))

	// The log pipe loses its reader: the new supervisor's next lines
	// (a whole reload's) fail with EPIPE, and it goes on.
	r.Close()
	<-copied
	syscall.Kill(newPID, syscall.SIGHUP)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var ws syscall.WaitStatus
		if p, _ := syscall.Wait4(newPID, &ws, syscall.WNOHANG, nil); p == newPID {
			newPID = 0
			t.Fatalf("the new supervisor died with a closed log pipe: exit %d, signal %v", ws.ExitStatus(), ws.Signal())
		}
		sj, _ := tryStatus()
		gen2 := 0
		for _, wk := range sj.Workers {
			if wk.Generation == 2 && wk.State != "starting" {
				gen2++
			}
		}
		if gen2 == 2 && len(sj.Workers) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reload after SIGHUP with a closed log pipe: %+v", sj)
		}
	}
	for _, c := range []*http.Client{{Timeout: 5 * time.Second}, {Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}} {
		resp, err := c.Get("http://" + st.Addr + "/")
		if err != nil {
			t.Fatalf("after the reload with a closed log pipe: %v", err)
		}
		resp.Body.Close()
	}
	syscall.Kill(newPID, syscall.SIGTERM)
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(newPID, &ws, 0, nil); err != nil || !ws.Exited() || ws.ExitStatus() != 0 {
		t.Errorf("the new supervisor ended: %v (signal %v), want exit 0", err, ws.Signal())
	}
	newPID = 0
	for _, p := range []string{sock, pidFile, pidFile + ".oldbin"} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s after exit: %v", p, err)
		}
	}
}

func TestSplitAddrs(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"127.0.0.1:80", "127.0.0.1:80"},
		{"127.0.0.1:80,[::1]:81", "127.0.0.1:80|[::1]:81"},
		{"unix:/run/a,b.sock", "unix:/run/a,b.sock"},
		{"unix:/run/a.sock,127.0.0.1:80", "unix:/run/a.sock|127.0.0.1:80"},
		{"127.0.0.1:80,unix:/run/a,b,c.sock,unix:/run/d.sock", "127.0.0.1:80|unix:/run/a,b,c.sock|unix:/run/d.sock"},
		{"unix:/run/x,", "unix:/run/x,"},
		{"127.0.0.1:80,", "127.0.0.1:80|"},
	} {
		if got := strings.Join(splitAddrs(c.in), "|"); got != c.want {
			t.Errorf("splitAddrs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// --addr repeated, a Unix path with a comma in it, and the comma-separated
// list it always took: four listeners, each served.
func TestServeAddrRepeated(t *testing.T) {
	dir := t.TempDir()
	comma, plain := filepath.Join(dir, "a,b.sock"), filepath.Join(dir, "c.sock")
	s := startServe(t, "--handler", "upper", "--workers", "1", "--addr", "unix:"+comma, "--addr", "127.0.0.1:0,unix:"+plain)
	for _, p := range []string{comma, plain} {
		c, err := net.Dial("unix", p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		fmt.Fprintln(c, "over "+p)
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil || line != strings.ToUpper("over "+p)+"\n" {
			t.Fatalf("%s: %q %v", p, line, err)
		}
	}
	log := s.stderr.String()
	i := strings.Index(log, "msg=listening addrs=")
	if i < 0 {
		t.Fatalf("no listening line:\n%s", log)
	}
	line := log[i:]
	line = line[:strings.IndexByte(line, '\n')]
	if !strings.Contains(line, " "+comma+" 127.0.0.1:") || !strings.HasSuffix(line, " "+plain+`"`) || strings.Count(line, "127.0.0.1:") != 2 {
		t.Errorf("listening on %s", line)
	}
	upperAsk(t, s.addr, "over tcp")
	out, err := exec.Command(ipcBin, "serve", "--addr", "unix:").CombinedOutput()
	if exitCode(err) != 2 || string(out) != "ipc: serve: --addr \"unix:\": want host:port or unix:/path\n" {
		t.Errorf("--addr unix: gave %v %q", err, out)
	}
}

// wrkResult is what one wrk run reports.
type wrkResult struct {
	requests, errors int
	summary          string
}

var (
	wrkRequests = regexp.MustCompile(`(\d+) requests in `)
	wrkSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

func parseWrk(out string) wrkResult {
	r := wrkResult{summary: strings.Join(strings.Fields(out), " ")}
	if m := wrkRequests.FindStringSubmatch(out); m != nil {
		r.requests, _ = strconv.Atoi(m[1])
	}
	for _, re := range []*regexp.Regexp{wrkSocket, wrkNon2xx} {
		if m := re.FindStringSubmatch(out); m != nil {
			for _, n := range m[1:] {
				k, _ := strconv.Atoi(n)
				r.errors += k
			}
		}
	}
	return r
}

// jsonLogEvents are the lines of a JSON log with msg.
func jsonLogEvents(log, msg string) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(log, "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(l), &e) == nil && e["msg"] == msg {
			out = append(out, e)
		}
	}
	return out
}

// An upgrade and then a rollback (to a binary that exits at start) of the
// real binary, each under two wrk runs at once, one keep-alive and one
// with Connection: close: wrk counts no error of any kind, and the log says
// how long the hand-over took and how long the generations overlapped.
// Long (2 x 6 s), so only with IPC_LONG=1.
func TestServeUpgradeWrk(t *testing.T) {
	if os.Getenv("IPC_LONG") == "" {
		t.Skip("IPC_LONG=1 runs an upgrade and a rollback under wrk (12 s)")
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("no wrk:", err)
	}
	top := t.TempDir()
	bin, pidFile, state := filepath.Join(top, "ipc"), filepath.Join(top, "ipc.pid"), filepath.Join(top, "state")
	ipctest.InstallBinary(t, ipcBin, bin)
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	logFile, err := os.Create(filepath.Join(top, "log"))
	if err != nil {
		t.Fatal(err)
	}
	readLog := func() string { b, _ := os.ReadFile(logFile.Name()); return string(b) }
	cmd := exec.Command(bin, "serve", "--handler", "http", "--workers", "2", "--addr", "127.0.0.1:0",
		"--pid-file", pidFile, "--state-dir", state, "--log-json", "--upgrade-timeout", "20s", "--graceful-timeout", "5s")
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logFile.Close()
	oldDone := make(chan struct{})
	go func() { cmd.Wait(); close(oldDone) }()
	newPID := 0
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-oldDone
		if newPID > 0 {
			syscall.Kill(newPID, syscall.SIGKILL)
			var ws syscall.WaitStatus
			syscall.Wait4(newPID, &ws, 0, nil)
		}
		if t.Failed() {
			t.Logf("log:\n%s", readLog())
		}
	})
	for deadline := time.Now().Add(20 * time.Second); len(jsonLogEvents(readLog(), "server ready")) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not ready")
		}
	}
	addr, _ := jsonLogEvents(readLog(), "server ready")[0]["addr"].(string)
	url := "http://" + addr + "/"

	// underWrk runs the two wrks for 6 s and, 2 s in, deploys and sends
	// USR2 to pid.
	underWrk := func(pid int, deploy func()) (keep, closing wrkResult) {
		t.Helper()
		outs := make([]string, 2)
		done := make(chan struct{}, 2)
		for i, extra := range [][]string{nil, {"-H", "Connection: close"}} {
			go func() {
				args := append([]string{"-t1", "-c4", "-d6s"}, extra...)
				out, _ := exec.Command(wrk, append(args, url)...).CombinedOutput()
				outs[i] = string(out)
				done <- struct{}{}
			}()
		}
		time.Sleep(2 * time.Second)
		deploy()
		syscall.Kill(pid, syscall.SIGUSR2)
		<-done
		<-done
		return parseWrk(outs[0]), parseWrk(outs[1])
	}
	keep, closing := underWrk(cmd.Process.Pid, func() { ipctest.InstallBinary(t, ipcBin, bin) })
	select {
	case <-oldDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the old supervisor did not exit")
	}
	log := readLog()
	up, stopped := jsonLogEvents(log, "upgraded: the new supervisor serves; stopping gracefully"), jsonLogEvents(log, "server stopped")
	if len(up) != 1 || len(stopped) != 1 {
		t.Fatalf("upgraded %d, stopped %d in the log", len(up), len(stopped))
	}
	took, _ := up[0]["took"].(float64)
	t1, _ := time.Parse(time.RFC3339Nano, up[0]["time"].(string))
	t2, _ := time.Parse(time.RFC3339Nano, stopped[0]["time"].(string))
	t.Logf("upgrade under wrk: keep-alive %d requests, %d errors; Connection: close %d requests, %d errors; hand-over %v after USR2, generations overlapped %v",
		keep.requests, keep.errors, closing.requests, closing.errors, time.Duration(took).Round(time.Millisecond), t2.Sub(t1).Round(time.Millisecond))
	for _, r := range []wrkResult{keep, closing} {
		if r.requests == 0 || r.errors != 0 {
			t.Errorf("upgrade under wrk: %s", r.summary)
		}
	}
	b, _ := os.ReadFile(pidFile)
	if newPID, _ = strconv.Atoi(strings.TrimSpace(string(b))); newPID <= 0 || newPID == cmd.Process.Pid {
		t.Fatalf("pid file %q", b)
	}

	// Rollback: the binary now on disk exits at start.
	broken := filepath.Join(top, "broken")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\necho broken binary >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	keep, closing = underWrk(newPID, func() { ipctest.InstallBinary(t, broken, bin) })
	fails := jsonLogEvents(readLog(), "upgrade failed: rolled back, the old supervisor serves on")
	t.Logf("rollback under wrk: keep-alive %d requests, %d errors; Connection: close %d requests, %d errors; %d rollback logged",
		keep.requests, keep.errors, closing.requests, closing.errors, len(fails))
	for _, r := range []wrkResult{keep, closing} {
		if r.requests == 0 || r.errors != 0 {
			t.Errorf("rollback under wrk: %s", r.summary)
		}
	}
	if len(fails) != 1 {
		t.Errorf("%d rollbacks in the log", len(fails))
	}
	if b, _ := os.ReadFile(pidFile); strings.TrimSpace(string(b)) != strconv.Itoa(newPID) {
		t.Errorf("pid file after the rollback: %q, want %d", b, newPID)
	}
	syscall.Kill(newPID, syscall.SIGTERM)
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(newPID, &ws, 0, nil); err != nil || !ws.Exited() || ws.ExitStatus() != 0 {
		t.Errorf("the supervisor ended %v %v", err, ws)
	}
	newPID = 0
}
