package ipcobj_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipcobj"
	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/msgq"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/ipctoolkit/ipc/shm"
)

// The listings of the three families (sem.List, msgq.List, shm.List) share
// this package's code; they are tested together here, on both of its paths.

func TestMain(m *testing.M) { ipctest.Main(m) }

func init() {
	// list: every listing on both paths, as a line of "kind:id" words;
	// "values SETID": the values of a set, as ipcs -s -i reads them.
	ipctest.Register("list", func(args []string) int {
		var words []string
		for _, dir := range []string{ipcobj.ProcDir, "/nonexistent"} {
			tag := "proc"
			if dir != ipcobj.ProcDir {
				tag = "sys"
			}
			ipcobj.ProcDir = dir
			sets, err1 := sem.List()
			qs, err2 := msgq.List()
			segs, err3 := shm.List()
			if err := errors.Join(err1, err2, err3); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			for _, s := range sets {
				words = append(words, tag+":sem:"+strconv.Itoa(s.ID))
			}
			for _, q := range qs {
				words = append(words, tag+":msg:"+strconv.Itoa(q.ID)+":qbytes="+strconv.FormatUint(q.QBytes, 10))
			}
			for _, s := range segs {
				words = append(words, tag+":shm:"+strconv.Itoa(s.ID))
			}
		}
		fmt.Println(strings.Join(words, " "))
		return 0
	})
	ipctest.Register("values", func(args []string) int {
		id, _ := strconv.Atoi(args[0])
		_, err := sem.Info{ID: id, NSems: 1}.States()
		var e *ipc.Error
		errors.As(err, &e)
		fmt.Printf("%v|%s|%t\n", err != nil, e.Call, errors.Is(err, fs.ErrPermission))
		return 0
	})
}

// window is the span of seconds a kernel timestamp taken during the test
// must fall in.
type window struct{ from, to time.Time }

// openWindow starts a window of times objects may record. The kernel stamps
// them with its coarse clock (ktime_get_real_seconds), which lags the
// vDSO's time.Now by up to a tick: started right after a second turned,
// the window would miss a stamp of the second before (seen under load).
func openWindow() window {
	return window{from: time.Now().Add(-50 * time.Millisecond).Truncate(time.Second)}
}

func (w *window) close() { w.to = time.Now().Add(time.Second).Truncate(time.Second) }

func (w window) has(t time.Time) bool { return !t.IsZero() && !t.Before(w.from) && !t.After(w.to) }

func checkPerm(t *testing.T, what string, p ipc.Perm, key ipc.Key, mode ipc.Mode) {
	t.Helper()
	uid, gid := uint32(os.Geteuid()), uint32(os.Getegid())
	if p.Key != key || p.Mode != mode || p.UID != uid || p.GID != gid || p.CUID != uid || p.CGID != gid {
		t.Errorf("%s: Perm = %+v; want key %v mode %o owner and creator %d:%d", what, p, key, mode, uid, gid)
	}
}

// find returns the record of id in list.
func find[T any](t *testing.T, list []T, id int, idOf func(T) int) T {
	t.Helper()
	for _, v := range list {
		if idOf(v) == id {
			return v
		}
	}
	t.Fatalf("id %d not listed", id)
	var zero T
	return zero
}

// bothPaths lists with /proc and with the system calls (a /proc directory
// that does not exist forces the fallback, as on a system without /proc).
func bothPaths[T any](t *testing.T, list func() ([]T, error)) (proc, syscalls []T) {
	t.Helper()
	proc, err := list()
	if err != nil {
		t.Fatalf("listing from /proc: %v", err)
	}
	old := ipcobj.ProcDir
	ipcobj.ProcDir = t.TempDir() + "/none"
	defer func() { ipcobj.ProcDir = old }()
	syscalls, err = list()
	if err != nil {
		t.Fatalf("listing from the system calls: %v", err)
	}
	return proc, syscalls
}

// samePaths checks that the two listings agree on every object both saw,
// after norm clears what only one of them can know.
func samePaths[T comparable](t *testing.T, proc, syscalls []T, id func(T) int, norm func(*T)) {
	t.Helper()
	byID := map[int]T{}
	for _, v := range syscalls {
		norm(&v)
		byID[id(v)] = v
	}
	for _, v := range proc {
		norm(&v)
		if s, ok := byID[id(v)]; ok && s != v {
			t.Errorf("/proc and system calls disagree:\n proc     %+v\n syscalls %+v", v, s)
		}
	}
	if ipctest.PrivateNamespace() && len(proc) != len(syscalls) {
		t.Errorf("/proc lists %d objects, the system calls %d", len(proc), len(syscalls))
	}
}

func keyed[T interface{ Remove() error }](t *testing.T, create func(ipc.Key) (T, error)) (T, ipc.Key) {
	t.Helper()
	v, k, err := ipc.CreateRandom(create)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Remove() })
	return v, k
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	ipctest.WaitFor(t, cond)
}

func semID(s sem.Info) int  { return s.ID }
func msgID(q msgq.Info) int { return q.ID }
func shmID(s shm.Info) int  { return s.ID }
func noSeq(p *ipc.Perm)     { p.Seq = 0 }
func semNorm(s *sem.Info)   { noSeq(&s.Perm) }
func msgNorm(q *msgq.Info)  { noSeq(&q.Perm) }
func shmNorm(s *shm.Info)   { noSeq(&s.Perm); s.RSS, s.Swap = 0, 0 }
func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSemaphoreListing(t *testing.T) {
	w := openWindow()
	set, key := keyed(t, func(k ipc.Key) (*sem.Set, error) { return sem.Create(k, 3, 0o640) })
	mustNil(t, set.SetValue(2, 9))
	mustNil(t, set.Do(sem.Inc(1, 1, 0)))
	fresh, freshKey := keyed(t, func(k ipc.Key) (*sem.Set, error) { return sem.Create(k, 1, 0o600) }) // never operated on
	w.close()

	proc, syscalls := bothPaths(t, sem.List)
	for path, list := range map[string][]sem.Info{"proc": proc, "syscalls": syscalls} {
		s := find(t, list, set.ID(), semID)
		checkPerm(t, path, s.Perm, key, 0o640)
		if s.NSems != 3 || !w.has(s.OTime) || !w.has(s.CTime) {
			t.Errorf("%s: %+v; want 3 semaphores, otime and ctime in %v", path, s, w)
		}
		f := find(t, list, fresh.ID(), semID)
		checkPerm(t, path, f.Perm, freshKey, 0o600)
		if f.NSems != 1 || !f.OTime.IsZero() || !w.has(f.CTime) {
			t.Errorf("%s: fresh set %+v; want zero OTime", path, f)
		}
		if path == "syscalls" && s.Perm.Seq != uint16(set.ID()>>15) {
			t.Errorf("syscalls: Seq %d, want %d for id %d", s.Perm.Seq, set.ID()>>15, set.ID())
		}
	}
	samePaths(t, proc, syscalls, semID, semNorm)
	if st, err := set.Stat(); err != nil || st != find(t, syscalls, set.ID(), semID) {
		t.Errorf("Stat = %+v, %v; want the listing's record", st, err)
	}

	// States, with a goroutine waiting for an increase on semaphore 0 and
	// one waiting for zero on semaphore 1 (value 1).
	done := make(chan error, 2)
	go func() { done <- set.Do(sem.Dec(0, 1, 0)) }()
	go func() { done <- set.Do(sem.WaitZero(1, 0)) }()
	waitFor(t, func() bool {
		n, _ := set.WaitingForIncrease(0)
		z, _ := set.WaitingForZero(1)
		return n == 1 && z == 1
	})
	pid := os.Getpid()
	want := []sem.State{
		{Num: 0, Value: 0, NCount: 1, ZCount: 0, PID: 0},
		{Num: 1, Value: 1, NCount: 0, ZCount: 1, PID: pid},
		{Num: 2, Value: 9, NCount: 0, ZCount: 0, PID: pid}, // Linux sets sempid on SETVAL too
	}
	// A waiter leaves the kernel's queue for a moment whenever a signal
	// interrupts its semop (the runtime's preemption, a collection) and
	// the call is made again: the counts are read until they hold, within
	// a deadline, and only a lasting difference fails.
	var vals []sem.State
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		var err error
		if vals, err = find(t, proc, set.ID(), semID).States(); err != nil {
			t.Fatalf("States: %v", err)
		}
		if slices.Equal(vals, want) || time.Now().After(deadline) {
			break
		}
	}
	if !slices.Equal(vals, want) {
		t.Errorf("States() = %+v\nwant       %+v", vals, want)
	}
	// Let both waiters through: +1 on 0, -1 on 1.
	mustNil(t, set.Do(sem.Inc(0, 1, 0), sem.Dec(1, 1, 0)))
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("waiter: %v", err)
		}
	}
}

func TestQueueListing(t *testing.T) {
	w := openWindow()
	q, key := keyed(t, func(k ipc.Key) (*msgq.Queue, error) { return msgq.Create(k, 0o620) })
	for typ, n := range map[int64]int{1: 100, 2: 50, 3: 7} {
		mustNil(t, q.Send(typ, make([]byte, n), msgq.NoWait))
	}
	if _, n, err := q.Receive(make([]byte, 200), msgq.Type(1), msgq.NoWait); err != nil || n != 100 {
		t.Fatalf("received %d bytes, %v; want the first message's 100", n, err)
	}
	idle, idleKey := keyed(t, func(k ipc.Key) (*msgq.Queue, error) { return msgq.Create(k, 0o600) })
	w.close()

	proc, syscalls := bothPaths(t, msgq.List)
	st, err := q.Stat()
	mustNil(t, err)
	pid := os.Getpid()
	for path, list := range map[string][]msgq.Info{"proc": proc, "syscalls": syscalls} {
		i := find(t, list, q.ID(), msgID)
		checkPerm(t, path, i.Perm, key, 0o620)
		if i.QNum != 2 || i.CBytes != 57 || i.QBytes != st.QBytes || i.QBytes == 0 || i.LSPID != pid || i.LRPID != pid ||
			!w.has(i.STime) || !w.has(i.RTime) || !w.has(i.CTime) {
			t.Errorf("%s: %+v; want 2 messages, 57 bytes, qbytes %d, pids %d, times in %v", path, i, st.QBytes, pid, w)
		}
		d := find(t, list, idle.ID(), msgID)
		checkPerm(t, path, d.Perm, idleKey, 0o600)
		if d.QNum != 0 || d.CBytes != 0 || d.LSPID != 0 || d.LRPID != 0 || !d.STime.IsZero() || !d.RTime.IsZero() || !w.has(d.CTime) {
			t.Errorf("%s: idle queue %+v", path, d)
		}
	}
	samePaths(t, proc, syscalls, msgID, msgNorm)
	if st != find(t, syscalls, q.ID(), msgID) {
		t.Errorf("Stat = %+v; want the listing's record", st)
	}
}

func TestSegmentListing(t *testing.T) {
	page := os.Getpagesize()
	w := openWindow()
	seg, key := keyed(t, func(k ipc.Key) (*shm.Segment, error) { return shm.Create(k, 3*page+100, 0o600) })
	m, err := seg.Attach(0)
	mustNil(t, err)
	defer m.Detach()
	m.Bytes()[0], m.Bytes()[2*page] = 1, 1 // two pages resident

	// Marked for removal while attached: key cleared, still listed.
	dest, _ := keyed(t, func(k ipc.Key) (*shm.Segment, error) { return shm.Create(k, 1, 0o644) })
	dm, err := dest.Attach(0)
	mustNil(t, err)
	defer dm.Detach()
	mustNil(t, dest.Remove())
	// Attached and detached again.
	detached, _ := keyed(t, func(k ipc.Key) (*shm.Segment, error) { return shm.Create(k, 1, 0o600) })
	if dd, err := detached.Attach(0); err != nil {
		t.Fatal(err)
	} else {
		mustNil(t, dd.Detach())
	}
	// Locked, where allowed (root; CAP_IPC_LOCK).
	locked, _ := keyed(t, func(k ipc.Key) (*shm.Segment, error) { return shm.Create(k, page, 0o600) })
	canLock := true
	if err := locked.LockMemory(); err != nil {
		t.Logf("LockMemory: %v; not checking Locked", err)
		canLock = false
	} else {
		defer locked.UnlockMemory()
	}
	w.close()

	proc, syscalls := bothPaths(t, shm.List)
	pid := os.Getpid()
	for path, list := range map[string][]shm.Info{"proc": proc, "syscalls": syscalls} {
		s := find(t, list, seg.ID(), shmID)
		checkPerm(t, path, s.Perm, key, 0o600)
		if s.Size != 3*page+100 || s.NAttch != 1 || s.CPID != pid || s.LPID != pid ||
			!w.has(s.ATime) || !s.DTime.IsZero() || !w.has(s.CTime) || s.Removed || s.Locked || s.FullMode() != 0o600 {
			t.Errorf("%s: %+v", path, s)
		}
		if path == "proc" && s.RSS < uint64(2*page) {
			t.Errorf("proc: RSS %d, want at least the two pages touched", s.RSS)
		}
		d := find(t, list, dest.ID(), shmID)
		if d.Perm.Key != ipc.Private || !d.Removed || d.Locked || d.NAttch != 1 || d.Perm.Mode != 0o644 || d.FullMode() != 0o1644 {
			t.Errorf("%s: segment removed while attached: %+v, FullMode %#o; want key 0, Removed, mode 01644", path, d, d.FullMode())
		}
		dd := find(t, list, detached.ID(), shmID)
		if dd.NAttch != 0 || !w.has(dd.ATime) || !w.has(dd.DTime) || dd.LPID != pid {
			t.Errorf("%s: attached and detached: %+v", path, dd)
		}
		if canLock {
			l := find(t, list, locked.ID(), shmID)
			if !l.Locked || l.Removed || l.FullMode() != 0o2600 {
				t.Errorf("%s: locked segment %+v, FullMode %#o", path, l, l.FullMode())
			}
		}
	}
	samePaths(t, proc, syscalls, shmID, shmNorm)
	st, err := seg.Stat()
	if err != nil || st != find(t, syscalls, seg.ID(), shmID) {
		t.Errorf("Stat = %+v, %v; want the listing's record", st, err)
	}
}

// TestListingAsNobody: the listing sees every object whatever its mode, as
// ipcs does, on both paths; what needs read permission (the values of a
// set, a queue's qbytes) does not.
func TestListingAsNobody(t *testing.T) {
	set, _ := keyed(t, func(k ipc.Key) (*sem.Set, error) { return sem.Create(k, 2, 0o600) })
	q, _ := keyed(t, func(k ipc.Key) (*msgq.Queue, error) { return msgq.Create(k, 0o600) })
	seg, _ := keyed(t, func(k ipc.Key) (*shm.Segment, error) { return shm.Create(k, 1, 0o600) })

	st, err := q.Stat()
	mustNil(t, err)
	got := " " + run(t, "list") + " "
	// /proc has no qbytes, and List reads it with IPC_STAT, which nobody
	// may not; MSG_STAT_ANY shows it to anyone.
	qbytes := map[string]string{"proc": "0", "sys": strconv.FormatUint(st.QBytes, 10)}
	for _, path := range []string{"proc", "sys"} {
		for _, want := range []string{
			path + ":sem:" + strconv.Itoa(set.ID()),
			path + ":msg:" + strconv.Itoa(q.ID()) + ":qbytes=" + qbytes[path],
			path + ":shm:" + strconv.Itoa(seg.ID()),
		} {
			if !strings.Contains(got, " "+want+" ") {
				t.Errorf("nobody's listing %q lacks %s", got, want)
			}
		}
	}
	if out := run(t, "values", strconv.Itoa(set.ID())); out != "true|semctl(GETVAL)|true" {
		t.Errorf("States as nobody: %q; want EACCES from semctl(GETVAL) matching fs.ErrPermission", out)
	}
}

// run runs a role as nobody and returns its stdout.
func run(t *testing.T, args ...string) string {
	t.Helper()
	return ipctest.Output(t, true, args[0], args[1:]...)
}

func TestProcParseErrors(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"sem": "key semid perms nsems uid gid cuid cgid otime ctime\n 1 2 600 3 0 0 0 0 0\n", // short row
		"msg": "header\n 1 2 6x0 0 0 0 0 0 0 0 0 0 0 0\n",                                    // bad octal
		"shm": "header\n 99999999999 2 600 1 0 0 0 0 0 0 0 0 0 0 0 0\n",                      // key out of range
	} {
		mustNil(t, os.WriteFile(dir+"/"+name, []byte(body), 0o644))
	}
	old := ipcobj.ProcDir
	ipcobj.ProcDir = dir
	defer func() { ipcobj.ProcDir = old }()
	_, err1 := sem.List()
	_, err2 := msgq.List()
	_, err3 := shm.List()
	for i, err := range []error{err1, err2, err3} {
		var e *ipc.Error
		if !errors.As(err, &e) || e.ID != ipc.AllObjects || e.Op != "list" || !strings.Contains(err.Error(), dir) {
			t.Errorf("listing %d from a broken /proc: %v", i, err)
		}
	}
	// Old kernels' shm rows without rss and swap still parse.
	mustNil(t, os.WriteFile(dir+"/shm", []byte("h\n-1 5 1600 4096 10 11 1 0 0 0 0 0 0 1700000000\n"), 0o644))
	segs, err := shm.List()
	if err != nil || len(segs) != 1 || segs[0].Perm.Key != -1 || segs[0].ID != 5 || !segs[0].Removed || segs[0].Size != 4096 ||
		segs[0].CTime.Unix() != 1700000000 || !segs[0].ATime.IsZero() {
		t.Errorf("14-column shm row: %+v, %v", segs, err)
	}
}
