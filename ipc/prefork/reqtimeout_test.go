package prefork_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc/prefork"
	"github.com/ipctoolkit/ipc/ipc/proc"
)

// opsRole is the workers' role of the operator's tests: args are the
// handler (http; http-idle, which is http with HTTPIdleTimeout 2 s; or
// raw: a line "sleep D" sleeps D then answers "done") and a file the
// worker logs JSON lines to.
const opsRole = "test-ops-worker"

func init() {
	proc.Register(opsRole, func(args []string) int {
		f, err := os.OpenFile(args[1], os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return 1
		}
		s := &prefork.Server{Role: opsRole, Logger: slog.New(slog.NewJSONHandler(f, nil))}
		switch args[0] {
		case "http":
			s.HTTPHandler = opsHTTP()
		case "http-idle":
			s.HTTPHandler = opsHTTP()
			s.HTTPIdleTimeout = 2 * time.Second
		default:
			s.Handler = sleepLines
		}
		s.Run(context.Background())
		return 1
	})
}

// opsHTTP answers / with its slot, /sleep?d=D after D (or when the
// request is cancelled), /metrics with WriteMetrics and /file?path=P with
// the file P.
func opsHTTP() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, "slot %d\n", prefork.WorkerFrom(r.Context()).Slot())
	})
	mux.HandleFunc("/sleep", sleepHandler)
	mux.HandleFunc("/file", func(rw http.ResponseWriter, r *http.Request) {
		http.ServeFile(rw, r, r.URL.Query().Get("path"))
	})
	mux.HandleFunc("/metrics", func(rw http.ResponseWriter, r *http.Request) {
		prefork.WorkerFrom(r.Context()).Status().WriteMetrics(rw)
	})
	return mux
}

func sleepHandler(rw http.ResponseWriter, r *http.Request) {
	d, err := time.ParseDuration(r.URL.Query().Get("d"))
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	select {
	case <-time.After(d):
		fmt.Fprintf(rw, "slept %v\n", d)
	case <-r.Context().Done():
		fmt.Fprintf(rw, "cancelled: %v\n", context.Cause(r.Context()))
	}
}

// sleepLines answers "sleep D" lines after D with "done", others with
// "slot N".
func sleepLines(ctx context.Context, c net.Conn) {
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if d, ok := strings.CutPrefix(strings.TrimSpace(line), "sleep "); ok {
			dur, _ := time.ParseDuration(d)
			time.Sleep(dur)
			io.WriteString(c, "done\n")
			continue
		}
		fmt.Fprintf(c, "slot %d\n", prefork.WorkerFrom(ctx).Slot())
	}
}

// opsServer is an in-process server of the ops role, its supervisor
// logging JSON to log, its workers to workerLog.
type opsServer struct {
	*server
	srv       *prefork.Server
	workerLog string
	done      chan error
}

func startOps(t *testing.T, handler string, set func(*prefork.Server)) *opsServer {
	t.Helper()
	dir := t.TempDir()
	log := &logBuf{}
	ready := make(chan net.Addr, 1)
	o := &opsServer{workerLog: filepath.Join(dir, "workers.log")}
	o.srv = &prefork.Server{
		Role: opsRole, WorkerArgs: []string{handler, o.workerLog}, Addr: "127.0.0.1:0",
		Workers: 2, StateDir: dir,
		Logger: slog.New(slog.NewJSONHandler(log, nil)),
		Ready:  func(a net.Addr) { ready <- a },
	}
	if set != nil {
		set(o.srv)
	}
	o.server, o.done = startInProcess(t, o.srv, ready)
	o.log = log
	o.server.done = make(chan struct{}) // never closed: Run's end comes on o.done
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(o.workerLog)
			t.Logf("supervisor log:\n%s\nworkers' log:\n%s", log.String(), b)
		}
	})
	return o
}

// closeLeavingNothing closes the server, waits for Run to return and
// checks that no IPC object is left that was not there before.
func (o *opsServer) closeLeavingNothing(t *testing.T, before map[string]bool) {
	t.Helper()
	o.srv.Close()
	<-o.done
	if leaks := ipctest.Leaked(before); len(leaks) > 0 {
		t.Errorf("left behind: %v", leaks)
	}
}

// workerEvents returns the workers' log records whose msg is msg.
func (o *opsServer) workerEvents(msg string) []event {
	b, _ := os.ReadFile(o.workerLog)
	l := &logBuf{}
	l.Write(b)
	return l.events(msg)
}

func mustJSON(e event) string {
	b, _ := json.Marshal(e)
	return string(b)
}

// dialRaw connects to the raw handler and sends line.
func (o *opsServer) dialRaw(t *testing.T, line string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", o.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		t.Fatal(err)
	}
	return c
}

// httpConn is one keep-alive HTTP/1.1 connection.
type httpConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialHTTP(t *testing.T, addr string) *httpConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &httpConn{c: c, r: bufio.NewReader(c)}
}

// get sends GET path and returns the status and body.
func (h *httpConn) get(path string, timeout time.Duration) (int, string, error) {
	h.c.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintf(h.c, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(h.r, nil)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// slotOf asks / on h and returns the slot that answered.
func (h *httpConn) slotOf(t *testing.T) int {
	t.Helper()
	code, body, err := h.get("/", 5*time.Second)
	n, perr := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(body, "slot ")))
	if err != nil || code != 200 || perr != nil {
		t.Fatalf("GET /: %d %q %v", code, body, err)
	}
	return n
}

// A request past RequestTimeout: its worker is stopped and replaced, the
// client sees its connection closed (long before its request would have
// ended), the log names the request, and a client of the other worker
// goes on undisturbed on its keep-alive connection.
func TestRequestTimeoutHTTP(t *testing.T) {
	before := ipctest.Snapshot()
	o := startOps(t, "http", func(s *prefork.Server) { s.RequestTimeout = time.Second })

	other := dialHTTP(t, o.addr)
	otherSlot := other.slotOf(t)
	// Until the other worker waits for the lock too (a worker is ready
	// a moment before its first wait), the same one takes every turn.
	var victim *httpConn
	victimSlot := -1
	tries := 0
	for end := time.Now().Add(5 * time.Second); victim == nil && time.Now().Before(end); tries++ {
		h := dialHTTP(t, o.addr)
		if n := h.slotOf(t); n != otherSlot {
			victim, victimSlot = h, n
			break
		}
		h.c.Close()
		time.Sleep(10 * time.Millisecond)
	}
	if victim == nil {
		t.Fatalf("%d connections in 5 s all served by slot %d", tries, otherSlot)
	}
	st := o.scoreboard()
	pids := map[int]int{}
	for _, w := range st.Workers {
		pids[w.Slot] = w.PID
	}

	start := time.Now()
	code, body, err := victim.get("/sleep?d=20s", 15*time.Second)
	took := time.Since(start)
	if err == nil {
		t.Fatalf("the timed-out request was answered: %d %q", code, body)
	}
	if took < 900*time.Millisecond || took > 5*time.Second {
		t.Errorf("connection closed after %v (%v), want about 1s (RequestTimeout)", took, err)
	}
	t.Logf("the client saw %v after %v", err, took.Round(time.Millisecond))

	e := o.waitEvent("request timed out; stopping its worker, SIGKILL if it has not exited in 1s", 5*time.Second, nil)
	if e.num("slot") != victimSlot || e.num("pid") != pids[victimSlot] || !strings.HasPrefix(e.str("request"), "GET /sleep?d=20s from 127.0.0.1:") {
		t.Errorf("timeout logged as %v; want slot %d pid %d GET /sleep?d=20s", e, victimSlot, pids[victimSlot])
	}
	t.Logf("kill log line: %s", mustJSON(e))
	exit := o.waitEvent("worker exited", 5*time.Second, func(e event) bool { return e.num("pid") == pids[victimSlot] })
	t.Logf("exit log line: %s", mustJSON(exit))
	if !strings.HasPrefix(exit.str("why"), "request timeout: GET /sleep?d=20s") {
		t.Errorf("exit why = %q", exit.str("why"))
	}
	// The replacement takes the first free slot, which need not be the
	// victim's.
	st = o.waitStatus(5*time.Second, "the worker replaced", func(st prefork.Status) bool {
		fresh := 0
		for _, w := range st.Workers {
			if w.PID == pids[victimSlot] {
				return false
			}
			if w.PID != pids[otherSlot] && w.State != "starting" {
				fresh++
			}
		}
		return fresh == 1 && len(st.Workers) == 2
	})
	if st.TimedOutRequests != 1 || st.WorkerExits["request_timeout"] != 1 || st.WorkerStarts != 3 {
		t.Errorf("timed out %d, exits %v, starts %d; want 1, request_timeout 1, 3", st.TimedOutRequests, st.WorkerExits, st.WorkerStarts)
	}
	// The other worker's client was never cut.
	for i := range 5 {
		if n := other.slotOf(t); n != otherSlot {
			t.Errorf("request %d on the other connection served by slot %d, want %d", i, n, otherSlot)
		}
	}
	for _, w := range st.Workers {
		if w.Slot == otherSlot && w.PID != pids[otherSlot] {
			t.Errorf("the other worker was replaced too: pid %d, was %d", w.PID, pids[otherSlot])
		}
	}
	if ev := o.workerEvents("request timed out; closing its connection"); len(ev) != 1 {
		t.Errorf("the worker logged the timeout %d times, want 1", len(ev))
	}
	o.closeLeavingNothing(t, before)
}

// A raw handler's request is its connection: one held past RequestTimeout
// is cut and its worker replaced; the log names the peer and how long.
func TestRequestTimeoutRaw(t *testing.T) {
	o := startOps(t, "raw", func(s *prefork.Server) { s.RequestTimeout = 500 * time.Millisecond })
	start := time.Now()
	c := o.dialRaw(t, "sleep 20s")
	b, err := io.ReadAll(c)
	took := time.Since(start)
	if len(b) != 0 || took > 5*time.Second {
		t.Errorf("read %q, %v after %v; want the connection closed within seconds", b, err, took)
	}
	e := o.waitEvent("request timed out; stopping its worker, SIGKILL if it has not exited in 1s", 5*time.Second, nil)
	if want := "connection from " + c.LocalAddr().String(); e.str("request") != want {
		t.Errorf("request = %q, want %q", e.str("request"), want)
	}
	t.Logf("kill log line: %s", mustJSON(e))
	if d := time.Duration(e.num("running_for")); d < 500*time.Millisecond {
		t.Errorf("running_for = %v", d)
	}
	// sleepLines ignores its ctx and the closed connection: the graceful
	// form fails, and SIGKILL follows a second later.
	k := o.waitEvent("killing worker", 5*time.Second, nil)
	if k.num("pid") != e.num("pid") || k.str("why") != "request timeout: still running 1s after its stop order" {
		t.Errorf("kill: %s", mustJSON(k))
	}
	x := o.waitEvent("worker exited", 5*time.Second, func(x event) bool { return x.num("pid") == e.num("pid") })
	if x.str("status") != "killed by signal 9 (killed)" {
		t.Errorf("exit: %s", mustJSON(x))
	}
	t.Logf("SIGKILL log line: %s", mustJSON(k))
	o.waitStatus(5*time.Second, "the worker replaced", func(st prefork.Status) bool {
		return st.WorkerExits["request_timeout"] == 1 && len(st.Workers) == 2
	})
}

// Configuration errors: Run refuses them before it creates anything.
func TestOpsConfig(t *testing.T) {
	before := ipctest.Snapshot()
	for _, c := range []struct {
		set  func(*prefork.Server)
		want string
	}{
		{func(s *prefork.Server) { s.RequestTimeout = -time.Second }, "must not be negative"},
		{func(s *prefork.Server) { s.SlowTimeout = -time.Second }, "must not be negative"},
		{func(s *prefork.Server) { s.SlowTimeout, s.RequestTimeout = time.Second, time.Second }, "SlowTimeout must be below RequestTimeout"},
		{func(s *prefork.Server) { s.SlowLog = "/tmp/x.log" }, "SlowLog needs a SlowTimeout"},
		{func(s *prefork.Server) { s.SlowTimeout, s.SlowLog = time.Second, "/nonexistent/dir/slow.log" }, "no such file or directory"},
	} {
		dir := t.TempDir()
		s := &prefork.Server{Role: opsRole, WorkerArgs: []string{"raw", filepath.Join(dir, "w.log")}, Addr: "127.0.0.1:0", Workers: 1,
			StateDir: dir, Logger: slog.New(slog.DiscardHandler)}
		c.set(s)
		err := s.Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Run: %v; want an error containing %q", err, c.want)
		}
		if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 0 {
			t.Errorf("left %v", files)
		}
	}
	if leaks := ipctest.Leaked(before); len(leaks) > 0 {
		t.Errorf("left behind: %v", leaks)
	}
}
