package prefork_test

// The faults production brings (issue 8), each reproduced with real
// processes on 127.0.0.1 in the package's private IPC namespace. The CI forms
// take a few seconds each; IPC_LONG=1 runs the long forms (a 30 s kill storm,
// 20 HUPs under keep-alive load) and logs their figures.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/ipc/prefork"
	"github.com/ipctoolkit/ipc/msgq"
	"github.com/ipctoolkit/ipc/sem"
	"golang.org/x/sys/unix"
)

func long() bool { return os.Getenv("IPC_LONG") != "" }

// procState is the state letter of /proc/PID/stat ('R', 'S', 'T', 'Z'...),
// 0 when the process is gone.
func procState(pid int) byte {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || len(b) < i+3 {
		return 0
	}
	return b[i+2]
}

// accepting counts the workers that can accept: alive, neither stopped nor
// a zombie, and past their start in the scoreboard.
func accepting(st prefork.Status) int {
	n := 0
	for _, w := range st.Workers {
		if w.State == "starting" || w.State == "stopping" {
			continue
		}
		if s := procState(w.PID); s != 0 && s != 'Z' && s != 'T' && s != 't' {
			n++
		}
	}
	return n
}

// load runs clients goroutines that each ask on a new connection until
// stop is closed, and counts what they sent, got answered and saw fail.
type load struct {
	sent, answered, failed atomic.Int64
	wg                     sync.WaitGroup
	mu                     sync.Mutex
	errs                   []string
}

func startLoad(addr string, clients int, stop <-chan struct{}) *load {
	l := &load{}
	for i := range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				line := fmt.Sprintf("c%d r%d", i, j)
				l.sent.Add(1)
				got, err := ask(addr, line)
				if err == nil && got != strings.ToUpper(line) {
					err = fmt.Errorf("got %q", got)
				}
				if err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.errs) < 10 {
						l.errs = append(l.errs, err.Error())
					}
					l.mu.Unlock()
					continue
				}
				l.answered.Add(1)
			}
		}()
	}
	return l
}

// Requirement 1: kill -9 of a random ready worker every 200 ms under load
// never leaves the server without a worker able to accept for a second
// (beyond the time a worker takes to start on this machine), and fewer than
// 0.1% of requests fail. A ready worker that dies is respawned at once,
// whatever its age: the backoff is for crashes before readiness.
func TestKillStorm(t *testing.T) {
	d := 4 * time.Second
	if long() {
		d = 30 * time.Second
	}
	before := ipctest.Snapshot()
	s := startServer(t, "workers=3")
	stop := make(chan struct{})
	l := startLoad(s.addr, 4, stop)

	// cut sums the connections the victims had open when the scoreboard
	// was read just before each kill: the requests a kill can fail.
	var kills, cut int
	var longest, gap time.Duration
	var gapStart time.Time
	start := time.Now()
	nextKill := start.Add(200 * time.Millisecond)
	for now := start; now.Sub(start) < d; now = time.Now() {
		st := s.scoreboard()
		if accepting(st) == 0 {
			if gapStart.IsZero() {
				gapStart = now
			}
			gap = now.Sub(gapStart)
			longest = max(longest, gap)
		} else {
			gapStart = time.Time{}
		}
		if !now.Before(nextKill) {
			// 200 ms from this kill, not from the one due: a test
			// descheduled for a while on a loaded machine must not
			// catch up with a burst of kills that takes out every
			// worker at once.
			nextKill = now.Add(200 * time.Millisecond)
			var ready []prefork.WorkerStatus
			for _, w := range st.Workers {
				if w.State != "starting" && w.State != "stopping" && !gone(w.PID) {
					ready = append(ready, w)
				}
			}
			if len(ready) > 0 {
				w := ready[rand.IntN(len(ready))]
				syscall.Kill(w.PID, syscall.SIGKILL)
				kills++
				cut += int(w.Active)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	l.wg.Wait()
	// The slowest start, as the supervisor saw it (spawn to ready): on a
	// loaded machine a worker can take longer than the second just to
	// start, and a gap that long is the machine's, not the supervisor's.
	var slowest time.Duration
	for _, e := range s.log.events("worker ready") {
		slowest = max(slowest, time.Duration(e.num("start_time")))
	}
	sent, answered, failed := l.sent.Load(), l.answered.Load(), l.failed.Load()
	t.Logf("kill storm %v: %d kills of workers holding %d connections; requests sent %d, answered %d, failed %d (%.3f%%); longest time with no worker able to accept %v, slowest worker start %v",
		d, kills, cut, sent, answered, failed, 100*float64(failed)/float64(max(sent, 1)), longest.Round(time.Millisecond), slowest)
	if longest > time.Second+slowest {
		t.Errorf("%v with no worker able to accept (slowest start %v)", longest.Round(time.Millisecond), slowest)
	}
	// A kill -9 cuts the connections its worker holds: nothing can save
	// those. What must not fail is everything else (the old server failed
	// requests by the hundred while it had no worker). The long form holds
	// the bound, fewer than 0.1%; the CI form, a few seconds on a
	// shared machine with a handful of kills, allows the larger of 0.1%
	// and the connections the victims held (cut), plus one a kill for a
	// connection accepted between the look at the scoreboard and the
	// kill. On a loaded machine requests take longer and a victim holds
	// more than one on average: one per kill was not enough.
	limit := 0.001 * float64(sent)
	if !long() {
		limit = max(limit, float64(cut+kills))
	}
	if float64(failed) >= max(limit, 1) {
		t.Errorf("%d of %d requests failed (want < %.0f): %v", failed, sent, max(limit, 1), l.errs)
	}
	for _, e := range s.log.events("worker died at start; pausing before the next") {
		t.Errorf("a ready worker's death was taken for a start crash: %v", e)
	}
	s.signal(syscall.SIGTERM)
	if st := s.wait(10 * time.Second); !st.Success() {
		t.Errorf("supervisor %v", st)
	}
	if z := zombieChildren(s.cmd.Pid()); len(z) > 0 {
		t.Errorf("zombies: %v", z)
	}
	if leaks := ipctest.Leaked(before); len(leaks) > 0 {
		t.Errorf("left behind: %v", leaks)
	}
	t.Logf("objects left: %d, zombies: 0", len(ipctest.Leaked(before)))
}

// fillQueue fills the server's queue with messages of a type nobody reads
// and returns how many it sent.
func fillQueue(t *testing.T, id int) int {
	t.Helper()
	q, err := msgq.FromID(id)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, size := range []int{512, 64, 8, 1} {
		text := make([]byte, size)
		for ; ; n++ {
			if err := q.Send(1<<40, text, msgq.NoWait); err != nil {
				if !errors.Is(err, ipc.ErrWouldBlock) {
					t.Fatal(err)
				}
				break
			}
		}
	}
	return n
}

func drainQueue(t *testing.T, id int) {
	t.Helper()
	q, err := msgq.FromID(id)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8192)
	for {
		if _, _, err := q.Receive(buf, msgq.Type(1<<40), msgq.NoWait|msgq.Truncate); err != nil {
			return
		}
	}
}

// Requirement 2: a reload started while the queue is full completes: the
// new workers' "ready" and the old ones' stop order do not depend on a
// message that did not fit. The full queue is logged (rate-limited), and the
// reload is done within 2 s of the queue draining.
func TestReloadFullQueue(t *testing.T) {
	s := startServer(t, "workers=2")
	n := fillQueue(t, s.state.Queue)
	hup := time.Now()
	s.signal(syscall.SIGHUP)
	// Neither the new workers' "ready" nor the old ones' stop message fits:
	// the slots carry both, so the reload completes with the queue full.
	s.waitStatus(3*time.Second, "generation 2 only, 2 workers, the queue full", onlyGeneration(2, 2))
	t.Logf("queue filled with %d messages; reload done %v after SIGHUP, the queue still full", n, time.Since(hup).Round(time.Millisecond))
	drainQueue(t, s.state.Queue)
	s.waitStatus(2*time.Second, "generation 2 only, 2 workers", onlyGeneration(2, 2))
	full := s.log.events("the queue is full")
	if len(full) == 0 || len(full) > 3 {
		t.Errorf("%d 'the queue is full' lines, want 1 to 3 (rate-limited)", len(full))
	} else if e := full[0]; e.num("last_sender") != os.Getpid() || e.num("not_for_a_worker") < n-5 {
		t.Errorf("the full queue's log does not point at this test (pid %d, %d messages): %v", os.Getpid(), n, e)
	}
	if got, err := ask(s.addr, "after"); err != nil || got != "AFTER" {
		t.Errorf("after the reload: %q, %v", got, err)
	}
}

// Requirement 2, as it happened: a stopped worker's inbox fills with chat
// broadcasts. The supervisor logs who fills the queue, and a reload still
// completes.
func TestChatStoppedWorkerReload(t *testing.T) {
	s := startServer(t, "workers=3", "handler=chat", "graceful=2s")
	c, r := dial(t, s.addr)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	// Stopped while it waits for the lock (no new connection comes to
	// hand the lock on, so it stays a waiter).
	victim := idleWorker(s, 0)
	syscall.Kill(victim, syscall.SIGSTOP)
	defer syscall.Kill(victim, syscall.SIGCONT)
	waitStopped(t, victim)
	line := strings.Repeat("x", 1000) + "\n"
	for range 40 {
		if _, err := io.WriteString(c, line); err != nil {
			t.Fatal(err)
		}
	}
	e := s.waitEvent("a worker does not read its inbox; dropping its broadcasts", 3*time.Second, nil)
	t.Logf("logged: %v", e)
	if !strings.Contains(e.str("unread"), "pid "+strconv.Itoa(victim)+", stopped") {
		t.Errorf("the log does not name the stopped worker that fills the queue (%d): %v", victim, e)
	}
	s.signal(syscall.SIGHUP)
	s.waitStatus(4*time.Second, "generation 2 serving", func(st prefork.Status) bool {
		n := 0
		for _, w := range st.Workers {
			if w.Generation == 2 && w.State != "starting" && w.State != "stopping" {
				n++
			}
		}
		return n == 3
	})
}

// Requirement 3: a SIGSTOPped accept-lock holder is killed within about a
// second whatever --timeout is; SEM_UNDO releases the lock and accepting
// resumes within 2 s. A worker stopped while idle holds nobody up either.
// The stops are logged as the textbook server logs them. The same with
// AcceptHold, whose holder keeps the lock from one connection to the next.
func TestStoppedLockHolder(t *testing.T) {
	for _, accept := range []string{"lock", "hold"} {
		t.Run(accept, func(t *testing.T) { testStoppedLockHolder(t, accept) })
	}
}

func testStoppedLockHolder(t *testing.T, accept string) {
	s := startServer(t, "workers=3", "timeout=30s", "accept="+accept)
	if accept == "hold" {
		// The holder has accepted and kept the lock.
		if failed := clientsUpper(t, s.addr, 20); failed > 0 {
			t.Fatalf("%d of 20 clients failed", failed)
		}
	}
	var holder int
	s.waitStatus(3*time.Second, "a worker holding the lock", func(st prefork.Status) bool {
		for _, w := range st.Workers {
			if w.State == "accepting" {
				holder = w.PID
				return true
			}
		}
		return false
	})
	stopped := time.Now()
	if err := syscall.Kill(holder, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(holder, syscall.SIGCONT)
	// Stopped before the client comes: otherwise the holder may still take
	// the connection and then stop, holding the client rather than the lock.
	waitStopped(t, holder)
	got, err := ask(s.addr, "resume")
	resumed := time.Since(stopped)
	if err != nil || got != "RESUME" {
		t.Fatalf("after stopping the holder: %q, %v", got, err)
	}
	t.Logf("accepting resumed %v after SIGSTOP of the lock holder %d", resumed.Round(time.Millisecond), holder)
	if resumed > 2*time.Second {
		t.Errorf("accepting resumed only %v after the holder stopped", resumed.Round(time.Millisecond))
	}
	e := s.waitEvent("worker exited", 2*time.Second, func(e event) bool { return e.num("pid") == holder })
	if e.str("status") != "killed by signal 9 (killed)" || !strings.Contains(e.str("why"), "stopped") {
		t.Errorf("the stopped holder ended: %v", e)
	}
	s.waitEvent("worker stopped", time.Second, func(e event) bool {
		return e.num("pid") == holder && strings.Contains(e.str("status"), "stopped by signal 19")
	})

	// An idle worker (waiting for the lock) stopped: requests go on, each
	// answered within 2 s.
	idle := idleWorker(s, holder)
	syscall.Kill(idle, syscall.SIGSTOP)
	defer syscall.Kill(idle, syscall.SIGCONT)
	waitStopped(t, idle)
	var worst time.Duration
	for i := range 20 {
		t0 := time.Now()
		if got, err := ask(s.addr, "x"+strconv.Itoa(i)); err != nil || got != "X"+strconv.Itoa(i) {
			t.Fatalf("with an idle worker stopped: %q, %v", got, err)
		}
		worst = max(worst, time.Since(t0))
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("with idle worker %d stopped, the slowest of 20 requests took %v", idle, worst.Round(time.Millisecond))
	if worst > 2*time.Second {
		t.Errorf("a request took %v with an idle worker stopped", worst)
	}
	if z := zombieChildren(s.cmd.Pid()); len(z) > 0 {
		t.Errorf("zombies: %v", z)
	}
}

// onlyGeneration is true of a scoreboard with n workers, all of generation
// gen and serving.
func onlyGeneration(gen uint64, n int) func(prefork.Status) bool {
	return func(st prefork.Status) bool {
		if len(st.Workers) != n {
			return false
		}
		for _, w := range st.Workers {
			if w.Generation != gen || w.State == "starting" || w.State == "stopping" {
				return false
			}
		}
		return true
	}
}

// waitGone waits up to d for every process of pids to be gone.
func waitGone(t *testing.T, d time.Duration, pids []int) {
	t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		all := true
		for _, pid := range pids {
			all = all && gone(pid)
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes %v still running after %v", pids, d)
		}
	}
}

// idleWorker waits for a worker waiting for the accept lock (not pid) and
// returns its pid.
func idleWorker(s *server, not int) int {
	s.t.Helper()
	var pid int
	s.waitStatus(3*time.Second, "an idle worker", func(st prefork.Status) bool {
		for _, w := range st.Workers {
			if w.State == "idle" && w.PID != not {
				pid = w.PID
				return true
			}
		}
		return false
	})
	return pid
}

// waitStopped waits until /proc says pid is stopped.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); procState(pid) != 'T'; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d not stopped 2 s after SIGSTOP (state %c)", pid, procState(pid))
		}
	}
}

// refused reports whether a new connection to addr is refused.
func refused(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		return errors.New("connected")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return err
	}
	return nil
}

// dial connects to addr for the rest of the test (10 s at most).
func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// waitRefused requires new connections to addr to be refused within a
// second of what happened (after).
func waitRefused(t *testing.T, addr, after string) {
	t.Helper()
	var err error
	t0 := time.Now()
	for deadline := t0.Add(time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err = refused(addr); err == nil {
			t.Logf("new connections refused %v after %s", time.Since(t0).Round(time.Millisecond), after)
			return
		}
	}
	t.Errorf("1 s after %s a new connection is not refused: %v", after, err)
}

// Requirement 4: a graceful stop closes the listener at once everywhere:
// new connections are refused while the ones in flight finish.
func TestDrainRefuses(t *testing.T) {
	s := startServer(t, "workers=2", "graceful=5s")
	// Conversations in flight: a line every 100 ms for 3 s on each.
	const inflight = 4
	results := make(chan error, inflight)
	for i := range inflight {
		go func() {
			results <- func() error {
				c, err := net.Dial("tcp", s.addr)
				if err != nil {
					return err
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				r := bufio.NewReader(c)
				for j := range 30 {
					line := fmt.Sprintf("conversation %d line %d\n", i, j)
					if _, err := io.WriteString(c, line); err != nil {
						return err
					}
					if got, err := r.ReadString('\n'); err != nil || got != strings.ToUpper(line) {
						return fmt.Errorf("line %d: %q, %v", j, got, err)
					}
					time.Sleep(100 * time.Millisecond)
				}
				return nil
			}()
		}()
	}
	s.waitStatus(5*time.Second, "all conversations open", func(st prefork.Status) bool {
		var active uint64
		for _, w := range st.Workers {
			active += w.Active
		}
		return active == inflight
	})
	s.signal(syscall.SIGTERM)
	waitRefused(t, s.addr, "SIGTERM, while 4 conversations go on")
	for range inflight {
		if err := <-results; err != nil {
			t.Errorf("in-flight conversation: %v", err)
		}
	}
	if st := s.wait(10 * time.Second); !st.Success() {
		t.Errorf("supervisor %v", st)
	}
}

// Requirement 4 and 5: kill -9 of the supervisor alone, its state file
// deleted: the workers close the listener at once (new connections are
// refused while an old one finishes), and the last process out removes the
// semaphore set and the queue, so nothing leaks.
func TestSupervisorKilledNoStateFile(t *testing.T) {
	before := ipctest.Snapshot()
	s := startServer(t, "workers=2", "graceful=3s")
	var pids []int
	for _, w := range s.scoreboard().Workers {
		pids = append(pids, w.PID)
	}
	// A client with a connection open keeps its worker draining for a while.
	c, r := dial(t, s.addr)
	io.WriteString(c, "one\n")
	if got, err := r.ReadString('\n'); err != nil || got != "ONE\n" {
		t.Fatalf("%q, %v", got, err)
	}
	if err := os.Remove(s.state.Path); err != nil {
		t.Fatal(err)
	}
	s.signal(syscall.SIGKILL)
	waitRefused(t, s.addr, "kill -9 of the supervisor, while a connection stays open")
	// The open connection is still served, by a worker that drains.
	io.WriteString(c, "two\n")
	if got, err := r.ReadString('\n'); err != nil || got != "TWO\n" {
		t.Errorf("the open connection after the supervisor's death: %q, %v", got, err)
	}
	c.Close()
	s.wait(5 * time.Second)
	waitGone(t, 6*time.Second, pids)
	var leaks []string
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if leaks = ipctest.Leaked(before); len(leaks) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(leaks) > 0 {
		t.Errorf("kill -9 of the supervisor, state file gone, left: %v", leaks)
	}
	if e := s.log.events("removed the server's IPC objects"); len(e) == 0 {
		t.Errorf("nothing logged the removal")
	}
}

// Requirement 5: kill -9 of every process at once leaves only what the state
// file names, and the next start removes exactly that. A state file planted
// in our directory that names objects the server did not make (same key,
// uid and ctime) removes nothing.
func TestTreeKilledAndPlantedState(t *testing.T) {
	before := ipctest.Snapshot()
	s := startServer(t, "workers=2")
	pids := []int{s.cmd.Pid()}
	for _, w := range s.scoreboard().Workers {
		pids = append(pids, w.PID)
	}
	pids = append(pids, childrenOf(s.cmd.Pid(), false)...) // the janitor, too
	// All at once: stopped first, so that none sees another die.
	for _, sig := range []syscall.Signal{syscall.SIGSTOP, syscall.SIGKILL} {
		for _, pid := range pids {
			syscall.Kill(pid, sig)
		}
	}
	s.wait(5 * time.Second)
	waitGone(t, 3*time.Second, pids)
	left := ipctest.Leaked(before)
	want := []string{"msg id=" + strconv.Itoa(s.state.Queue), "sem id=" + strconv.Itoa(s.state.Semaphore)}
	if len(left) != 2 || !strings.HasPrefix(left[0], want[0]+" ") || !strings.HasPrefix(left[1], want[1]+" ") {
		t.Errorf("after kill -9 of the tree: %v, want exactly %v", left, want)
	}

	// A planted state file: our own objects, which no server made.
	set, err := sem.Create(ipc.Private, 5, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Remove()
	q, err := msgq.Create(ipc.Private, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Remove()
	si, _ := set.Stat()
	qi, _ := q.Stat()
	planted := fmt.Sprintf(`{"pid": 999999, "start_ticks": 1, "addr": "127.0.0.1:1", "semaphore_id": %d, "semaphore_ctime": %d, "queue_id": %d, "queue_ctime": %d, "segment_id": 0}`,
		set.ID(), si.CTime.Unix(), q.ID(), qi.CTime.Unix())
	if err := os.WriteFile(filepath.Join(s.dir, "prefork-999999.json"), []byte(planted), 0o600); err != nil {
		t.Fatal(err)
	}
	// And one that records a signature: not the one in those objects.
	planted2 := strings.Replace(planted, `"pid": 999999`, `"pid": 999998, "signature": 12345`, 1)
	if err := os.WriteFile(filepath.Join(s.dir, "prefork-999998.json"), []byte(planted2), 0o600); err != nil {
		t.Fatal(err)
	}

	next := startServer(t, "workers=1", "dir="+s.dir)
	for _, e := range next.log.events("removed what a dead server left behind") {
		t.Logf("logged: %v", e)
		if (e.num("dead_pid") == 999999 || e.num("dead_pid") == 999998) && e.str("removed") != "" {
			t.Errorf("the planted state file made the server remove %s", e.str("removed"))
		}
		if e.num("dead_pid") == 999998 && !strings.Contains(e.str("refused"), "does not carry the server's signature") {
			t.Errorf("refusal logged as %q", e.str("refused"))
		}
	}
	if _, err := set.Stat(); err != nil {
		t.Errorf("the planted file's semaphore set was removed: %v", err)
	}
	if _, err := q.Stat(); err != nil {
		t.Errorf("the planted file's queue was removed: %v", err)
	}
	e := next.waitEvent("removed what a dead server left behind", time.Second, func(e event) bool { return e.num("dead_pid") == s.cmd.Pid() })
	if !strings.Contains(e.str("removed"), "semaphore set "+strconv.Itoa(s.state.Semaphore)) || !strings.Contains(e.str("removed"), "queue "+strconv.Itoa(s.state.Queue)) {
		t.Errorf("cleanup of the killed tree logged as %v", e)
	}
	if _, err := sem.FromID(s.state.Semaphore); err == nil && s.state.Semaphore != next.state.Semaphore {
		t.Errorf("semaphore set %d survived", s.state.Semaphore)
	}
}

// keepAlive is an HTTP/1.1 client on one connection that never retries:
// what wrk does. A response with Connection: close makes it reconnect.
type keepAlive struct {
	addr string
	c    net.Conn
	r    *bufio.Reader
}

func (k *keepAlive) get() error {
	if k.c == nil {
		c, err := net.DialTimeout("tcp", k.addr, 5*time.Second)
		if err != nil {
			return err
		}
		k.c, k.r = c, bufio.NewReader(c)
	}
	k.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(k.c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		k.close()
		return err
	}
	resp, err := http.ReadResponse(k.r, nil)
	if err != nil {
		k.close()
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(string(body), "hello from ") {
		k.close()
		return fmt.Errorf("%d %q %v", resp.StatusCode, body, err)
	}
	if resp.Close {
		k.close()
	}
	return nil
}

func (k *keepAlive) close() {
	if k.c != nil {
		k.c.Close()
		k.c = nil
	}
}

// Requirement 6: reloads under keep-alive HTTP load fail no request: a
// draining worker answers with Connection: close before it closes idle
// connections, after a grace.
func TestHTTPReloadKeepAlive(t *testing.T) {
	reloads := 3
	if long() {
		reloads = 20
	}
	s := startServer(t, "workers=2", "handler=http")
	stop := make(chan struct{})
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := &keepAlive{addr: s.addr}
			defer k.close()
			for {
				select {
				case <-stop:
					return
				default:
				}
				sent.Add(1)
				if err := k.get(); err != nil {
					failed.Add(1)
					mu.Lock()
					errs = append(errs, err.Error())
					mu.Unlock()
				}
			}
		}()
	}
	for i := range reloads {
		time.Sleep(200 * time.Millisecond)
		s.signal(syscall.SIGHUP)
		gen := uint64(i + 2)
		s.waitStatus(10*time.Second, "generation "+strconv.Itoa(int(gen))+" only", onlyGeneration(gen, 2))
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d reloads under keep-alive load: %d requests, %d failed", reloads, sent.Load(), failed.Load())
	if failed.Load() > 0 {
		t.Errorf("%d requests failed: %v", failed.Load(), errs[:min(len(errs), 5)])
	}
}

// A worker that is stopped and continued is logged as the textbook's server
// logs it; SIGTTIN at the cap says it is at the cap.
func TestStopContinueAndCapLogged(t *testing.T) {
	s := startServer(t, "workers=2", "maxworkers=2")
	victim := idleWorker(s, 0)
	syscall.Kill(victim, syscall.SIGSTOP)
	s.waitEvent("worker stopped", 2*time.Second, func(e event) bool {
		return e.num("pid") == victim && e.str("status") == "stopped by signal 19 (stopped (signal))"
	})
	syscall.Kill(victim, syscall.SIGCONT)
	s.waitEvent("worker continued", 2*time.Second, func(e event) bool { return e.num("pid") == victim && e.str("status") == "continued" })
	s.signal(syscall.SIGTTIN)
	e := s.waitEvent("at the cap: no worker more", 2*time.Second, nil)
	if e.num("workers") != 2 || e.num("max_workers") != 2 {
		t.Errorf("logged %v", e)
	}
	if got, err := ask(s.addr, "still"); err != nil || got != "STILL" {
		t.Errorf("%q, %v", got, err)
	}
}

// openFDs counts the descriptors pid has open.
func openFDs(pid int) int {
	ents, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	return len(ents)
}

// A worker out of descriptors says "cannot accept" at most once every 5 s
// (it once logged 1,316 lines in 25 s), and serves again once it has some.
func TestAcceptEMFILERateLimited(t *testing.T) {
	s := startServer(t, "workers=1")
	pid := s.scoreboard().Workers[0].PID
	// One connection first: the worker's runtime makes its poller's
	// descriptors with the first connection it serves.
	if got, err := ask(s.addr, "first"); err != nil || got != "FIRST" {
		t.Fatalf("%q, %v", got, err)
	}
	// The limit is what the worker has open once it has closed that
	// connection, so that not one descriptor is free: with one free it
	// would serve the clients below one at a time and never fail an
	// accept. So wait for its close (a loaded machine can take longer than
	// any fixed sleep to let it see the client's) and for the count to
	// hold still.
	s.waitStatus(10*time.Second, "the first connection closed", func(st prefork.Status) bool {
		return len(st.Workers) == 1 && st.Workers[0].Active == 0
	})
	n := openFDs(pid)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		m := openFDs(pid)
		if m == n {
			break
		}
		n = m
	}
	var old unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &old); err != nil {
		t.Fatal(err)
	}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: uint64(n), Max: old.Max}, nil); err != nil {
		t.Fatal(err)
	}
	answers := make(chan error, 4)
	for i := range 4 {
		go func() {
			// Not ask: its deadline could pass while the test waits for
			// the line on a loaded machine.
			line := "wait " + strconv.Itoa(i)
			c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
			if err != nil {
				answers <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			io.WriteString(c, line+"\n")
			got, err := bufio.NewReader(c).ReadString('\n')
			if err == nil && got != strings.ToUpper(line)+"\n" {
				err = fmt.Errorf("got %q", got)
			}
			answers <- err
		}()
	}
	// The first line comes when the worker first fails to accept (at
	// once, on an idle machine); then it goes on failing, and the lines
	// are at most one a 5 s from the first: bounded by the time that
	// passed, not by a window the test's sleep was assumed to keep.
	first := s.waitEvent("cannot accept", 15*time.Second, nil)
	time.Sleep(1500 * time.Millisecond)
	lines := s.log.events("cannot accept")
	span := time.Since(eventTime(first))
	allowed := 1 + int(span/(5*time.Second))
	t.Logf("%d 'cannot accept' lines in the %v since the first (at most %d allowed)", len(lines), span.Round(time.Millisecond), allowed)
	if len(lines) > allowed {
		t.Errorf("%d 'cannot accept' lines in %v of EMFILE, want at most %d: %v", len(lines), span.Round(time.Millisecond), allowed, lines)
	}
	for _, l := range lines {
		if !strings.Contains(l.str("err"), "too many open files") {
			t.Errorf("'cannot accept' for another reason: %v", l)
		}
	}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &old, nil); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if err := <-answers; err != nil {
			t.Errorf("once descriptors are back: %v", err)
		}
	}
}

// Workers of a reload that cannot start (here: no handler) back off slot by
// slot, saying why, while the old generation goes on serving; the server
// neither stops nor spins.
func TestReloadCannotStartBacksOff(t *testing.T) {
	flag := filepath.Join(t.TempDir(), "broken")
	s := startServer(t, "workers=2", "handler=failif:"+flag)
	if err := os.WriteFile(flag, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s.signal(syscall.SIGHUP)
	time.Sleep(1500 * time.Millisecond)
	pauses := s.log.events("worker died at start; pausing before the next")
	starts := 0
	for _, e := range s.log.events("worker started") {
		if e.num("generation") == 2 {
			starts++
		}
	}
	// 2 slots, 100+200+400+800 ms of pauses each at most in 1.5 s.
	if len(pauses) < 2 || starts > 2+len(pauses) || starts > 10 {
		t.Errorf("%d starts of generation 2 and %d pauses in 1.5 s", starts, len(pauses))
	}
	for _, p := range pauses {
		if !strings.Contains(p.str("why"), "no Handler and no HTTPHandler") {
			t.Errorf("a pause that does not say why: %v", p)
		}
	}
	for i := range 5 {
		if got, err := ask(s.addr, "old "+strconv.Itoa(i)); err != nil || got != "OLD "+strconv.Itoa(i) {
			t.Fatalf("generation 1 after a failed reload: %q, %v", got, err)
		}
	}
	for _, w := range s.scoreboard().Workers {
		if w.Generation == 1 && w.State == "stopping" {
			t.Errorf("generation 1 retired for workers that never served: %+v", w)
		}
	}
	// Mended: the next attempts start, and the reload completes.
	os.Remove(flag)
	s.waitStatus(5*time.Second, "generation 2 only", onlyGeneration(2, 2))
}

// The janitor killed alone is replaced, and the new one still removes the
// objects after a kill -9 of the supervisor.
func TestJanitorRespawned(t *testing.T) {
	before := ipctest.Snapshot()
	s := startServer(t, "workers=1")
	workers := map[int]bool{}
	for _, w := range s.scoreboard().Workers {
		workers[w.PID] = true
	}
	janitor := func() int {
		for _, pid := range childrenOf(s.cmd.Pid(), false) {
			if !workers[pid] {
				return pid
			}
		}
		return 0
	}
	first := janitor()
	if first == 0 {
		t.Fatal("no janitor")
	}
	syscall.Kill(first, syscall.SIGKILL)
	s.waitEvent("janitor exited; starting another", 3*time.Second, func(e event) bool { return e.num("pid") == first })
	var second int
	for deadline := time.Now().Add(3 * time.Second); second == 0 || second == first; time.Sleep(20 * time.Millisecond) {
		if second = janitor(); time.Now().After(deadline) {
			t.Fatal("no second janitor")
		}
	}
	s.signal(syscall.SIGKILL)
	s.wait(5 * time.Second)
	s.waitEvent("removed the server's IPC objects", 3*time.Second, func(e event) bool { return e.num("janitor") == second })
	if leaks := ipctest.Leaked(before); len(leaks) > 0 {
		t.Errorf("left behind: %v", leaks)
	}
}

// HandleSignals: SIGINT stops gracefully, a second SIGINT at once (the open
// connection is cut rather than waited for), and Run's ErrServerClosed is a
// clean exit.
func TestSecondSIGINT(t *testing.T) {
	s := startServer(t, "workers=2", "graceful=20s")
	c, r := dial(t, s.addr)
	io.WriteString(c, "open\n")
	if got, err := r.ReadString('\n'); err != nil || got != "OPEN\n" {
		t.Fatalf("%q, %v", got, err)
	}
	s.signal(syscall.SIGINT)
	s.waitEvent("stopping gracefully", 2*time.Second, func(e event) bool { return e.str("why") == "SIGINT" })
	t0 := time.Now()
	s.signal(syscall.SIGINT)
	s.waitEvent("stopping at once", 2*time.Second, func(e event) bool { return e.str("why") == "a second SIGINT" })
	if st := s.wait(5 * time.Second); !st.Success() {
		t.Errorf("supervisor %v after two SIGINTs", st)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("stopped %v after the second SIGINT", d)
	}
}
