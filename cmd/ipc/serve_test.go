package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
)

// lockedBuffer collects a server's stderr while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type serveProc struct {
	cmd    *exec.Cmd
	dir    string
	addr   string
	pid    int
	stderr *lockedBuffer
	done   chan struct{} // closed when it exited, with err
	err    error
}

// startServe runs `ipc serve` with args and waits until it serves.
func startServe(t *testing.T, args ...string) *serveProc {
	t.Helper()
	s := &serveProc{dir: t.TempDir(), stderr: &lockedBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(ipcBin, append([]string{"serve", "--addr", "127.0.0.1:0", "--state-dir", s.dir}, args...)...)
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("ipc serve stderr:\n%s", s.stderr.String())
		}
	})
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(s.stderr.String(), `msg="server ready"`) &&
		!strings.Contains(s.stderr.String(), `"msg":"server ready"`); {
		if time.Now().After(deadline) {
			t.Fatalf("ipc serve not ready:\n%s", s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	files, _ := filepath.Glob(filepath.Join(s.dir, "prefork-*.json"))
	if len(files) != 1 {
		t.Fatalf("state files: %v", files)
	}
	var st struct {
		PID  int    `json:"pid"`
		Addr string `json:"addr"`
	}
	b, _ := os.ReadFile(files[0])
	if err := json.Unmarshal(b, &st); err != nil || st.PID != s.cmd.Process.Pid {
		t.Fatalf("state file %s: %s (%v)", files[0], b, err)
	}
	s.addr, s.pid = st.Addr, st.PID
	return s
}

func (s *serveProc) status(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(ipcBin, append([]string{"status", "--state-dir", s.dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ipc status %v: %v\n%s", args, err, out)
	}
	return string(out)
}

type statusJSON struct {
	PID        int `json:"pid"`
	LockHolder int `json:"lock_holder"`
	Workers    []struct {
		Slot        *int    `json:"slot"`
		PID         int     `json:"pid"`
		Generation  int     `json:"generation"`
		State       string  `json:"state"`
		Connections *uint64 `json:"connections"`
		BytesIn     *uint64 `json:"bytes_in"`
		BytesOut    *uint64 `json:"bytes_out"`
		Started     string  `json:"started"`
		LastActive  string  `json:"last_active"`
		Active      uint64  `json:"active"`
	} `json:"workers"`
}

func (s *serveProc) statusJSON(t *testing.T) statusJSON {
	t.Helper()
	var st statusJSON
	out := s.status(t, "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("ipc status --json: %v\n%s", err, out)
	}
	return st
}

func upperAsk(t *testing.T, addr, line string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, line+"\n")
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || got != strings.ToUpper(line)+"\n" {
		t.Fatalf("%q: got %q, %v", line, got, err)
	}
}

var statusRow = regexp.MustCompile(`^\s*(\d+)\s+(\d+)\s+(\d+)\s+(starting|idle|accepting|busy|stopping)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+\S+\s+\S+$`)

// ipc serve with the upper handler, read by ipc status in text, JSON and
// --watch; SIGTTIN shows in status; SIGTERM stops it with exit 0 and
// leaves nothing behind.
func TestServeAndStatus(t *testing.T) {
	s := startServe(t, "--workers", "2", "--handler", "upper")
	for i := range 6 {
		upperAsk(t, s.addr, "hello "+strconv.Itoa(i))
	}
	// The client has closed; the worker sees the close a moment later,
	// and until then the connection is active (and the view has a line
	// for its running request).
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		active := uint64(0)
		for _, w := range s.statusJSON(t).Workers {
			active += w.Active
		}
		if active == 0 || time.Now().After(deadline) {
			break
		}
	}

	text := s.status(t)
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "server pid "+strconv.Itoa(s.pid)+" on "+s.addr+", generation 1, 2 of 2 workers") ||
		!strings.HasPrefix(lines[1], "connections 6 (0 by exited workers), requests 6") || !strings.Contains(lines[2], "SLOT") {
		t.Fatalf("ipc status:\n%s", text)
	}
	conns := 0
	for _, l := range lines[3:] {
		m := statusRow.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("row %q", l)
		}
		n, _ := strconv.Atoi(m[5])
		conns += n
	}
	if conns != 6 {
		t.Errorf("rows count %d connections:\n%s", conns, text)
	}

	st := s.statusJSON(t)
	if st.PID != s.pid || len(st.Workers) != 2 {
		t.Fatalf("ipc status --json: %+v", st)
	}
	// An idle server: one worker holds the accept lock, polling; the
	// supervisor looks every 100 ms.
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		h := s.statusJSON(t)
		if h.LockHolder != 0 && (h.LockHolder == h.Workers[0].PID || h.LockHolder == h.Workers[1].PID) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("lock_holder %d is not a worker: %+v", h.LockHolder, h)
			break
		}
	}
	var sum uint64
	for _, w := range st.Workers {
		if w.Slot == nil || w.PID == 0 || w.Generation != 1 || w.State == "" || w.Connections == nil || w.BytesIn == nil || w.BytesOut == nil {
			t.Errorf("worker %+v", w)
			continue
		}
		for _, ts := range []string{w.Started, w.LastActive} {
			if _, err := time.Parse(time.RFC3339, ts); err != nil {
				t.Errorf("time %q is not RFC 3339: %v", ts, err)
			}
		}
		sum += *w.Connections
	}
	if sum != 6 {
		t.Errorf("JSON counts %d connections", sum)
	}

	s.cmd.Process.Signal(syscall.SIGTTIN)
	for deadline := time.Now().Add(5 * time.Second); len(s.statusJSON(t).Workers) != 3; {
		if time.Now().After(deadline) {
			t.Fatalf("SIGTTIN: still %s", s.status(t))
		}
		time.Sleep(50 * time.Millisecond)
	}

	watch := exec.Command(ipcBin, "status", "--state-dir", s.dir, "--watch", "--interval", "100ms")
	var wout bytes.Buffer
	watch.Stdout = &wout
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(450 * time.Millisecond)
	watch.Process.Signal(syscall.SIGINT)
	if err := watch.Wait(); err != nil {
		t.Errorf("ipc status --watch: %v", err)
	}
	if n := strings.Count(wout.String(), "server pid "); n < 2 {
		t.Errorf("--watch drew %d frames:\n%s", n, wout.String())
	}

	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		if s.err != nil {
			t.Errorf("ipc serve after SIGTERM: %v", s.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ipc serve still running 10 s after SIGTERM")
	}
	log := s.stderr.String()
	for _, want := range []string{`msg="server starting"`, `msg="worker started"`, `msg="worker ready"`, `msg="one worker more"`,
		`msg="stopping gracefully" why=SIGTERM`, `status="exited with status 0"`, `msg="server stopped"`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}
	noObjects(t)
	out, err := exec.Command(ipcBin, "status", "--state-dir", s.dir).CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "no server is running from "+s.dir) {
		t.Errorf("ipc status with no server: exit %d, %s", code, out)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// The http handler with JSON logs: GET / and GET /status.
func TestServeHTTP(t *testing.T) {
	s := startServe(t, "--workers", "2", "--handler", "http", "--log-json")
	resp, err := http.Get("http://" + s.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "hello from worker ") {
		t.Errorf("GET /: %d %q", resp.StatusCode, body)
	}
	resp, err = http.Get("http://" + s.addr + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st statusJSON
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.PID != s.pid || len(st.Workers) != 2 {
		t.Errorf("GET /status: %+v, %v", st, err)
	}
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /status Content-Type %q", resp.Header.Get("Content-Type"))
	}
	for _, l := range strings.Split(strings.TrimSpace(s.stderr.String()), "\n") {
		var v map[string]any
		if json.Unmarshal([]byte(l), &v) != nil {
			t.Errorf("--log-json printed a line that is not JSON: %q", l)
		}
	}
}

// Bad values are usage errors (exit 2), and nothing starts.
func TestServeUsage(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--handler", "nope"},
		{"serve", "--workers", "0"},
		{"serve", "--accept", "maybe"},
		{"serve", "--workers", "4", "--max-workers", "2"},
		{"serve", "--timeout", "0s"},
		{"serve", "extra"},
		{"status", "extra"},
		{"status", "--interval", "0s", "--watch"},
	} {
		out, err := exec.Command(ipcBin, args...).CombinedOutput()
		if code := exitCode(err); code != 2 || !strings.HasPrefix(string(out), "ipc: ") {
			t.Errorf("ipc %v: exit %d, %q", args, code, out)
		}
	}
	// Every duration and count flag has a sane range; out of it is a usage
	// error naming the flag.
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"--timeout", "1ns"}, "--timeout"},
		{[]string{"--timeout", "1500ms"}, "--timeout"},
		{[]string{"--workers", "100000"}, "--workers"},
		{[]string{"--max-workers", "5000"}, "--max-workers"},
		{[]string{"--graceful-timeout", "48h"}, "--graceful-timeout"},
		{[]string{"--upgrade-timeout", "10ms"}, "--upgrade-timeout"},
		{[]string{"--idle-timeout", "0s"}, "--idle-timeout"},
		{[]string{"--max-requests", "-1"}, "--max-requests"},
		{[]string{"--max-requests-jitter", "2000000000"}, "--max-requests-jitter"},
	} {
		out, err := exec.Command(ipcBin, append([]string{"serve", "--state-dir", t.TempDir()}, tc.args...)...).CombinedOutput()
		if code := exitCode(err); code != 2 || !strings.HasPrefix(string(out), "ipc: serve: "+tc.flag+" must be between ") ||
			strings.Count(string(out), "\n") != 1 {
			t.Errorf("ipc serve %v: exit %d, %q", tc.args, code, out)
		}
	}
	if out, err := exec.Command(ipcBin, "status", "--clean", "--json").CombinedOutput(); exitCode(err) != 2 {
		t.Errorf("ipc status --clean --json: exit %d, %q", exitCode(err), out)
	}
	// A port in use is an operation that failed (exit 1).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out, err := exec.Command(ipcBin, "serve", "--addr", ln.Addr().String(), "--state-dir", t.TempDir()).CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "ipc: prefork: start server: ") ||
		!strings.Contains(string(out), "address already in use") {
		t.Errorf("serve on a busy port: exit %d, %s", code, out)
	}
	noObjects(t)
}

// Every handler closes a connection that stays silent for --idle-timeout:
// upper here, http in TestServeHTTPIdleTimeout.
func TestServeIdleTimeout(t *testing.T) {
	c, r := dialIdleLimited(t, "upper")
	io.WriteString(c, "hi\n")
	if got, err := r.ReadString('\n'); err != nil || got != "HI\n" {
		t.Fatalf("%q, %v", got, err)
	}
	expectIdleClose(t, r)
}

// dialIdleLimited starts a one-worker server of handler with
// --idle-timeout 300ms and connects to it.
func dialIdleLimited(t *testing.T, handler string) (net.Conn, *bufio.Reader) {
	t.Helper()
	s := startServe(t, "--workers", "1", "--handler", handler, "--idle-timeout", "300ms")
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c, bufio.NewReader(c)
}

// expectIdleClose requires the server to close the connection read by r
// about 300ms (the tests' --idle-timeout) from now.
func expectIdleClose(t *testing.T, r *bufio.Reader) {
	t.Helper()
	t0 := time.Now()
	if _, err := r.ReadByte(); err != io.EOF {
		t.Errorf("an idle connection: %v, want EOF", err)
	}
	if d := time.Since(t0); d < 250*time.Millisecond || d > 3*time.Second {
		t.Errorf("idle connection closed after %v, want about 300ms", d)
	}
}

// The http handler closes a kept-alive connection that asks nothing more
// for --idle-timeout.
func TestServeHTTPIdleTimeout(t *testing.T) {
	c, r := dialIdleLimited(t, "http")
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: test\r\n\r\n")
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || resp.Close {
		t.Fatalf("GET /: %d %q (close %v), %v", resp.StatusCode, body, resp.Close, err)
	}
	expectIdleClose(t, r)
}

// kill -9 of every process of a server at once leaves its semaphore set and
// queue, which 'ipc status --clean' removes, saying so.
func TestServeStatusClean(t *testing.T) {
	s := startServe(t, "--workers", "2")
	pids := append([]int{s.pid}, ipctest.Children(s.pid, false)...)
	// All at once: stopped first, so that none sees another die.
	for _, sig := range []syscall.Signal{syscall.SIGSTOP, syscall.SIGKILL} {
		for _, pid := range pids {
			syscall.Kill(pid, sig)
		}
	}
	<-s.done
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		left := 0
		for _, pid := range pids {
			if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
				left++
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes of the server still there")
		}
	}
	if n := ipcObjects(t); n != 2 {
		t.Errorf("%d objects after kill -9 of the tree, want the set and the queue", n)
	}
	out, err := exec.Command(ipcBin, "status", "--state-dir", s.dir).CombinedOutput()
	if exitCode(err) != 1 || !strings.Contains(string(out), "'ipc status --clean'") {
		t.Errorf("ipc status of a dead server: exit %d, %s", exitCode(err), out)
	}
	out, err = exec.Command(ipcBin, "status", "--state-dir", s.dir, "--clean").CombinedOutput()
	if err != nil || !regexp.MustCompile(`^dead server `+strconv.Itoa(s.pid)+` \(supervisor \d+ is not running\): removed semaphore set \d+, queue \d+; .*removed .*prefork-\d+\.json\n$`).Match(out) {
		t.Errorf("ipc status --clean: %v\n%s", err, out)
	}
	noObjects(t)
	out, err = exec.Command(ipcBin, "status", "--state-dir", s.dir, "--clean").CombinedOutput()
	if err != nil || string(out) != "no dead server's state in "+s.dir+"\n" {
		t.Errorf("ipc status --clean again: %v, %q", err, out)
	}
}

// --private-ipc: the server runs in an IPC namespace of its own, where its
// objects are invisible from here; 'ipc status' enters it to read the
// scoreboard, and nothing is left after a kill -9 of the whole tree.
func TestServePrivateIPC(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("--private-ipc needs CAP_SYS_ADMIN")
	}
	s := startServe(t, "--workers", "2", "--handler", "upper", "--private-ipc")
	upperAsk(t, s.addr, "private")
	if n := ipcObjects(t); n != 0 {
		t.Errorf("%d of the server's objects visible outside its namespace", n)
	}
	st := s.statusJSON(t)
	if st.PID != s.pid || len(st.Workers) != 2 {
		t.Errorf("ipc status of a --private-ipc server: %+v", st)
	}
	// Without CAP_SYS_ADMIN it cannot enter, and says so in one line; nor
	// can a server be started so.
	if setpriv, err := exec.LookPath("setpriv"); err == nil {
		out, err := exec.Command(setpriv, "--bounding-set", "-sys_admin", ipcBin, "serve", "--private-ipc",
			"--addr", "127.0.0.1:0", "--state-dir", t.TempDir()).CombinedOutput()
		if exitCode(err) != 1 || string(out) != "ipc: prefork: enter a private IPC namespace for server: operation not permitted (unshare(CLONE_NEWIPC) needs CAP_SYS_ADMIN)\n" {
			t.Errorf("ipc serve --private-ipc without CAP_SYS_ADMIN: exit %d, %q", exitCode(err), out)
		}
		out, err = exec.Command(setpriv, "--bounding-set", "-sys_admin", ipcBin, "status", "--state-dir", s.dir).CombinedOutput()
		if exitCode(err) != 1 || strings.Count(string(out), "\n") != 1 ||
			!strings.Contains(string(out), "runs in another IPC namespace") || !strings.Contains(string(out), "nsenter --ipc --target "+strconv.Itoa(s.pid)) {
			t.Errorf("ipc status without CAP_SYS_ADMIN: exit %d, %q", exitCode(err), out)
		}
	}
	pids := append([]int{s.pid}, ipctest.Children(s.pid, false)...)
	// All at once: stopped first, so that none sees another die.
	for _, sig := range []syscall.Signal{syscall.SIGSTOP, syscall.SIGKILL} {
		for _, pid := range pids {
			syscall.Kill(pid, sig)
		}
	}
	<-s.done
	noObjects(t)
	out, err := exec.Command(ipcBin, "status", "--state-dir", s.dir, "--clean").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "another IPC namespace") {
		t.Errorf("ipc status --clean of a dead --private-ipc server: %v, %s", err, out)
	}
}
