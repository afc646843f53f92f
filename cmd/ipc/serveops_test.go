package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/promtext/promtexttest"
)

func httpGet(t *testing.T, url string) (int, string, error) {
	t.Helper()
	c := &http.Client{Timeout: 15 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// logLine returns the first line of log holding want.
func logLine(log, want string) string {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, want) {
			return l
		}
	}
	return ""
}

// waitLog waits for a line of s's stderr holding want.
func (s *serveProc) waitLog(t *testing.T, want string, d time.Duration) string {
	t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		if l := logLine(s.stderr.String(), want); l != "" {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log after %v", want, d)
		}
	}
}

// GET /sleep?d=2s with --slow-timeout 500ms: the request completes, and
// the slow log has one entry with the handler's stack.
func TestServeSlowLog(t *testing.T) {
	slow := filepath.Join(t.TempDir(), "slow.log")
	s := startServe(t, "--workers", "2", "--handler", "http", "--slow-timeout", "500ms", "--slow-log", slow)
	start := time.Now()
	code, body, err := httpGet(t, "http://"+s.addr+"/sleep?d=2s")
	if err != nil || code != 200 || !strings.HasPrefix(body, "slept 2s in worker ") || time.Since(start) < 2*time.Second {
		t.Fatalf("GET /sleep?d=2s: %d %q %v after %v", code, body, err, time.Since(start))
	}
	b, err := os.ReadFile(slow)
	if err != nil {
		t.Fatal(err)
	}
	entry := string(b)
	if n := strings.Count(entry, " slow request in worker slot "); n != 1 || !strings.Contains(entry, ": GET /sleep?d=2s from 127.0.0.1:") ||
		!strings.Contains(entry, "main.serveSleep(") {
		t.Fatalf("slow log (%d entries):\n%s", n, entry)
	}
	lines := strings.Split(entry, "\n")
	t.Logf("slow log, %d bytes; its first lines:\n%s", len(b), strings.Join(lines[:min(len(lines), 12)], "\n"))
	for i, l := range lines {
		if strings.Contains(l, "main.serveSleep(") {
			t.Logf("the handler's frame, lines %d-%d:\n%s", i+1, i+2, strings.Join(lines[i:min(i+2, len(lines))], "\n"))
		}
	}
	t.Logf("server log: %s", s.waitLog(t, `msg="slow request; its worker writes its stacks to the slow log"`, time.Second))
	var st struct {
		Slow uint64 `json:"slow_requests"`
	}
	if err := json.Unmarshal([]byte(s.status(t, "--json")), &st); err != nil || st.Slow != 1 {
		t.Errorf("ipc status --json: slow_requests %d, %v", st.Slow, err)
	}
	text := s.status(t)
	if l := logLine(text, "no request running; slow 1, timed out 0"); l == "" || !strings.Contains(text, "slow requests 1, timed out 0") {
		t.Errorf("ipc status:\n%s", text)
	}
}

// --request-timeout: the client's connection is closed after it, the log
// says which request, and the worker is replaced.
func TestServeRequestTimeout(t *testing.T) {
	s := startServe(t, "--workers", "2", "--handler", "http", "--request-timeout", "1s")
	start := time.Now()
	code, body, err := httpGet(t, "http://"+s.addr+"/sleep?d=30s")
	took := time.Since(start)
	if err == nil || took > 5*time.Second {
		t.Fatalf("GET /sleep?d=30s: %d %q, %v after %v; want the connection closed after about 1s", code, body, err, took)
	}
	t.Logf("the client: %v after %v", err, took.Round(time.Millisecond))
	t.Logf("server log: %s", s.waitLog(t, `msg="request timed out; stopping its worker`, time.Second))
	t.Logf("server log: %s", s.waitLog(t, `why="request timeout: GET /sleep?d=30s from 127.0.0.1:`, 3*time.Second))
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		text := s.status(t)
		serving := 0
		for _, l := range strings.Split(text, "\n") {
			if m := statusRow.FindStringSubmatch(l); m != nil && (m[4] == "idle" || m[4] == "accepting") {
				serving++
			}
		}
		if strings.Contains(text, "timed out 1") && serving == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ipc status:\n%s", text)
		}
	}
	// The server still serves.
	if code, body, err := httpGet(t, "http://"+s.addr+"/"); err != nil || code != 200 {
		t.Errorf("GET / after the timeout: %d %q %v", code, body, err)
	}
}

// ipc status --prometheus and GET /metrics pass promtool and count a known
// load; the text view shows a running request.
func TestServeMetrics(t *testing.T) {
	s := startServe(t, "--workers", "2", "--handler", "http")
	const n = 10
	for range n {
		// A connection each: no keep-alive connection left open.
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get("http://" + s.addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	var prom string
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		prom = s.status(t, "--prometheus")
		if strings.Contains(prom, "\nipc_prefork_requests_total "+strconv.Itoa(n)+"\n") && strings.Contains(prom, "\nipc_prefork_connections_open 0\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ipc status --prometheus:\n%s", prom)
		}
	}
	for _, want := range []string{
		"\nipc_prefork_connections_total 10\n", "\nipc_prefork_worker_starts_total 2\n", "\nipc_prefork_workers_wanted 2\n",
		"# TYPE ipc_prefork_accept_lock_hold_seconds_total counter\n", "\nipc_prefork_queue_capacity_bytes ",
		`ipc_prefork_worker_exits_total{reason="crash"} 0`,
	} {
		if !strings.Contains(prom, want) {
			t.Errorf("ipc status --prometheus lacks %q:\n%s", want, prom)
		}
	}
	promtexttest.Lint(t, "ipc status --prometheus", prom)

	resp, err := http.Get("http://" + s.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("GET /metrics: %d, Content-Type %q", resp.StatusCode, ct)
	}
	metrics := string(b)
	promtexttest.Lint(t, "GET /metrics", metrics)
	// Its own request is running: counted as a connection, not yet as a
	// request.
	if !strings.Contains(metrics, "\nipc_prefork_requests_total 10\n") || !strings.Contains(metrics, "\nipc_prefork_connections_total 11\n") {
		t.Errorf("GET /metrics:\n%s", metrics)
	}

	// A running request shows in the text view.
	go http.Get("http://" + s.addr + "/sleep?d=1s")
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		text := s.status(t)
		if l := logLine(text, "oldest request running "); strings.Contains(l, ": GET /sleep?d=1s from 127.0.0.1:") {
			t.Logf("ipc status:\n%s", text)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ipc status shows no running request:\n%s", text)
		}
	}
}

// Bad values: one line naming the flag, exit 2 (1 for a slow log whose
// directory is missing), nothing created; GET /sleep's bad d is a 400.
func TestServeOpsUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--request-timeout", "0s"}, 2, "ipc: serve: --request-timeout must be between 100ms and 24h0m0s, not 0s"},
		{[]string{"--request-timeout", "-1s"}, 2, "ipc: serve: --request-timeout must be between"},
		{[]string{"--slow-timeout", "0s"}, 2, "ipc: serve: --slow-timeout must be between"},
		{[]string{"--slow-timeout", "10ms"}, 2, "ipc: serve: --slow-timeout must be between"},
		{[]string{"--slow-timeout", "2s", "--request-timeout", "2s"}, 2, "ipc: serve: --slow-timeout (2s) must be below --request-timeout (2s)"},
		{[]string{"--slow-timeout", "3s", "--request-timeout", "2s"}, 2, "ipc: serve: --slow-timeout (3s) must be below --request-timeout (2s)"},
		{[]string{"--slow-log", "/tmp/slow.log"}, 2, "ipc: serve: --slow-log needs --slow-timeout"},
		{[]string{"--slow-timeout", "1s", "--slow-log", ""}, 2, "ipc: serve: --slow-log must not be empty"},
		{[]string{"--slow-timeout", "1s", "--slow-log", "/nonexistent/dir/slow.log"}, 1, "ipc: serve: --slow-log /nonexistent/dir/slow.log: directory /nonexistent/dir: no such file or directory"},
		{[]string{"--slow-timeout", "1s", "--slow-log", os.TempDir()}, 1, "ipc: serve: --slow-log " + os.TempDir() + ": file already exists"},
	} {
		dir := t.TempDir()
		out, err := exec.Command(ipcBin, append([]string{"serve", "--addr", "127.0.0.1:0", "--state-dir", dir}, tc.args...)...).CombinedOutput()
		if code := exitCode(err); code != tc.code || !strings.HasPrefix(string(out), tc.want) || strings.Count(string(out), "\n") != 1 {
			t.Errorf("ipc serve %q: exit %d, %q; want %d, %q", tc.args, code, out, tc.code, tc.want)
		}
		if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 0 {
			t.Errorf("ipc serve %q left %v", tc.args, files)
		}
	}
	if out, err := exec.Command(ipcBin, "status", "--json", "--prometheus").CombinedOutput(); exitCode(err) != 2 {
		t.Errorf("ipc status --json --prometheus: exit %d, %q", exitCode(err), out)
	}
	noObjects(t)

	s := startServe(t, "--workers", "1", "--handler", "http")
	for _, q := range []string{"", "?d=", "?d=abc", "?d=-1s", "?d=2m", "?d=1s&d=2s"} {
		code, body, err := httpGet(t, "http://"+s.addr+"/sleep"+q)
		if err != nil || code != 400 {
			t.Errorf("GET /sleep%s: %d %q %v, want 400", q, code, body, err)
		}
	}
	if code, body, err := httpGet(t, "http://"+s.addr+"/sleep?d=10ms"); err != nil || code != 200 || !strings.HasPrefix(body, "slept 10ms in worker 0") {
		t.Errorf("GET /sleep?d=10ms: %d %q %v", code, body, err)
	}
}
