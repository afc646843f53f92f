package rawwait

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"golang.org/x/sys/unix"
)

func TestDefault(t *testing.T) {
	for _, c := range []struct {
		rawwait, godebug string
		want             bool
	}{
		{"", "", true},
		{"1", "", true},
		{"0", "", false},
		{" 0 ", "", false},
		{"", "asyncpreemptoff=1", false},
		{"1", "asyncpreemptoff=1", false}, // never raw when nothing can interrupt it
		{"", "gctrace=1, asyncpreemptoff=1", false},
		{"", "asyncpreemptoff=1,asyncpreemptoff=0", true},
		{"", "asyncpreemptoff=0", true},
		{"", "xasyncpreemptoff=1", true},
	} {
		if got := Default(c.rawwait, c.godebug); got != c.want {
			t.Errorf("Default(%q, %q) = %v, want %v", c.rawwait, c.godebug, got, c.want)
		}
	}
}

// IPC_RAWWAIT=0 in the environment turns raw waits off from the start.
func TestEnv(t *testing.T) {
	if os.Getenv("RAWWAIT_TEST_CHILD") != "" {
		if Enabled() {
			t.Fatal("raw waits on with IPC_RAWWAIT=0")
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestEnv$", "-test.count=1")
	cmd.Env = append(os.Environ(), "RAWWAIT_TEST_CHILD=1", Env+"=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

func TestMain(m *testing.M) { ipctest.Main(m) }

// sembuf is struct sembuf.
type sembuf struct {
	num uint16
	op  int16
	flg int16
}

// newSem makes a private set of one semaphore, 0, that the test removes.
func newSem(t *testing.T) int {
	t.Helper()
	r, _, e := unix.Syscall(unix.SYS_SEMGET, unix.IPC_PRIVATE, 1, unix.IPC_CREAT|0o600)
	if e != 0 {
		t.Fatal("semget:", e)
	}
	id := int(r)
	t.Cleanup(func() { unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), 0, unix.IPC_RMID, 0, 0, 0) })
	return id
}

// semop makes one semop of delta on semaphore 0 through h.
func semop(h *Hint, id int, delta int16) unix.Errno {
	op := sembuf{op: delta}
	_, e := h.Syscall(unix.SYS_SEMOP, uintptr(id), unsafe.Pointer(&op), 1, 0, 0)
	return e
}

func post(t *testing.T, id int) {
	t.Helper()
	var h Hint
	if e := semop(&h, id, 1); e != 0 {
		t.Fatal("post:", e)
	}
}

// blockedWait starts a P on semaphore 0 made through h and returns a
// channel that gets its errno.
func blockedWait(h *Hint, id int) chan unix.Errno {
	done := make(chan unix.Errno, 1)
	go func() { done <- semop(h, id, -1) }()
	return done
}

// waitLong makes a P through h that waits d for its post.
func waitLong(t *testing.T, h *Hint, d time.Duration) {
	t.Helper()
	id := newSem(t)
	done := blockedWait(h, id)
	time.Sleep(d)
	post(t, id)
	if e := <-done; e != 0 {
		t.Fatal(e)
	}
}

func needRaw(t *testing.T) {
	if !Enabled() {
		t.Skip("raw waits are off (IPC_RAWWAIT=0 or GODEBUG=asyncpreemptoff=1)")
	}
}

// A call that need not wait is made raw and returns what the kernel says.
func TestSyscall(t *testing.T) {
	needRaw(t)
	id := newSem(t)
	var h Hint
	if e := semop(&h, id, 1); e != 0 {
		t.Fatal(e)
	}
	if e := semop(&h, id, -1); e != 0 {
		t.Fatal(e)
	}
	if h.calls != 2 || h.strikes != 0 || h.plain != 0 {
		t.Fatalf("after two raw calls: %+v", h)
	}
	if e := semop(&h, -1, 1); e != unix.EINVAL {
		t.Fatalf("semop on id -1: %v, want EINVAL", e)
	}
}

// A raw semop that waits long is interrupted by the runtime's preemption
// within about 10ms (semop is never restarted after a signal handler),
// goes on waiting the plain way, and completes; the Hint then sends the
// next calls the plain way.
func TestLongWait(t *testing.T) {
	needRaw(t)
	var h Hint
	waitLong(t, &h, 100*time.Millisecond)
	if h.strikes != 1 || h.plain != 2 {
		t.Fatalf("after a long wait: %+v, want 1 strike and 2 plain calls", h)
	}
}

// A goroutine in a raw wait keeps its P, but not for long: with one P, the
// rest of the program still runs, and a garbage collection completes.
func TestNoStarvation(t *testing.T) {
	needRaw(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	id := newSem(t)
	var h Hint
	var ticks atomic.Int32
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				ticks.Add(1)
			}
		}
	}()
	done := blockedWait(&h, id)
	time.Sleep(200 * time.Millisecond)
	// With the P held for good, no tick would come after the wait began;
	// a preemption after 10ms or so lets them all come.
	if n := ticks.Load(); n < 5 {
		t.Errorf("%d ticks in 200ms beside a raw wait", n)
	}
	gcDone := make(chan struct{})
	go func() { runtime.GC(); close(gcDone) }()
	select {
	case <-gcDone:
	case <-time.After(5 * time.Second):
		t.Fatal("a garbage collection waited for the raw call")
	}
	post(t, id)
	if e := <-done; e != 0 {
		t.Fatal(e)
	}
}

// Turned off, every call goes the plain way: a long wait is never
// interrupted, so nothing is judged.
func TestDisabled(t *testing.T) {
	defer SetEnabled(SetEnabled(false))
	var h Hint
	waitLong(t, &h, 50*time.Millisecond)
	if h != (Hint{}) {
		t.Fatalf("a plain call changed the hint: %+v", h)
	}
}

// Calls the kernel restarts after a signal handler (read and write on a
// pipe, and everything else but the calls signal(7) lists as never
// restarted) would never come back with EINTR when the runtime preempts a
// raw wait: the P would be held until the call completes, and a garbage
// collection, stopping the world, would freeze the whole process until
// then. Syscall makes them the plain way. A child process tries it, so that
// a freeze fails the test instead of hanging it.
func TestRestartedCallsGoPlain(t *testing.T) {
	needRaw(t)
	if os.Getenv("RAWWAIT_TEST_CHILD") == "restarted" {
		restartedChild(t)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestRestartedCallsGoPlain$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "RAWWAIT_TEST_CHILD=restarted")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("a garbage collection waited for a blocked read made through Syscall\n%s", out)
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

func restartedChild(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	var h Hint
	done := make(chan unix.Errno, 1)
	go func() {
		buf := make([]byte, 1)
		_, e := h.Syscall(unix.SYS_READ, uintptr(p[0]), unsafe.Pointer(&buf[0]), 1, 0, 0)
		done <- e
	}()
	time.Sleep(50 * time.Millisecond) // well into the read
	runtime.GC()
	if _, err := unix.Write(p[1], []byte{1}); err != nil {
		t.Fatal(err)
	}
	if e := <-done; e != 0 {
		t.Fatal(e)
	}
	if h != (Hint{}) {
		t.Fatalf("a plain call changed the hint: %+v", h)
	}
}

// An interruption after few raw calls makes the next blocking calls go the
// plain way, for twice as many calls at each strike; one after many calls
// takes a strike away; interruptions in a burst are judged once.
func TestStrikes(t *testing.T) {
	var h Hint
	// plainCalls counts the calls the hint sends the plain way now, as
	// Syscall counts them down.
	plainCalls := func() int {
		n := 0
		for atomic.LoadInt32(&h.plain) > 0 && atomic.AddInt32(&h.plain, -1) >= 0 {
			n++
		}
		return n
	}
	// interrupt is an interruption after that many calls that no burst
	// hides.
	interrupt := func(after int32) {
		h.calls = min(after, minCalls)
		h.lastIntr -= int64(time.Hour)
		h.interrupted()
	}
	interrupt(0)
	if n := plainCalls(); n != 2 {
		t.Errorf("after 1 strike: %d plain calls, want 2", n)
	}
	interrupt(minCalls - 1)
	if n := plainCalls(); n != 4 {
		t.Errorf("after 2 strikes: %d plain calls, want 4", n)
	}
	h.interrupted() // in the same burst: not judged
	if n := plainCalls(); n != 0 {
		t.Errorf("an interruption in a burst: %d plain calls, want 0", n)
	}
	for range 2 * maxStrikes {
		interrupt(0)
	}
	if n := plainCalls(); n != 1<<maxStrikes {
		t.Errorf("after many strikes: %d plain calls, want %d", n, 1<<maxStrikes)
	}
	for range maxStrikes - 2 {
		interrupt(10 * minCalls)
	}
	if n := plainCalls(); n != 0 {
		t.Errorf("interruptions after many calls made %d plain calls", n)
	}
	interrupt(0)
	if n := plainCalls(); n != 8 {
		t.Errorf("after %d forgiven strikes and a new one: %d plain calls, want 8", maxStrikes-2, n)
	}
}

// Calls on one Hint from many goroutines at once are safe (go test -race)
// and each completes.
func TestConcurrent(t *testing.T) {
	id := newSem(t)
	var h Hint
	const n = 8
	dones := make([]chan unix.Errno, n)
	for i := range dones {
		dones[i] = blockedWait(&h, id)
	}
	time.Sleep(20 * time.Millisecond)
	for range n {
		post(t, id)
	}
	for i, d := range dones {
		select {
		case e := <-d:
			if e != 0 {
				t.Fatal(e)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("wait %d did not return", i)
		}
	}
}

// Syscall allocates nothing.
func TestAllocs(t *testing.T) {
	id := newSem(t)
	var h Hint
	if a := testing.AllocsPerRun(100, func() {
		semop(&h, id, 1)
		semop(&h, id, -1)
	}); a != 0 {
		t.Fatalf("%v allocations per call", a)
	}
}
