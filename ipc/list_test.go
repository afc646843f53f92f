package ipc

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// window is the span of seconds a kernel timestamp taken during the test
// must fall in.
type window struct{ from, to time.Time }

func openWindow() window { return window{from: time.Now().Truncate(time.Second)} }

func (w *window) close() { w.to = time.Now().Add(time.Second).Truncate(time.Second) }

func (w window) has(t time.Time) bool { return !t.IsZero() && !t.Before(w.from) && !t.After(w.to) }

func me() (uid, gid uint32) { return uint32(os.Geteuid()), uint32(os.Getegid()) }

func checkPerm(t *testing.T, what string, p Perm, key Key, mode Mode) {
	t.Helper()
	uid, gid := me()
	if p.Key != key || p.Mode != mode || p.UID != uid || p.GID != gid || p.CUID != uid || p.CGID != gid {
		t.Errorf("%s: Perm = %+v; want key %v mode %o owner and creator %d:%d", what, p, key, mode, uid, gid)
	}
}

func findSem(t *testing.T, list []SemaphoreSet, id int) SemaphoreSet {
	t.Helper()
	for _, s := range list {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("semaphore set %d not listed", id)
	return SemaphoreSet{}
}

func findQueue(t *testing.T, list []QueueInfo, id int) QueueInfo {
	t.Helper()
	for _, q := range list {
		if q.ID == id {
			return q
		}
	}
	t.Fatalf("queue %d not listed", id)
	return QueueInfo{}
}

func findSegment(t *testing.T, list []SegmentInfo, id int) SegmentInfo {
	t.Helper()
	for _, s := range list {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("segment %d not listed", id)
	return SegmentInfo{}
}

// bothPaths lists with /proc and with the system calls (a /proc directory
// that does not exist forces the fallback, as on a system without /proc).
func bothPaths[T any](t *testing.T, list func(dir string) ([]T, error)) (proc, syscalls []T) {
	t.Helper()
	proc, err := list(procSysvipc)
	if err != nil {
		t.Fatalf("listing from /proc: %v", err)
	}
	syscalls, err = list(t.TempDir() + "/none")
	if err != nil {
		t.Fatalf("listing from the system calls: %v", err)
	}
	return proc, syscalls
}

func TestSemaphoreListing(t *testing.T) {
	w := openWindow()
	id, key := newSemSet(t, 3, 0o640)
	if _, e := sys.SemctlInt(id, 2, sys.SETVAL, 9); e != 0 {
		t.Fatal(e)
	}
	if e := sys.Semop(id, []sys.Sembuf{{Num: 1, Op: 1}}); e != 0 {
		t.Fatal(e)
	}
	fresh, freshKey := newSemSet(t, 1, 0o600) // never operated on
	w.close()

	proc, syscalls := bothPaths(t, listSemaphores)
	for path, list := range map[string][]SemaphoreSet{"proc": proc, "syscalls": syscalls} {
		s := findSem(t, list, id)
		checkPerm(t, path, s.Perm, key, 0o640)
		if s.Nsems != 3 || !w.has(s.OTime) || !w.has(s.CTime) {
			t.Errorf("%s: %+v; want 3 semaphores, otime and ctime in %v", path, s, w)
		}
		f := findSem(t, list, fresh)
		checkPerm(t, path, f.Perm, freshKey, 0o600)
		if f.Nsems != 1 || !f.OTime.IsZero() || !w.has(f.CTime) {
			t.Errorf("%s: fresh set %+v; want zero OTime", path, f)
		}
		if path == "syscalls" && s.Perm.Seq != uint16(id>>15) {
			t.Errorf("syscalls: Seq %d, want %d for id %d", s.Perm.Seq, id>>15, id)
		}
	}
	samePaths(t, proc, syscalls, func(s SemaphoreSet) int { return s.ID }, func(s *SemaphoreSet) { s.Perm.Seq = 0 })

	byID, err := SemaphoreSetByID(id)
	if err != nil || byID != findSem(t, proc, id) {
		t.Errorf("SemaphoreSetByID(%d) = %+v, %v", id, byID, err)
	}

	// Values, with a process waiting for an increase on semaphore 0 and one
	// waiting for zero on semaphore 1 (value 1).
	done := make(chan unix.Errno, 2)
	go func() { done <- semopRetry(id, sys.Sembuf{Num: 0, Op: -1}) }()
	go func() { done <- semopRetry(id, sys.Sembuf{Num: 1, Op: 0}) }()
	waitFor(t, func() bool {
		n, _ := sys.SemctlInt(id, 0, sys.GETNCNT, 0)
		z, _ := sys.SemctlInt(id, 1, sys.GETZCNT, 0)
		return n == 1 && z == 1
	})
	vals, err := byID.Values()
	if err != nil {
		t.Fatalf("Values: %v", err)
	}
	pid := os.Getpid()
	want := []SemaphoreValue{
		{Num: 0, Value: 0, NCount: 1, ZCount: 0, PID: 0},
		{Num: 1, Value: 1, NCount: 0, ZCount: 1, PID: pid},
		{Num: 2, Value: 9, NCount: 0, ZCount: 0, PID: pid}, // Linux sets sempid on SETVAL too
	}
	if !slices.Equal(vals, want) {
		t.Errorf("Values() = %+v\nwant       %+v", vals, want)
	}
	// Let both waiters through: +1 on 0, -1 on 1.
	if e := sys.Semop(id, []sys.Sembuf{{Num: 0, Op: 1}, {Num: 1, Op: -1}}); e != 0 {
		t.Fatal(e)
	}
	for range 2 {
		if e := <-done; e != 0 {
			t.Errorf("waiter: %v", e)
		}
	}

	if _, err := SemaphoreSetByID(fresh + 1<<20); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SemaphoreSetByID of a free id = %v, want fs.ErrNotExist", err)
	}
}

func semopRetry(id int, op sys.Sembuf) unix.Errno {
	for {
		if e := sys.Semop(id, []sys.Sembuf{op}); e != unix.EINTR {
			return e
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(time.Millisecond)
	}
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

func TestQueueListing(t *testing.T) {
	w := openWindow()
	id, key := newQueue(t, 0o620)
	sendMsg(t, id, 1, 100)
	sendMsg(t, id, 2, 50)
	sendMsg(t, id, 3, 7)
	if n := recvMsg(t, id); n != 100 {
		t.Fatalf("received %d bytes, want the first message's 100", n)
	}
	idle, idleKey := newQueue(t, 0o600)
	w.close()

	proc, syscalls := bothPaths(t, listQueues)
	var ds sys.MsqidDS
	if _, e := sys.MsgctlDS(id, unix.IPC_STAT, &ds); e != 0 {
		t.Fatal(e)
	}
	pid := os.Getpid()
	for path, list := range map[string][]QueueInfo{"proc": proc, "syscalls": syscalls} {
		q := findQueue(t, list, id)
		checkPerm(t, path, q.Perm, key, 0o620)
		if q.Qnum != 2 || q.Cbytes != 57 || q.Qbytes != ds.Qbytes || q.Qbytes == 0 || q.LSPID != pid || q.LRPID != pid ||
			!w.has(q.STime) || !w.has(q.RTime) || !w.has(q.CTime) {
			t.Errorf("%s: %+v; want 2 messages, 57 bytes, qbytes %d, pids %d, times in %v", path, q, ds.Qbytes, pid, w)
		}
		i := findQueue(t, list, idle)
		checkPerm(t, path, i.Perm, idleKey, 0o600)
		if i.Qnum != 0 || i.Cbytes != 0 || i.LSPID != 0 || i.LRPID != 0 || !i.STime.IsZero() || !i.RTime.IsZero() || !w.has(i.CTime) {
			t.Errorf("%s: idle queue %+v", path, i)
		}
	}
	samePaths(t, proc, syscalls, func(q QueueInfo) int { return q.ID }, func(q *QueueInfo) { q.Perm.Seq = 0 })

	byID, err := QueueByID(id)
	if err != nil || byID != findQueue(t, proc, id) {
		t.Errorf("QueueByID(%d) = %+v, %v", id, byID, err)
	}
	if _, err := QueueByID(-1); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("QueueByID(-1) = %v, want fs.ErrNotExist", err)
	}
}

func TestSegmentListing(t *testing.T) {
	page := os.Getpagesize()
	w := openWindow()
	id, key := newSegment(t, 3*page+100, 0o600)
	mem, err := unix.SysvShmAttach(id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.SysvShmDetach(mem)
	mem[0], mem[2*page] = 1, 1 // two pages resident

	// Marked for removal while attached: key cleared, still listed.
	dest, _ := newSegment(t, 1, 0o644)
	dmem, err := unix.SysvShmAttach(dest, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.SysvShmDetach(dmem)
	if err := Remove(Segment, dest); err != nil {
		t.Fatal(err)
	}
	// Attached and detached again.
	detached, _ := newSegment(t, 1, 0o600)
	if m, err := unix.SysvShmAttach(detached, 0, 0); err != nil {
		t.Fatal(err)
	} else if err := unix.SysvShmDetach(m); err != nil {
		t.Fatal(err)
	}
	// Locked, where allowed (root; CAP_IPC_LOCK).
	locked, _ := newSegment(t, page, 0o600)
	canLock := true
	if _, err := unix.SysvShmCtl(locked, sys.SHM_LOCK, nil); err != nil {
		t.Logf("SHM_LOCK: %v; not checking Locked", err)
		canLock = false
	} else {
		defer unix.SysvShmCtl(locked, sys.SHM_UNLOCK, nil)
	}
	w.close()

	proc, syscalls := bothPaths(t, listSegments)
	pid := os.Getpid()
	for path, list := range map[string][]SegmentInfo{"proc": proc, "syscalls": syscalls} {
		s := findSegment(t, list, id)
		checkPerm(t, path, s.Perm, key, 0o600)
		if s.Size != uint64(3*page+100) || s.Nattch != 1 || s.CPID != pid || s.LPID != pid ||
			!w.has(s.ATime) || !s.DTime.IsZero() || !w.has(s.CTime) || s.Dest || s.Locked || s.FullMode() != 0o600 {
			t.Errorf("%s: %+v", path, s)
		}
		if path == "proc" && s.RSS < uint64(2*page) {
			t.Errorf("proc: RSS %d, want at least the two pages touched", s.RSS)
		}
		d := findSegment(t, list, dest)
		if d.Perm.Key != Private || !d.Dest || d.Locked || d.Nattch != 1 || d.Perm.Mode != 0o644 || d.FullMode() != 0o1644 {
			t.Errorf("%s: segment removed while attached: %+v, FullMode %#o; want key 0, Dest, mode 01644", path, d, d.FullMode())
		}
		dd := findSegment(t, list, detached)
		if dd.Nattch != 0 || !w.has(dd.ATime) || !w.has(dd.DTime) || dd.LPID != pid {
			t.Errorf("%s: attached and detached: %+v", path, dd)
		}
		if canLock {
			l := findSegment(t, list, locked)
			if !l.Locked || l.Dest || l.FullMode() != 0o2600 {
				t.Errorf("%s: locked segment %+v, FullMode %#o", path, l, l.FullMode())
			}
		}
	}
	samePaths(t, proc, syscalls, func(s SegmentInfo) int { return s.ID },
		func(s *SegmentInfo) { s.Perm.Seq, s.RSS, s.Swap = 0, 0, 0 })

	byID, err := SegmentByID(dest)
	if err != nil || byID != findSegment(t, proc, dest) {
		t.Errorf("SegmentByID(%d) = %+v, %v", dest, byID, err)
	}
	var e *Error
	if _, err := SegmentByID(1 << 30); !errors.As(err, &e) || e.ID != 1<<30 || e.Kind != Segment || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SegmentByID of a free id = %v", err)
	}
}

// TestListingAsNobody: the listing sees every object whatever its mode, as
// ipcs does, on both paths; what needs read permission (the values of a
// set, a queue's qbytes, ipcrm -a's walk) does not.
func TestListingAsNobody(t *testing.T) {
	sem, _ := newSemSet(t, 2, 0o600)
	q, _ := newQueue(t, 0o600)
	seg, _ := newSegment(t, 1, 0o600)
	readableSeg, _ := newSegment(t, 1, 0o644)

	got := " " + runOp(t, true, "list", kindArg(Segment)) + " "
	t.Logf("nobody lists:%s", got)
	for _, want := range []string{
		"sem" + strconv.Itoa(sem), "semsys" + strconv.Itoa(sem),
		"msg" + strconv.Itoa(q), "msgsys" + strconv.Itoa(q),
		"shm" + strconv.Itoa(seg), "shmsys" + strconv.Itoa(seg),
		"readable" + strconv.Itoa(readableSeg),
	} {
		if !strings.Contains(got, " "+want+" ") {
			t.Errorf("nobody's listing %q lacks %s", got, want)
		}
	}
	if strings.Contains(got, " readable"+strconv.Itoa(seg)+" ") {
		t.Errorf("ReadableIDs as nobody includes root's 0600 segment %d: %q", seg, got)
	}

	out := runOp(t, true, "values", kindArg(Semaphore), strconv.Itoa(sem))
	if !strings.HasPrefix(out, "err|13|semctl(GETVAL)|"+strconv.Itoa(sem)+"|") || !strings.Contains(out, "|true|") {
		t.Errorf("Values as nobody: %q; want EACCES from semctl(GETVAL) matching fs.ErrPermission", out)
	}
	if out := runOp(t, true, "qbytes", kindArg(Queue), strconv.Itoa(q)); out != "qbytes 0" {
		t.Errorf("QueueByID as nobody: %q; want qbytes 0, as ipcs shows it", out)
	}
}

func TestReadableIDs(t *testing.T) {
	sem, _ := newSemSet(t, 1, 0o600)
	q, _ := newQueue(t, 0o600)
	seg, _ := newSegment(t, 1, 0o600)
	for kind, id := range map[Kind]int{Semaphore: sem, Queue: q, Segment: seg} {
		ids, err := ReadableIDs(kind)
		if err != nil || !slices.Contains(ids, id) {
			t.Errorf("ReadableIDs(%v) = %v, %v; want it to contain %d", kind, ids, err, id)
		}
	}
	if _, err := ReadableIDs(Kind(9)); !errors.Is(err, unix.EINVAL) {
		t.Errorf("ReadableIDs of a bad kind = %v", err)
	}
}

func TestProcParseErrors(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"sem": "key semid perms nsems uid gid cuid cgid otime ctime\n 1 2 600 3 0 0 0 0 0\n", // short row
		"msg": "header\n 1 2 6x0 0 0 0 0 0 0 0 0 0 0 0\n",                                    // bad octal
		"shm": "header\n 99999999999 2 600 1 0 0 0 0 0 0 0 0 0 0 0 0\n",                      // key out of range
	} {
		if err := os.WriteFile(dir+"/"+name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err1 := listSemaphores(dir)
	_, err2 := listQueues(dir)
	_, err3 := listSegments(dir)
	for i, err := range []error{err1, err2, err3} {
		var e *Error
		if !errors.As(err, &e) || e.ID != AllObjects || e.Op != "list" || !strings.Contains(err.Error(), dir) {
			t.Errorf("listing %d from a broken /proc: %v", i, err)
		}
	}
	// Old kernels' shm rows without rss and swap still parse.
	if err := os.WriteFile(dir+"/shm", []byte("h\n-1 5 1600 4096 10 11 1 0 0 0 0 0 0 1700000000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	segs, err := listSegments(dir)
	if err != nil || len(segs) != 1 || segs[0].Perm.Key != -1 || segs[0].ID != 5 || !segs[0].Dest || segs[0].Size != 4096 ||
		segs[0].CTime.Unix() != 1700000000 || !segs[0].ATime.IsZero() {
		t.Errorf("14-column shm row: %+v, %v", segs, err)
	}
}
