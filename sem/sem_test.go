package sem_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/sem"
	"golang.org/x/sys/unix"
)

func TestCreateStatRemove(t *testing.T) {
	before := time.Now().Add(-time.Second)
	s := newSet(t, 10)
	if s.Len() != 10 {
		t.Fatalf("Len = %d, want 10", s.Len())
	}
	info, err := s.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if info.NSems != 10 || info.Perm.Mode != 0o600 || info.Perm.CUID != uint32(os.Geteuid()) || info.Perm.UID != uint32(os.Geteuid()) {
		t.Fatalf("Stat = %+v", info)
	}
	if !info.OTime.IsZero() || info.CTime.Before(before) {
		t.Fatalf("times: otime %v ctime %v", info.OTime, info.CTime)
	}
	if err := s.Do(sem.Inc(3, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if info, _ = s.Stat(); info.OTime.Before(before) {
		t.Fatalf("otime not set by semop: %v", info.OTime)
	}
	if err := s.Remove(); err != nil {
		t.Fatal(err)
	}
	// semctl01: after IPC_RMID the set is gone.
	wantErrno(t, s.Do(sem.Inc(0, 1, 0)), unix.EINVAL)
	wantErrno(t, s.Remove(), unix.EINVAL)
}

func TestGetByKey(t *testing.T) {
	k := freshKey(t)
	_, err := sem.Open(k)
	wantErrno(t, err, unix.ENOENT) // semget02 ENOENT
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%v does not match fs.ErrNotExist", err)
	}
	s, err := sem.Create(k, 3, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Remove()
	_, err = sem.Create(k, 3, 0o640)
	wantErrno(t, err, unix.EEXIST) // semget02 EEXIST
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("%v does not match fs.ErrExist", err)
	}
	for _, open := range []func() (*sem.Set, error){
		func() (*sem.Set, error) { return sem.Open(k) },
		func() (*sem.Set, error) { return sem.OpenOrCreate(k, 2, 0o600) },
		func() (*sem.Set, error) { return sem.FromID(s.ID()) },
	} {
		o, err := open()
		if err != nil {
			t.Fatal(err)
		}
		if o.ID() != s.ID() || o.Len() != 3 {
			t.Fatalf("opened id %d len %d, want %d len 3", o.ID(), o.Len(), s.ID())
		}
	}
	// semget02: an existing set with fewer semaphores than asked for.
	_, err = sem.OpenOrCreate(k, 4, 0o600)
	wantErrno(t, err, unix.EINVAL)
	if got := err.Error(); got != "sem: get semaphore set with key "+k.String()+": invalid argument or no such id" {
		t.Fatalf("error text %q", got)
	}
}

func TestGetInvalid(t *testing.T) {
	lim, err := ipc.ReadLimits()
	if err != nil {
		t.Fatal(err)
	}
	for name, fn := range map[string]func() (*sem.Set, error){
		"negative nsems":   func() (*sem.Set, error) { return sem.Create(ipc.Private, -1, 0o600) },
		"zero nsems":       func() (*sem.Set, error) { return sem.Create(ipc.Private, 0, 0o600) },
		"nsems > SEMMSL":   func() (*sem.Set, error) { return sem.Create(ipc.Private, int(lim.SEMMSL)+1, 0o600) },
		"exec bit in mode": func() (*sem.Set, error) { return sem.Create(ipc.Private, 1, 0o700) },
		"negative id":      func() (*sem.Set, error) { return sem.FromID(-1) },
		"unused id":        func() (*sem.Set, error) { return sem.FromID(1 << 30) },
	} {
		t.Run(name, func(t *testing.T) {
			s, err := fn()
			if s != nil {
				s.Remove()
			}
			wantErrno(t, err, unix.EINVAL)
		})
	}
}

// semget05: ENOSPC once SEMMNI sets exist. The limit is per IPC namespace,
// so it is lowered only in the tests' private one.
func TestGetNoSpace(t *testing.T) {
	if !ipctest.PrivateNamespace() {
		t.Skip("changes kernel.sem, which only a private IPC namespace may")
	}
	old, err := os.ReadFile("/proc/sys/kernel/sem")
	if err != nil {
		t.Fatal(err)
	}
	sets, err := sem.List()
	if err != nil {
		t.Fatal(err)
	}
	var f [4]int
	if _, err := fmt.Sscan(string(old), &f[0], &f[1], &f[2], &f[3]); err != nil {
		t.Fatal(err)
	}
	limit := len(sets) + 2
	if err := os.WriteFile("/proc/sys/kernel/sem", []byte(strconv.Itoa(f[0])+" "+strconv.Itoa(f[1])+" "+strconv.Itoa(f[2])+" "+strconv.Itoa(limit)), 0); err != nil {
		t.Fatal(err)
	}
	defer os.WriteFile("/proc/sys/kernel/sem", old, 0)
	newSet(t, 1)
	newSet(t, 1)
	s, err := sem.Create(ipc.Private, 1, 0o600)
	if s != nil {
		s.Remove()
	}
	wantErrno(t, err, unix.ENOSPC)
}

func TestPermissions(t *testing.T) {
	s := newSet(t, 1)
	// semctl02 EACCES: no read permission for IPC_STAT; semop02 EACCES: no
	// alter permission; semctl04 EPERM: IPC_SET and IPC_RMID by a
	// stranger.
	if got := nobodyErrno(t, "stat", s); got != unix.EACCES {
		t.Errorf("nobody's IPC_STAT: errno %v, want EACCES", got)
	}
	if got := nobodyErrno(t, "op", s); got != unix.EACCES {
		t.Errorf("nobody's semop: errno %v, want EACCES", got)
	}
	if got := nobodyErrno(t, "setmode", s); got != unix.EPERM && got != unix.EACCES {
		t.Errorf("nobody's IPC_SET: errno %v, want EPERM", got)
	}
	if got := nobodyErrno(t, "remove", s); got != unix.EPERM {
		t.Errorf("nobody's IPC_RMID: errno %v, want EPERM", got)
	}
	// semget02 EACCES: opening by key without permission.
	k := freshKey(t)
	ks, err := sem.Create(k, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Remove()
	if got := nobodyErrno(t, "getkey", s, strconv.Itoa(int(k))); got != unix.EACCES {
		t.Errorf("nobody's semget of a mode 0 set: errno %v, want EACCES", got)
	}
	// Opening it up lets nobody operate, and SetOwner hands it over.
	if err := s.SetMode(0o666); err != nil {
		t.Fatal(err)
	}
	if got := nobodyErrno(t, "op", s); got != 0 {
		t.Errorf("nobody's semop on a 0666 set: errno %v", got)
	}
	if err := s.SetOwner(ipctest.Nobody, ipctest.Nobody); err != nil {
		t.Fatal(err)
	}
	info, err := s.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if info.Perm.UID != ipctest.Nobody || info.Perm.GID != ipctest.Nobody || info.Perm.Mode != 0o666 || info.Perm.CUID != uint32(os.Geteuid()) {
		t.Fatalf("after SetOwner: %+v", info.Perm)
	}
	wantErrno(t, s.SetMode(0o777), unix.EINVAL)
}

func TestValues(t *testing.T) {
	s := newSet(t, 4)
	if err := s.SetValues([]uint16{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetValue(2, 30); err != nil {
		t.Fatal(err)
	}
	vals, err := s.Values()
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint16{1, 2, 30, 4}; !equal(vals, want) {
		t.Fatalf("Values = %v, want %v", vals, want)
	}
	if v, err := s.Value(2); err != nil || v != 30 {
		t.Fatalf("Value(2) = %d, %v", v, err)
	}
	// semctl05 ERANGE: below 0 and above SEMVMX.
	wantErrno(t, s.SetValue(0, -1), unix.ERANGE)
	wantErrno(t, s.SetValue(0, 32768), unix.ERANGE)
	wantErrno(t, s.SetValues([]uint16{1, 2, 3, 40000}), unix.ERANGE)
	wantErrno(t, s.SetValues([]uint16{1, 2}), unix.EINVAL)
	wantErrno(t, s.ValuesInto(make([]uint16, 2)), unix.EINVAL)
	_, err = s.Value(4)
	wantErrno(t, err, unix.EINVAL)
	_, err = s.Value(-1)
	wantErrno(t, err, unix.EINVAL)
	if err := s.Do(sem.Dec(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if pid, err := s.LastPID(0); err != nil || pid != os.Getpid() {
		t.Fatalf("LastPID = %d, %v; want %d", pid, err, os.Getpid())
	}
}

// semop01: four operations applied atomically with SEM_UNDO, and none of
// them when one cannot proceed.
func TestDoAtomic(t *testing.T) {
	s := newSet(t, 4)
	ops := []sem.Op{sem.WaitZero(0, sem.Undo), sem.Inc(1, 1, sem.Undo), sem.Inc(2, 4, sem.Undo), sem.Inc(3, 9, sem.Undo)}
	if err := s.Do(ops...); err != nil {
		t.Fatal(err)
	}
	if err := s.DoTimeout(time.Second, sem.Dec(1, 1, 0), sem.Inc(2, 1, 0)); err != nil {
		t.Fatal(err)
	}
	// The second operation cannot proceed, so the first must not happen.
	err := s.Do(sem.Inc(3, 1, 0), sem.Dec(0, 1, sem.NoWait))
	wantErrno(t, err, unix.EAGAIN)
	vals, _ := s.Values()
	if want := []uint16{0, 0, 5, 9}; !equal(vals, want) {
		t.Fatalf("values %v, want %v", vals, want)
	}
}

func TestDoErrors(t *testing.T) {
	s := newSet(t, 2)
	lim, err := ipc.ReadLimits()
	if err != nil {
		t.Fatal(err)
	}
	wantErrno(t, s.Do(), unix.EINVAL)                               // semop02: nsops == 0
	wantErrno(t, s.Do(make([]sem.Op, lim.SEMOPM+1)...), unix.E2BIG) // semop02: nsops > SEMOPM
	if !errors.Is(s.Do(make([]sem.Op, lim.SEMOPM+1)...), ipc.ErrTooBig) {
		t.Error("E2BIG does not match ipc.ErrTooBig")
	}
	wantErrno(t, s.Do(sem.Inc(2, 1, 0)), unix.EFBIG)              // semop02: sem_num >= nsems
	wantErrno(t, s.Do(sem.Inc(65535, 1, 0)), unix.EFBIG)          // semop02: sem_num = -1
	wantErrno(t, removedSet(t).Do(sem.Inc(0, 1, 0)), unix.EINVAL) // semop02: invalid semid
	if err := s.SetValue(0, 1); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, s.Do(sem.Inc(0, 32767, 0)), unix.ERANGE) // semop02: over SEMVMX
	err = s.Do(sem.WaitZero(0, sem.NoWait))               // semop02: EAGAIN, zero
	wantErrno(t, err, unix.EAGAIN)
	if !errors.Is(err, ipc.ErrWouldBlock) {
		t.Error("EAGAIN does not match ipc.ErrWouldBlock")
	}
	wantErrno(t, s.Do(sem.Dec(1, 1, sem.NoWait)), unix.EAGAIN) // semop02: EAGAIN, decrement
}

// removedSet returns a set that no longer exists.
func removedSet(t *testing.T) *sem.Set {
	s, err := sem.Create(ipc.Private, 1, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(); err != nil {
		t.Fatal(err)
	}
	return s
}

// semop02: semtimedop times out in wait-for-zero and in decrement.
func TestDoTimeout(t *testing.T) {
	s := newSet(t, 2)
	if err := s.SetValue(0, 1); err != nil {
		t.Fatal(err)
	}
	for _, op := range []sem.Op{sem.WaitZero(0, 0), sem.Dec(1, 1, 0)} {
		start := time.Now()
		err := s.DoTimeout(50*time.Millisecond, op)
		el := time.Since(start)
		if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(err, ipc.ErrTimeout) {
			t.Fatalf("%+v: got %v, want a timeout", op, err)
		}
		var e *ipc.Error
		if !errors.As(err, &e) || !e.Timeout() {
			t.Fatalf("%v: Timeout() is false", err)
		}
		if el < 50*time.Millisecond || el > 500*time.Millisecond {
			t.Fatalf("timed out after %v, want about 50ms", el)
		}
	}
	// Zero means one try without waiting.
	if err := s.DoTimeout(0, sem.Dec(1, 1, 0)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("zero timeout: %v", err)
	}
	if err := s.DoTimeout(0, sem.Dec(0, 1, 0)); err != nil {
		t.Fatalf("zero timeout on a free semaphore: %v", err)
	}
}

// blockedOnThread runs fn on a goroutine locked to its thread and returns
// that thread's id, so a test can signal exactly the thread that blocks.
func blockedOnThread(fn func() error) (tid int, done <-chan error) {
	ch := make(chan error, 1)
	tidc := make(chan int)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tidc <- unix.Gettid()
		ch <- fn()
	}()
	return <-tidc, ch
}

// semop03 EINTR: a signal handled while blocked makes semop fail with
// EINTR; Do must go on waiting, and DoTimeout wait only for what is left.
func TestSignalsWhileBlocked(t *testing.T) {
	s := newSet(t, 1)
	stopSpam := spamSignals(t)
	defer stopSpam()

	tid, done := blockedOnThread(func() error { return s.Do(sem.Dec(0, 1, 0)) })
	spamThread(tid, 50*time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Do returned while the semaphore was 0: %v", err)
	default:
	}
	if err := s.Do(sem.Inc(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	tid, done = blockedOnThread(func() error { return s.DoTimeout(200*time.Millisecond, sem.Dec(0, 1, 0)) })
	go spamThread(tid, 300*time.Millisecond)
	err := <-done
	el := time.Since(start)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("DoTimeout: %v", err)
	}
	if el < 200*time.Millisecond || el > 450*time.Millisecond {
		t.Fatalf("DoTimeout(200ms) under signals returned after %v", el)
	}
}

// spamSignals installs a handler for SIGUSR1, so the signal interrupts
// system calls instead of killing the process.
func spamSignals(t *testing.T) func() {
	ch := make(chan os.Signal, 100)
	signal.Notify(ch, unix.SIGUSR1)
	return func() { signal.Stop(ch) }
}

func spamThread(tid int, d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		_ = unix.Tgkill(os.Getpid(), tid, unix.SIGUSR1)
		time.Sleep(2 * time.Millisecond)
	}
}

// semop03 EIDRM: waiters for zero and for a decrement wake with
// ipc.ErrRemoved when the set goes.
func TestRemovedWhileWaiting(t *testing.T) {
	s := newSet(t, 2)
	if err := s.SetValue(0, 1); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 3)
	go func() { errs <- s.Do(sem.WaitZero(0, 0)) }()
	go func() { errs <- s.Do(sem.Dec(1, 1, 0)) }()
	go func() { errs <- s.DoContext(context.Background(), sem.Dec(1, 1, 0)) }()
	waitFor(t, func() bool {
		z, _ := s.WaitingForZero(0)
		n, _ := s.WaitingForIncrease(1)
		return z == 1 && n == 2
	})
	if err := s.Remove(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		select {
		case err := <-errs:
			// EIDRM in the kernel; EINVAL (an id that names nothing) for
			// a waiter a signal had just sent back to retry: both match
			// ipc.ErrRemoved.
			if !errors.Is(err, unix.EINVAL) {
				wantErrno(t, err, unix.EIDRM)
			}
			if !errors.Is(err, ipc.ErrRemoved) {
				t.Fatalf("%v does not match ipc.ErrRemoved", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a waiter hangs after the set was removed")
		}
	}
}

// semctl01: GETNCNT and GETZCNT count sleepers.
func TestWaitingCounts(t *testing.T) {
	s := newSet(t, 2)
	if err := s.SetValue(1, 1); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 10)
	for range 5 {
		go func() { done <- s.Do(sem.Dec(0, 1, 0)) }()
		go func() { done <- s.Do(sem.WaitZero(1, 0)) }()
	}
	waitFor(t, func() bool {
		n, _ := s.WaitingForIncrease(0)
		z, _ := s.WaitingForZero(1)
		return n == 5 && z == 5
	})
	if err := s.Do(sem.Inc(0, 5, 0), sem.Dec(1, 1, 0)); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestDoContext(t *testing.T) {
	s := newSet(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	var cancelled atomic.Int64
	time.AfterFunc(50*time.Millisecond, func() { cancelled.Store(time.Now().UnixNano()); cancel() })
	err := s.DoContext(ctx, sem.Dec(0, 1, 0))
	late := time.Duration(time.Now().UnixNano() - cancelled.Load())
	if !errors.Is(err, context.Canceled) || late > 50*time.Millisecond {
		t.Fatalf("cancelled DoContext: %v, %v after the cancel (want within 50ms)", err, late)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = s.DoContext(ctx, sem.Dec(0, 1, 0))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DoContext past its deadline: %v", err)
	}
	// The value must be untouched by the abandoned operations.
	if v, _ := s.Value(0); v != 0 {
		t.Fatalf("value %d after cancelled decrements", v)
	}
	// A done context does not even try; one that is not done succeeds.
	if err := s.DoContext(ctx, sem.Inc(0, 1, 0)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DoContext with a done context: %v", err)
	}
	if err := s.DoContext(context.Background(), sem.Inc(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	if err := s.DoContext(ctx, sem.Dec(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	ipctest.WaitFor(t, cond)
}

func equal(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A waiter that keeps its P while it waits (see package rawwait) must not
// starve the rest of the program: with one P, the goroutine that will post
// still runs, within the runtime's preemption interval.
func TestWaiterDoesNotStarveTheProcess(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	s := newSet(t, 1)
	done := make(chan error)
	for range 3 {
		go func() { done <- s.Do(sem.Dec(0, 1, 0)) }()
		runtime.Gosched() // let it block, holding the only P
		start := time.Now()
		time.Sleep(time.Millisecond)
		if el := time.Since(start); el > 200*time.Millisecond {
			t.Errorf("a 1ms sleep took %v while a semop waited", el)
		}
		if err := s.Do(sem.Inc(0, 1, 0)); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
