package prefork_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
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
	"unsafe"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc/prefork"
	"github.com/ipctoolkit/ipc/ipc/proc"
	"golang.org/x/sys/unix"
)

// modeRole is the worker role of the mode tests: its handlers answer each
// line in upper case ("upper"), prefixed by the worker's pid ("pid"); "segv"
// is upper, but the line "segv" kills the process with a real SIGSEGV (its
// handler reset to the default, no core); "serve-upper" is upper through
// Server.Serve; "spin" answers each line with the worker's pid after 30 ms
// of CPU (accepthold_test.go); "http" is the tests' HTTP handler. Its second argument is ignored (workerRole's hang).
const modeRole = "test-mode-worker"

// holdBusyEnv, if set, is holdBusy in the mode tests' workers.
const holdBusyEnv = "PREFORK_TEST_HOLD_BUSY"

func init() {
	proc.Register(modeRole, func(args []string) int {
		if d, err := time.ParseDuration(os.Getenv(holdBusyEnv)); err == nil {
			prefork.SetHoldBusy(d)
		}
		s := &prefork.Server{Role: modeRole, Logger: slog.New(slog.NewJSONHandler(os.Stderr, nil))}
		switch args[0] {
		case "pid":
			s.Handler = pidUpper
		case "segv":
			s.Handler = segvUpper
		case "serve-upper":
			s.Serve = serveUpper
		case "spin":
			s.Handler = spinPID
		case "http":
			s.HTTPHandler = httpHandler()
		default:
			s.Handler = upper(0)
		}
		s.Run(context.Background())
		return 1
	})
}

// pidUpper answers each line in upper case prefixed by the worker's pid,
// so that a client knows which process served it; segvUpper answers in
// upper case alone, and dies of SIGSEGV at the line "segv".
func pidUpper(_ context.Context, c net.Conn) { lineUpper(c, true) }

func segvUpper(_ context.Context, c net.Conn) { lineUpper(c, false) }

func lineUpper(c net.Conn, withPID bool) {
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		if !withPID && string(line) == "segv\n" {
			dieOfSIGSEGV()
		}
		out := bytes.ToUpper(line)
		if withPID {
			out = fmt.Appendf(nil, "%d %s", os.Getpid(), out)
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// dieOfSIGSEGV ends the process by SIGSEGV as a C program's fault would:
// the Go runtime's handler would turn it into exit status 2, so the
// default disposition comes back first (rt_sigaction), and no core is
// written (RLIMIT_CORE 0).
func dieOfSIGSEGV() {
	unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	var act [4]uintptr // struct sigaction: handler SIG_DFL, flags, restorer, mask
	unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(syscall.SIGSEGV), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
	unix.Kill(os.Getpid(), syscall.SIGSEGV)
	time.Sleep(time.Second)
	os.Exit(99)
}

// modeArgs are the supervisor's arguments for mode m (fork has no workers).
func modeArgs(m string, more ...string) []string {
	args := []string{"mode=" + m, "role=" + modeRole}
	if m != "fork" {
		args = append(args, "workers=3")
	}
	return append(args, more...)
}

// askMany runs n concurrent clients, each asking once on a new connection
// with handler pid, and returns how many connections each pid served; it
// fails the test for each wrong answer.
func askMany(t *testing.T, addr string, n int) map[int]int {
	t.Helper()
	var mu sync.Mutex
	per := map[int]int{}
	if failed := concurrentClients(t, addr, n, func(line, got string) bool {
		pid, rest, _ := strings.Cut(got, " ")
		p, _ := strconv.Atoi(pid)
		if rest != strings.ToUpper(line) || p == 0 {
			return false
		}
		mu.Lock()
		per[p]++
		mu.Unlock()
		return true
	}); failed > 0 {
		t.Fatalf("%d of %d clients failed", failed, n)
	}
	return per
}

// clientsUpper runs n concurrent clients of the upper handler and returns
// how many failed.
func clientsUpper(t *testing.T, addr string, n int) int {
	t.Helper()
	return concurrentClients(t, addr, n, func(line, got string) bool { return got == strings.ToUpper(line) })
}

// concurrentClients runs n clients at once, each asking one line on a new
// connection, and returns how many failed to connect or got an answer
// that right rejects (each an error of the test).
func concurrentClients(t *testing.T, addr string, n int, right func(line, got string) bool) int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			line := fmt.Sprintf("client %d", i)
			if got, err := ask(addr, line); err != nil || !right(line, got) {
				mu.Lock()
				failed++
				if failed <= 5 {
					t.Errorf("%q: %q, %v", line, got, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return failed
}

func allClosed(st prefork.Status) bool {
	for _, w := range st.Workers {
		if w.Active != 0 {
			return false
		}
	}
	return true
}

// liveChildren lists the supervisor's children but its janitor (the one
// that is not in the scoreboard and outlives the others).
func liveChildren(s *server) []int {
	return childrenOf(s.cmd.Pid(), false)
}

// The tests common to the four modes: 200 concurrent clients
// answered, the counts add up (per worker and in total), the scoreboard
// says the mode's facts, SIGTTIN/SIGTTOU/SIGHUP act as in prefork, kill -9
// of the process serving a connection loses that one connection only,
// SIGTERM stops the server with 0 zombies and 0 objects left.
func TestModes(t *testing.T) {
	for _, m := range []string{"prefork", "fork", "pass", "reuseport"} {
		t.Run(m, func(t *testing.T) { testMode(t, m) })
	}
}

func testMode(t *testing.T, m string) {
	before := ipctest.Snapshot()
	s := startServer(t, modeArgs(m, "handler=pid", "graceful=2s")...)
	const n = 200
	if m == "prefork" {
		s.waitInRotation(3)
	}
	per := askMany(t, s.addr, n)
	st := s.waitStatus(5*time.Second, "every connection closed", func(st prefork.Status) bool {
		return allClosed(st) && (m != "fork" || len(st.Workers) == 0)
	})
	if st.Mode != m || st.Total.Connections != n {
		t.Errorf("status: mode %q, %d connections; want %q, %d", st.Mode, st.Total.Connections, m, n)
	}
	switch m {
	case "fork":
		if len(per) != n || st.Forked != n || st.Exited.Connections != n || st.MaxChildren != prefork.DefaultMaxChildren {
			t.Errorf("fork: %d pids for %d clients, status forked %d, exited children served %d, max %d",
				len(per), n, st.Forked, st.Exited.Connections, st.MaxChildren)
		}
	default:
		if len(st.Workers) != 3 {
			t.Fatalf("%d workers", len(st.Workers))
		}
		var passed uint64
		for _, w := range st.Workers {
			if int(w.Connections) != per[w.PID] {
				t.Errorf("worker %d counted %d connections, its clients saw %d", w.PID, w.Connections, per[w.PID])
			}
			passed += w.Passed
			if m == "pass" && w.Passed != w.Connections {
				t.Errorf("worker %d: passed %d, served %d", w.PID, w.Passed, w.Connections)
			}
			if locks := w.Locks; (m == "prefork") != (locks > 0) {
				t.Errorf("%s: worker %d took the accept lock %d times", m, w.PID, locks)
			}
			if (m == "reuseport") != (w.Socket != 0) {
				t.Errorf("%s: worker %d's own socket inode %d", m, w.PID, w.Socket)
			}
		}
		if m == "pass" && (passed != n || st.Passed != n) {
			t.Errorf("pass: %d passed to workers, %d in all; want %d", passed, st.Passed, n)
		}
		t.Logf("%s: connections per worker pid %v", m, per)
	}

	// Scale, as in prefork; in fork mode the pool's size is the bound on
	// live children.
	want := st.Want
	s.signal(syscall.SIGTTOU)
	s.waitStatus(5*time.Second, "one fewer", func(st prefork.Status) bool {
		return st.Want == want-1 && (m == "fork" || len(st.Workers) == want-1)
	})
	s.signal(syscall.SIGTTIN)
	s.waitStatus(5*time.Second, "one more again", func(st prefork.Status) bool {
		return st.Want == want && (m == "fork" || len(st.Workers) == want && allReady(st))
	})
	// Reload: a new generation, and it serves.
	s.signal(syscall.SIGHUP)
	s.waitStatus(10*time.Second, "generation 2", func(st prefork.Status) bool {
		if st.Generation != 2 {
			return false
		}
		for _, w := range st.Workers {
			if w.Generation != 2 || w.State == "starting" || w.State == "stopping" {
				return false
			}
		}
		return m == "fork" || len(st.Workers) == want
	})
	askMany(t, s.addr, 20)

	// kill -9 of the process serving one of two open connections: that one
	// is lost, the other goes on, and new clients are served.
	keep, keepR := dial(t, s.addr)
	defer keep.Close()
	lose, loseR := dial(t, s.addr)
	defer lose.Close()
	keepPID, losePID := pidOf(t, keep, keepR, "keep"), pidOf(t, lose, loseR, "lose")
	if keepPID == losePID {
		// One worker serves both (prefork, reuseport): open another
		// until two processes serve them.
		for i := 0; keepPID == losePID; i++ {
			if i == 50 {
				t.Fatal("every connection went to one worker")
			}
			lose.Close()
			lose, loseR = dial(t, s.addr)
			losePID = pidOf(t, lose, loseR, "lose")
		}
	}
	var loseSocket uint64 // reuseport: the killed worker's own socket
	for _, w := range s.scoreboard().Workers {
		if w.PID == losePID {
			loseSocket = w.Socket
		}
	}
	syscall.Kill(losePID, syscall.SIGKILL)
	lose.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := loseR.ReadString('\n'); err == nil {
		t.Error("the killed worker's connection still answers")
	}
	// In reuseport mode the killed worker's own socket goes with it, and
	// what is queued on it then with it (the kernel resets it unless
	// net.ipv4.tcp_migrate_req is 1); the socket can outlive the process
	// by a few milliseconds (the kernel's last close of a file may be
	// deferred): new clients come once it no longer listens.
	waitGone(t, 5*time.Second, []int{losePID})
	if loseSocket != 0 {
		_, p, _ := net.SplitHostPort(s.addr)
		port, _ := strconv.Atoi(p)
		for deadline := time.Now().Add(5 * time.Second); listeningInodes(t, port)[loseSocket]; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the killed worker's socket %d still listens", loseSocket)
			}
		}
	}
	if got := pidOf(t, keep, keepR, "still"); got != keepPID {
		t.Errorf("the other connection is now served by %d, not %d", got, keepPID)
	}
	askMany(t, s.addr, 20)
	noZombies(t, s.cmd.Pid())
	keep.Close()

	stopLeavingNothing(t, s, before)
}

// stopLeavingNothing stops s with SIGTERM and checks that it exits 0 and
// leaves no process behind and no IPC object that was not there before.
func stopLeavingNothing(t *testing.T, s *server, before map[string]bool) {
	t.Helper()
	s.signal(syscall.SIGTERM)
	if st := s.wait(15 * time.Second); !st.Success() {
		t.Errorf("supervisor: %v", st)
	}
	waitGone(t, 5*time.Second, liveChildren(s))
	if leaks := ipctest.Leaked(before); len(leaks) > 0 {
		t.Errorf("left behind: %v", leaks)
	}
}

func allReady(st prefork.Status) bool {
	for _, w := range st.Workers {
		if w.State == "starting" || w.State == "stopping" {
			return false
		}
	}
	return true
}

// pidOf asks on an open connection (handler pid) and returns who answered.
func pidOf(t *testing.T, c net.Conn, r *bufio.Reader, line string) int {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintln(c, line)
	got, err := r.ReadString('\n')
	pid, rest, _ := strings.Cut(strings.TrimSpace(got), " ")
	p, _ := strconv.Atoi(pid)
	if err != nil || rest != strings.ToUpper(line) || p == 0 {
		t.Fatalf("%q: %q, %v", line, got, err)
	}
	return p
}

// Server.Serve in every mode: the same hand-written accept loop serves
// through the listener each mode gives it.
func TestModesServe(t *testing.T) {
	for _, m := range []string{"fork", "pass", "reuseport"} {
		t.Run(m, func(t *testing.T) {
			s := startServer(t, modeArgs(m, "handler=serve-upper")...)
			if f := clientsUpper(t, s.addr, 200); f > 0 {
				t.Fatalf("%d of 200 failed", f)
			}
			st := s.waitStatus(5*time.Second, "every connection closed", func(st prefork.Status) bool {
				return allClosed(st) && (m != "fork" || len(st.Workers) == 0)
			})
			if st.Total.Connections != 200 {
				t.Errorf("counted %d connections", st.Total.Connections)
			}
			s.signal(syscall.SIGTERM)
			if st := s.wait(10 * time.Second); !st.Success() {
				t.Errorf("supervisor: %v", st)
			}
		})
	}
}

// The textbook's words for each end, stop and continue.
func TestTextbookWords(t *testing.T) {
	for _, c := range []struct {
		ws   syscall.WaitStatus
		want string
	}{
		{0 << 8, "exited with code 0"},
		{3 << 8, "exited with code 3"},
		{9, "killed by signal 9"},
		{11 | 0x80, "killed by signal 11 (core dumped)"},
		{19<<8 | 0x7f, "stopped by signal 19"},
		{0xffff, "continued"},
	} {
		if got := prefork.TextbookWords(proc.MakeStatus(1, c.ws)); got != c.want {
			t.Errorf("%#x: %q, want %q", int(c.ws), got, c.want)
		}
	}
}

// What a mode cannot honour is refused by Run before anything is made.
func TestModeConfigErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		s    prefork.Server
		want string
	}{
		{"accept with fork", prefork.Server{Mode: prefork.ModeFork, Accept: prefork.AcceptShared}, "Accept is for prefork mode only"},
		{"max children with pass", prefork.Server{Mode: prefork.ModePass, Workers: 2, MaxChildren: 3}, "MaxChildren is for fork mode only"},
		{"workers with fork", prefork.Server{Mode: prefork.ModeFork, Workers: 2}, "fork mode has no Workers"},
		{"unix with reuseport", prefork.Server{Mode: prefork.ModeReuseport, Workers: 2, Addr: "unix:/tmp/x.sock"}, "TCP addresses only"},
		{"two addresses with pass", prefork.Server{Mode: prefork.ModePass, Workers: 2, Addrs: []string{"127.0.0.1:0", "127.0.0.1:0"}}, "accepts on one address"},
		{"unknown", prefork.Server{Mode: 9, Workers: 2}, "unknown Mode"},
		{"a dynamic pool with fork", prefork.Server{Mode: prefork.ModeFork, Pool: prefork.PoolDynamic}, "fork mode has no pool to size"},
		{"an ondemand pool with reuseport", prefork.Server{Mode: prefork.ModeReuseport, Pool: prefork.PoolOndemand}, "an ondemand pool needs a listener in the supervisor"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := ipctest.Snapshot()
			s := c.s
			s.Role, s.StateDir = modeRole, t.TempDir()
			s.Logger = slog.New(slog.DiscardHandler)
			err := s.Run(context.Background())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Run: %v, want %q", err, c.want)
			}
			if leaks := ipctest.Leaked(before); len(leaks) > 0 {
				t.Errorf("left behind: %v", leaks)
			}
		})
	}
	for _, n := range prefork.Modes() {
		if m, err := prefork.ParseMode(n); err != nil || m.String() != n {
			t.Errorf("ParseMode(%q) = %v, %v", n, m, err)
		}
	}
	if _, err := prefork.ParseMode("thread"); err == nil {
		t.Error("ParseMode(thread) succeeded")
	}
}

// noZombies fails the test if a child of pid stays a zombie for 2 s: one
// that has just exited is one until its reaper's wait, a moment later
// (fork mode's children exit all the time), but none may stay one.
func noZombies(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		z := zombieChildren(pid)
		if len(z) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("zombies for 2s: %v", z)
			return
		}
	}
}

// In the modes that hand a worker its connections (pass, fork), the HTTP
// handler counts HTTP requests, as in prefork: a keep-alive connection
// that carries 5 requests is 5 requests, not 6 (the connection counted as
// one more once did).
func TestModesHTTPRequestCount(t *testing.T) {
	for _, m := range []string{"prefork", "pass", "fork"} {
		t.Run(m, func(t *testing.T) {
			args := []string{"mode=" + m, "role=" + modeRole, "handler=http"}
			if m != "fork" {
				args = append(args, "workers=1")
			}
			s := startServer(t, args...)
			c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(c)
			const n = 5
			for i := range n {
				fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				resp, err := http.ReadResponse(r, nil)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			st := s.scoreboard()
			c.Close()
			if st.Total.Requests != n || st.Total.Connections != 1 {
				t.Errorf("%s: %d requests over %d connections counted, want %d over 1", m, st.Total.Requests, st.Total.Connections, n)
			}
		})
	}
}
