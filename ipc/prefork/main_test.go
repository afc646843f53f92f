package prefork_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc/prefork"
	"github.com/ipctoolkit/ipc/ipc/proc"
	"github.com/ipctoolkit/ipc/sem"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	proc.Dispatch()
	if a, ok := os.LookupEnv(execSupervisorEnv); ok {
		// A supervisor started as a plain program (upgrade_test.go), as
		// an operator starts one, rather than as a proc child.
		os.Exit(runTestSupervisor(strings.Split(a, "\x1f")))
	}
	if os.Getenv("GORACE") == "" {
		// A -race child otherwise sleeps a second before exiting.
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	// Orphans (workers and janitors of supervisors the tests killed) come
	// back to this process, so that what is left at the end can be found.
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	code := ipctest.Run(m)
	if left := leftovers(10 * time.Second); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "prefork tests: processes left running after the tests (killed now): %v\n", left)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// leftovers reaps this process's children that have exited (orphans a
// killed supervisor left, reparented here) and waits up to d for the
// others; those still running then are killed and returned.
func leftovers(d time.Duration) []int {
	deadline := time.Now().Add(d)
	for {
		var alive []int
		for _, pid := range childrenOf(os.Getpid(), false) {
			var ws syscall.WaitStatus
			if p, _ := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); p != pid {
				alive = append(alive, pid)
			}
		}
		if len(alive) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			for _, pid := range alive {
				syscall.Kill(pid, syscall.SIGKILL)
				var ws syscall.WaitStatus
				syscall.Wait4(pid, &ws, 0, nil)
			}
			return alive
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const (
	supRole      = "test-supervisor"
	workerRole   = "test-worker"
	crashRole    = "test-crash-worker"
	noHandlerRol = "test-nohandler-worker"
)

// runTestSupervisor (role test-supervisor key=value...) runs a Server
// built from its arguments, logging JSON lines to stderr.
func runTestSupervisor(args []string) int {
	s := &prefork.Server{Role: workerRole, Logger: slog.New(slog.NewJSONHandler(os.Stderr, nil))}
	handler, hang := "upper", ""
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		n, _ := strconv.Atoi(v)
		d, _ := time.ParseDuration(v)
		switch k {
		case "addr":
			s.Addr = v
		case "workers":
			s.Workers = n
		case "dir":
			s.StateDir = v
		case "handler":
			handler = v
		case "graceful":
			s.GracefulTimeout = d
		case "timeout":
			s.Timeout = d
		case "maxreq":
			s.MaxRequests = n
		case "jitter":
			s.MaxRequestsJitter = n
		case "accept":
			switch v {
			case "shared":
				s.Accept = prefork.AcceptShared
			case "hold":
				s.Accept = prefork.AcceptHold
			}
		case "role":
			s.Role = v
		case "mode":
			s.Mode, _ = prefork.ParseMode(v)
		case "maxchildren":
			s.MaxChildren = n
		case "hang":
			hang = v
		case "maxworkers":
			s.MaxWorkers = n
		case "pidfile":
			s.PIDFile = v
		case "upgradetimeout":
			s.UpgradeTimeout = d
		// The pool (pool_upgrade_test.go).
		case "pool":
			s.Pool, _ = prefork.ParsePoolMode(v)
		case "minspare":
			s.MinSpare = n
		case "maxspare":
			s.MaxSpare = n
		case "startworkers":
			s.StartWorkers = n
		case "idletimeout":
			s.WorkerIdleTimeout = d
		}
	}
	s.WorkerArgs = []string{handler, hang}
	defer prefork.HandleSignals(s)()
	if err := s.Run(context.Background()); err != nil && !errors.Is(err, prefork.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "supervisor:", err)
		return 1
	}
	return 0
}

func init() {
	proc.Register(supRole, runTestSupervisor)
	proc.Register(workerRole, func(args []string) int {
		s := &prefork.Server{Role: workerRole, Logger: slog.New(slog.NewJSONHandler(os.Stderr, nil))}
		if len(args) > 1 && args[1] != "" {
			prefork.SetHangAfterLock(args[1])
		}
		room := &room{members: map[net.Conn]bool{}}
		switch args[0] {
		case "upper":
			s.Handler = upper(0)
		case "slow":
			s.Handler = upper(300 * time.Millisecond)
		case "panic":
			s.Handler = panicky
		case "chat":
			s.Handler, s.OnBroadcast = room.serve, room.relay
		case "http":
			s.HTTPHandler = httpHandler()
		default:
			// failif:PATH is upper while PATH does not exist, and no
			// handler at all (a worker that cannot start) once it does.
			if dir, ok := strings.CutPrefix(args[0], "hooks:"); ok {
				s.Handler = upper(0)
				s.OnWorkerStart = func(ctx context.Context, slot int) error {
					return startHook(ctx, dir, slot)
				}
			}
			if dir, ok := strings.CutPrefix(args[0], "hooks:"); ok {
				s.Handler = upper(0)
				s.OnWorkerStart = func(ctx context.Context, slot int) error {
					return startHook(ctx, dir, slot)
				}
			}
			if path, ok := strings.CutPrefix(args[0], "failif:"); ok {
				if _, err := os.Stat(path); err != nil {
					s.Handler = upper(0)
				}
			}
		}
		s.Run(context.Background())
		return 1
	})
	proc.Register(crashRole, func([]string) int { return 1 })
	proc.Register(noHandlerRol, func([]string) int {
		(&prefork.Server{Role: noHandlerRol}).Run(context.Background())
		return 1
	})
}

// upper answers each line in upper case, after delay.
func upper(delay time.Duration) func(context.Context, net.Conn) {
	return func(_ context.Context, c net.Conn) {
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return
			}
			time.Sleep(delay)
			if _, err := c.Write(bytes.ToUpper(line)); err != nil {
				return
			}
		}
	}
}

// panicky is upper, but "panic" panics in the handler and "die" in a
// goroutine of its own, which kills the worker.
func panicky(ctx context.Context, c net.Conn) {
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		switch string(line) {
		case "panic\n":
			panic("asked to")
		case "die\n":
			go panic("asked to die")
			time.Sleep(time.Second)
		}
		c.Write(bytes.ToUpper(line))
	}
}

type room struct {
	mu      sync.Mutex
	members map[net.Conn]bool
}

func (r *room) serve(ctx context.Context, c net.Conn) {
	w := prefork.WorkerFrom(ctx)
	// A member before it says hello: a client that has read its hello
	// gets every line broadcast after.
	r.mu.Lock()
	r.members[c] = true
	r.mu.Unlock()
	fmt.Fprintf(c, "worker %d\n", w.Slot())
	defer func() {
		r.mu.Lock()
		delete(r.members, c)
		r.mu.Unlock()
	}()
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		line := append(sc.Bytes(), '\n')
		r.send(line, c)
		w.Broadcast(line)
	}
}

func (r *room) relay(_ context.Context, msg []byte) { r.send(msg, nil) }

func (r *room) send(line []byte, from net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for m := range r.members {
		if m != from {
			m.Write(line)
		}
	}
}

func httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, "hello from %d\n", prefork.WorkerFrom(r.Context()).Slot())
	})
	mux.HandleFunc("/status", func(rw http.ResponseWriter, r *http.Request) {
		json.NewEncoder(rw).Encode(prefork.WorkerFrom(r.Context()).Status())
	})
	return mux
}

// logBuf collects a supervisor's stderr (its JSON log lines and whatever
// its workers print).
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type event map[string]any

func (e event) str(k string) string { s, _ := e[k].(string); return s }
func (e event) num(k string) int    { f, _ := e[k].(float64); return int(f) }

// events returns the log records whose msg is msg, in order.
func (l *logBuf) events(msg string) []event {
	var out []event
	for _, line := range strings.Split(l.String(), "\n") {
		var e event
		if json.Unmarshal([]byte(line), &e) == nil && e.str("msg") == msg {
			out = append(out, e)
		}
	}
	return out
}

type server struct {
	t      *testing.T
	cmd    *proc.Cmd
	dir    string
	log    *logBuf
	addr   string
	state  prefork.State
	done   chan struct{}
	status proc.Status
}

// startServer starts a supervisor (a child process) with args and waits
// until its workers serve. A "dir=" argument reuses a state directory.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	return startServerEnv(t, nil, args...)
}

func startServerEnv(t *testing.T, env []string, args ...string) *server {
	t.Helper()
	s := &server{t: t, log: &logBuf{}, done: make(chan struct{})}
	for _, a := range args {
		if d, ok := strings.CutPrefix(a, "dir="); ok {
			s.dir = d
		}
	}
	if s.dir == "" {
		s.dir = t.TempDir()
		args = append(args, "dir="+s.dir)
	}
	args = append([]string{"addr=127.0.0.1:0"}, args...)
	s.cmd = proc.Command(supRole, args...)
	s.cmd.Env = env
	s.cmd.Stderr = s.log
	s.cmd.Stdout = s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.status, _ = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(s.cleanup)
	s.waitEvent("server ready", 20*time.Second, nil)
	for _, st := range mustStates(t, s.dir) {
		if st.PID == s.cmd.Pid() {
			s.state = st
		}
	}
	if s.state.PID == 0 {
		t.Fatalf("no state file for supervisor %d in %s", s.cmd.Pid(), s.dir)
	}
	s.addr = s.state.Addr
	return s
}

func mustStates(t *testing.T, dir string) []prefork.State {
	t.Helper()
	sts, err := prefork.States(dir)
	if err != nil {
		t.Fatal(err)
	}
	return sts
}

func (s *server) cleanup() {
	select {
	case <-s.done:
	default:
		s.cmd.Signal(syscall.SIGQUIT)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.cmd.Signal(syscall.SIGKILL)
			<-s.done
		}
	}
	if s.t.Failed() {
		s.t.Logf("supervisor log:\n%s", s.log.String())
	}
	// What a supervisor killed with -9 left behind.
	if _, err := prefork.CleanStale(s.dir); err != nil {
		s.t.Error(err)
	}
}

// waitEvent waits for a log record msg that match accepts (nil: any).
func (s *server) waitEvent(msg string, d time.Duration, match func(event) bool) event {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, e := range s.log.events(msg) {
			if match == nil || match(e) {
				return e
			}
		}
		select {
		case <-s.done:
			for _, e := range s.log.events(msg) {
				if match == nil || match(e) {
					return e
				}
			}
			s.t.Fatalf("supervisor exited (%v) before logging %q", s.status, msg)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no %q in the log after %v", msg, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
}

// wait waits for the supervisor to exit.
func (s *server) wait(d time.Duration) proc.Status {
	s.t.Helper()
	select {
	case <-s.done:
		return s.status
	case <-time.After(d):
		s.t.Fatalf("supervisor still running after %v", d)
	}
	return proc.Status{}
}

func (s *server) scoreboard() prefork.Status {
	s.t.Helper()
	st, err := s.state.Status()
	if err != nil {
		s.t.Fatal(err)
	}
	return st
}

// waitInRotation waits until the accept lock is held and workers-1
// processes wait for it: every worker takes turns. A worker reports ready
// a moment before its first wait, and until it waits the others take
// every turn.
func (s *server) waitInRotation(workers int) {
	s.t.Helper()
	set, err := sem.FromID(s.state.Semaphore)
	if err != nil {
		s.t.Fatal(err)
	}
	var v, waiting int
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		// The lock is semaphore 0 (objects.go's semLock).
		v, _ = set.Value(0)
		waiting, _ = set.WaitingForIncrease(0)
		if v == 0 && waiting == workers-1 {
			return
		}
	}
	s.t.Fatalf("5 s and the accept lock is at %d with %d waiting, want 0 and %d", v, waiting, workers-1)
}

// waitStatus polls the scoreboard until cond holds.
func (s *server) waitStatus(d time.Duration, what string, cond func(prefork.Status) bool) prefork.Status {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for {
		st := s.scoreboard()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("after %v, still not %s: %+v", d, what, st.Workers)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ask sends line on a new TCP connection and returns the first line back.
func ask(addr, line string) (string, error) { return askOn("tcp", addr, line) }

// gone reports whether pid has exited: it no longer exists, or is a zombie
// that its new parent has not reaped yet.
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && len(b) > i+2 && b[i+2] == 'Z'
}

// zombieChildren lists the children of pid that are zombies.
func zombieChildren(pid int) []int { return childrenOf(pid, true) }

// childrenOf lists the children of pid, only the zombies among them if
// zombies.
func childrenOf(pid int, zombies bool) []int { return ipctest.Children(pid, zombies) }
