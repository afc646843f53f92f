package shm

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc"
	"golang.org/x/sys/unix"
)

func TestCreateIsZeroFilledAndShared(t *testing.T) {
	s := newSegment(t, 5000, 0o600)
	if s.Size() != 5000 {
		t.Errorf("Size = %d, want 5000 (the kernel keeps the size asked, not pages)", s.Size())
	}
	if !s.Created() {
		t.Error("Created = false for Create")
	}
	a, b := attach(t, s, 0), attach(t, s, 0)
	if a.Len() != 5000 || len(a.Bytes()) != 5000 {
		t.Fatalf("Len %d, len(Bytes) %d, want 5000", a.Len(), len(a.Bytes()))
	}
	if !bytes.Equal(a.Bytes(), make([]byte, 5000)) {
		t.Error("a new segment is not zero-filled")
	}
	// Two attachments are two addresses for the same memory.
	if _, err := a.WriteAt([]byte("hello"), 4990); err != nil {
		t.Fatal(err)
	}
	if got := string(b.Bytes()[4990:4995]); got != "hello" {
		t.Errorf("second attachment reads %q, want hello", got)
	}
	if &a.Bytes()[0] == &b.Bytes()[0] {
		t.Error("two attachments share an address")
	}
	if a.ID() != s.ID() || a.ReadOnly() {
		t.Errorf("ID %d ReadOnly %t, want %d false", a.ID(), a.ReadOnly(), s.ID())
	}
}

func TestOpenByKey(t *testing.T) {
	s := newKeyed(t, 8192, 0o640)
	o, err := Open(s.Key())
	if err != nil {
		t.Fatal(err)
	}
	if o.ID() != s.ID() || o.Size() != 8192 || o.Key() != s.Key() || o.Created() {
		t.Errorf("Open: id %d size %d key %v created %t, want %d 8192 %v false", o.ID(), o.Size(), o.Key(), o.Created(), s.ID(), s.Key())
	}
	// A smaller size opens it too, and Size is still the segment's.
	g, err := Get(s.Key(), 100, 0, 0o400)
	if err != nil {
		t.Fatal(err)
	}
	if g.Size() != 8192 {
		t.Errorf("Get with size 100: Size %d, want the segment's 8192", g.Size())
	}
}

func TestFromID(t *testing.T) {
	s := newKeyed(t, 3000, 0o600)
	f, err := FromID(s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if f.Size() != 3000 || f.Key() != s.Key() {
		t.Errorf("FromID: size %d key %v, want 3000 %v", f.Size(), f.Key(), s.Key())
	}
	// nobody may not read the record, but the segment exists: FromID
	// still works and learns the size from /proc.
	got := runOp(t, true, "fromid", strconv.Itoa(s.ID()))
	if want := "ok 3000 " + s.Key().String(); got != want {
		t.Errorf("FromID as nobody: %q, want %q", got, want)
	}
	e := wantErrno(t, func() error { _, err := FromID(-1); return err }(), unix.EINVAL)
	if e.Detail == "" {
		t.Error("FromID(-1) says nothing about the negative id")
	}
	// shmctl EINVAL: no segment has this id.
	_, err = FromID(1<<31 - 1)
	wantErrno(t, err, unix.EINVAL)
}

func TestOpenOrCreate(t *testing.T) {
	k := freshKey(t)
	a, err := OpenOrCreate(k, 4096, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Remove() })
	b, err := OpenOrCreate(k, 4096, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Created() || b.Created() || a.ID() != b.ID() {
		t.Errorf("created %t, %t; ids %d, %d: want true, false, equal", a.Created(), b.Created(), a.ID(), b.ID())
	}
	// An existing segment must be big enough.
	_, err = OpenOrCreate(k, 4097, 0o600)
	if e := wantErrno(t, err, unix.EINVAL); !strings.Contains(e.Detail, "4096") {
		t.Errorf("detail %q does not give the existing size", e.Detail)
	}

	// Many at once: exactly one creates.
	k2 := freshKey(t)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
		ids     = map[int]bool{}
	)
	for range 8 {
		wg.Go(func() {
			s, err := OpenOrCreate(k2, 100, 0o600)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			ids[s.ID()] = true
			if s.Created() {
				created++
			}
		})
	}
	wg.Wait()
	for id := range ids {
		(&Segment{id: id, made: true}).Remove()
	}
	if created != 1 || len(ids) != 1 {
		t.Errorf("%d creators and %d ids, want 1 and 1", created, len(ids))
	}
}

func TestStat(t *testing.T) {
	before := time.Now().Add(-time.Second)
	s := newKeyed(t, 10000, 0o640)
	info := stat(t, s)
	if info.Size != 10000 || info.NAttch != 0 || info.CPID != os.Getpid() || info.LPID != 0 {
		t.Errorf("fresh: size %d nattch %d cpid %d lpid %d, want 10000 0 %d 0", info.Size, info.NAttch, info.CPID, info.LPID, os.Getpid())
	}
	if !info.ATime.IsZero() || !info.DTime.IsZero() || info.CTime.Before(before) || info.CTime.After(time.Now()) {
		t.Errorf("fresh times: %v %v %v", info.ATime, info.DTime, info.CTime)
	}
	p := info.Perm
	if p.Key != s.Key() || p.Mode != 0o640 || p.UID != uint32(os.Geteuid()) || p.CUID != uint32(os.Geteuid()) || p.GID != uint32(os.Getegid()) {
		t.Errorf("perm %+v", p)
	}
	if info.Removed || info.Locked {
		t.Errorf("removed %t locked %t", info.Removed, info.Locked)
	}

	m := attach(t, s, 0)
	info = stat(t, s)
	if info.NAttch != 1 || info.LPID != os.Getpid() || info.ATime.IsZero() || !info.DTime.IsZero() {
		t.Errorf("attached: nattch %d lpid %d atime %v dtime %v", info.NAttch, info.LPID, info.ATime, info.DTime)
	}
	if err := m.Detach(); err != nil {
		t.Fatal(err)
	}
	if info = stat(t, s); info.NAttch != 0 || info.DTime.IsZero() {
		t.Errorf("detached: nattch %d dtime %v", info.NAttch, info.DTime)
	}
}

// The attach count follows attachments in other processes (LTP shmctl01).
func TestNAttchAcrossProcesses(t *testing.T) {
	s := newSegment(t, 4096, 0o600)
	attach(t, s, 0)
	var hs []*holder
	for i := range 3 {
		h := startHolder(t, s.ID())
		hs = append(hs, h)
		info := stat(t, s)
		if info.NAttch != i+2 || info.LPID != h.cmd.Process.Pid {
			t.Errorf("after %d children: nattch %d lpid %d, want %d %d", i+1, info.NAttch, info.LPID, i+2, h.cmd.Process.Pid)
		}
	}
	for i, h := range hs {
		h.release(t)
		info := stat(t, s)
		if info.NAttch != 3-i || info.LPID != h.cmd.Process.Pid {
			t.Errorf("after %d detached: nattch %d lpid %d, want %d %d", i+1, info.NAttch, info.LPID, 3-i, h.cmd.Process.Pid)
		}
	}
}

// A removed segment lives on while attached, without its key, and goes
// with its last attachment.
func TestRemoveWhileAttached(t *testing.T) {
	s := newKeyed(t, 4096, 0o600)
	m := attach(t, s, 0)
	h := startHolder(t, s.ID())
	if _, err := m.WriteAt([]byte("still here"), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(); err != nil {
		t.Fatal(err)
	}
	info := stat(t, s)
	if !info.Removed || info.Perm.Key != ipc.Private || info.NAttch != 2 {
		t.Errorf("removed: Removed %t key %v nattch %d, want true private 2", info.Removed, info.Perm.Key, info.NAttch)
	}
	// Removing again is no error while it lives.
	if err := s.Remove(); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	// The key no longer finds it, and is free for a new segment.
	_, err := Open(s.Key())
	wantErrno(t, err, unix.ENOENT)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%v does not match fs.ErrNotExist", err)
	}
	n, err := Create(s.Key(), 100, 0o600)
	if err != nil {
		t.Fatalf("the key of a removed segment is not free: %v", err)
	}
	n.Remove()
	// Linux lets a removed segment be attached by id while it lives.
	m2, err := s.Attach(ReadOnly)
	if err != nil {
		t.Fatalf("attach a removed, attached segment: %v", err)
	}
	if got := string(m2.Bytes()[:10]); got != "still here" {
		t.Errorf("contents %q", got)
	}
	m2.Detach()
	m.Detach()
	h.release(t)
	// The last detach destroyed it: the id is gone (shmctl and shmat EINVAL).
	_, err = s.Stat()
	wantErrno(t, err, unix.EINVAL)
	_, err = s.Attach(0)
	wantErrno(t, err, unix.EINVAL)
}

func TestRemoveUnattachedDestroysAtOnce(t *testing.T) {
	s := newSegment(t, 100, 0o600)
	if err := s.Remove(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Stat()
	wantErrno(t, err, unix.EINVAL) // LTP shmctl02: already-removed id
	_, err = s.Attach(0)
	wantErrno(t, err, unix.EINVAL) // LTP shmat02: invalid id
	wantErrno(t, s.Remove(), unix.EINVAL)
}

func TestSetModeAndOwner(t *testing.T) {
	s := newSegment(t, 100, 0o600)
	ctime := stat(t, s).CTime
	time.Sleep(1100*time.Millisecond - time.Duration(time.Now().Nanosecond()%1e9)) // next second
	if err := s.SetMode(0o640); err != nil {
		t.Fatal(err)
	}
	info := stat(t, s)
	if info.Perm.Mode != 0o640 || info.Perm.UID != uint32(os.Geteuid()) {
		t.Errorf("after SetMode: mode %v uid %d", info.Perm.Mode, info.Perm.UID)
	}
	if !info.CTime.After(ctime) {
		t.Errorf("ctime %v not after %v (LTP shmctl08)", info.CTime, ctime)
	}
	wantErrno(t, s.SetMode(0o700), unix.EINVAL)

	if os.Geteuid() != 0 {
		t.Skip("giving a segment away needs root")
	}
	if err := s.SetOwner(ipctest.Nobody, ipctest.Nobody); err != nil {
		t.Fatal(err)
	}
	info = stat(t, s)
	if info.Perm.UID != ipctest.Nobody || info.Perm.GID != ipctest.Nobody || info.Perm.Mode != 0o640 || info.Perm.CUID != 0 {
		t.Errorf("after SetOwner: %+v", info.Perm)
	}
	// The new owner may change a segment it may not even read: mode 0
	// makes IPC_STAT fail, and SetMode reads the current record from /proc.
	if err := s.SetMode(0); err != nil {
		t.Fatal(err)
	}
	wantReport(t, runOp(t, true, "setmode", strconv.Itoa(s.ID())), 0)
	if info = stat(t, s); info.Perm.Mode != 0o600 || info.Perm.UID != ipctest.Nobody {
		t.Errorf("nobody's SetMode: mode %v uid %d, want 0600 nobody", info.Perm.Mode, info.Perm.UID)
	}
}

func TestLockMemory(t *testing.T) {
	s := newSegment(t, 1<<16, 0o600)
	if err := s.LockMemory(); errors.Is(err, fs.ErrPermission) {
		t.Skip("no CAP_IPC_LOCK:", err)
	} else if err != nil {
		t.Fatal(err)
	}
	if !stat(t, s).Locked {
		t.Error("Locked = false after LockMemory (LTP shmctl07)")
	}
	if err := s.UnlockMemory(); err != nil {
		t.Fatal(err)
	}
	if stat(t, s).Locked {
		t.Error("Locked = true after UnlockMemory")
	}
}

func TestNoReserve(t *testing.T) {
	s, err := Get(ipc.Private, 1<<20, ipc.Create|NoReserve, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Remove() })
	m := attach(t, s, 0)
	if _, err := m.WriteAt([]byte{1}, 1<<20-1); err != nil {
		t.Fatal(err)
	}
}

// ---- shmget errnos (LTP shmget02, shmget03, shmget04) ----

func TestGetENOENT(t *testing.T) {
	k := freshKey(t)
	_, err := Open(k)
	wantErrno(t, err, unix.ENOENT)
	_, err = Get(k, 100, ipc.Exclusive, 0o600) // IPC_EXCL alone does not create
	wantErrno(t, err, unix.ENOENT)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%v does not match fs.ErrNotExist", err)
	}
}

func TestGetEEXIST(t *testing.T) {
	s := newKeyed(t, 100, 0o600)
	_, err := Create(s.Key(), 100, 0o600)
	wantErrno(t, err, unix.EEXIST)
	if !errors.Is(err, fs.ErrExist) {
		t.Errorf("%v does not match fs.ErrExist", err)
	}
	want := "shm: create segment with key " + s.Key().String() + ": already exists"
	if err.Error() != want {
		t.Errorf("error text %q, want %q", err, want)
	}
}

func TestGetEINVALBelowSHMMIN(t *testing.T) {
	_, err := Create(ipc.Private, 0, 0o600)
	if e := wantErrno(t, err, unix.EINVAL); !strings.Contains(e.Detail, "SHMMIN") {
		t.Errorf("detail %q", e.Detail)
	}
}

func TestGetEINVALAboveSHMMAX(t *testing.T) {
	withSysctl(t, "shmmax", "8192")
	s := newSegment(t, 8192, 0o600) // at the limit: fine
	_ = s
	_, err := Create(ipc.Private, 8193, 0o600)
	if e := wantErrno(t, err, unix.EINVAL); !strings.Contains(e.Detail, "shmmax 8192") {
		t.Errorf("detail %q", e.Detail)
	}
}

func TestGetEINVALLargerThanExisting(t *testing.T) {
	s := newKeyed(t, 4096, 0o600)
	_, err := Get(s.Key(), 4097, 0, 0o600)
	if e := wantErrno(t, err, unix.EINVAL); !strings.Contains(e.Detail, "only 4096 bytes") {
		t.Errorf("detail %q", e.Detail)
	}
}

func TestGetENOSPC(t *testing.T) {
	n := len(ipcSegments(t))
	withSysctl(t, "shmmni", strconv.Itoa(n+1))
	newSegment(t, 100, 0o600)
	_, err := Create(ipc.Private, 100, 0o600)
	wantErrno(t, err, unix.ENOSPC)
}

func ipcSegments(t *testing.T) []Info {
	segs, err := List()
	if err != nil {
		t.Fatal(err)
	}
	return segs
}

func TestGetEACCES(t *testing.T) {
	s := newKeyed(t, 100, 0o600)
	k := s.Key().String()
	wantReport(t, runOp(t, true, "get", k, "0400"), unix.EACCES)
	wantReport(t, runOp(t, true, "get", k, "0200"), unix.EACCES)
	wantReport(t, runOp(t, true, "get", k, "0600"), unix.EACCES)
	// Asking for no access opens it (as ipcrm does).
	wantReport(t, runOp(t, true, "get", k, "0"), 0)
	// Others' read bit lets nobody open it for reading, not writing.
	if err := s.SetMode(0o604); err != nil {
		t.Fatal(err)
	}
	wantReport(t, runOp(t, true, "get", k, "0400"), 0)
	wantReport(t, runOp(t, true, "get", k, "0600"), unix.EACCES)
}

func TestHugeTLB(t *testing.T) {
	// Privileged, the pool decides: with no huge pages reserved, ENOMEM.
	s, err := Get(ipc.Private, 2<<20, ipc.Create|HugeTLB, 0o600)
	if err == nil {
		s.Remove()
		t.Log("huge pages are reserved here; creating worked")
	} else if os.Geteuid() == 0 {
		if e := wantErrno(t, err, unix.ENOMEM); !strings.Contains(e.Detail, "huge pages") {
			t.Errorf("detail %q", e.Detail)
		}
	}
	// Unprivileged and not in hugetlb_shm_group: EPERM (LTP shmget02).
	wantReport(t, runOp(t, true, "hugetlb"), unix.EPERM)
}

func TestGetBadArguments(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
	}{
		{"negative size", func() error { _, err := Create(ipc.Private, -1, 0o600); return err }()},
		{"execute bit", func() error { _, err := Create(ipc.Private, 1, 0o700); return err }()},
		{"bad flags", func() error { _, err := Get(ipc.Private, 1, 0o100000, 0o600); return err }()},
		{"bad attach flag", func() error { _, err := newSegment(t, 1, 0o600).Attach(Flags(1)); return err }()},
		{"round without address", func() error { _, err := newSegment(t, 1, 0o600).Attach(Round); return err }()},
		{"open private", func() error { _, err := Open(ipc.Private); return err }()},
	} {
		if e := wantErrno(t, c.err, unix.EINVAL); e.Detail == "" {
			t.Errorf("%s: %v says nothing more than the errno", c.name, c.err)
		}
	}
}

// ---- shmat errnos (LTP shmat02) ----

func TestAttachEINVALBadID(t *testing.T) {
	_, err := (&Segment{id: 1<<31 - 1, made: true}).Attach(0)
	e := wantErrno(t, err, unix.EINVAL)
	if e.Call != "shmat" || e.ID != 1<<31-1 {
		t.Errorf("call %q id %d", e.Call, e.ID)
	}
	_, err = newSegment(t, 100, 0o600).AttachAt(1, 0)
	wantErrno(t, err, unix.EINVAL)
}

func TestAttachEACCES(t *testing.T) {
	s := newSegment(t, 100, 0o400)
	id := strconv.Itoa(s.ID())
	wantReport(t, runOp(t, true, "attach", id), unix.EACCES)
	wantReport(t, runOp(t, true, "attach-ro", id), unix.EACCES)
	// Read for others: nobody may attach read-only, not read-write.
	if err := s.SetMode(0o404); err != nil {
		t.Fatal(err)
	}
	wantReport(t, runOp(t, true, "attach", id), unix.EACCES)
	wantReport(t, runOp(t, true, "attach-ro", id), 0)
}

// ---- shmctl errnos (LTP shmctl02) ----

func TestCtlEACCESAndEPERM(t *testing.T) {
	s := newSegment(t, 100, 0o600)
	id := strconv.Itoa(s.ID())
	wantReport(t, runOp(t, true, "stat", id), unix.EACCES)
	for _, op := range []string{"remove", "setmode", "setowner", "lock", "unlock"} {
		got := runOp(t, true, op, id)
		wantReport(t, got, unix.EPERM)
		if !strings.Contains(got, "operation not permitted") {
			t.Errorf("%s: %q", op, got)
		}
	}
	if _, err := s.Stat(); err != nil {
		t.Errorf("the segment did not survive nobody: %v", err)
	}
}

func TestCtlEINVAL(t *testing.T) {
	bad := &Segment{id: 1<<31 - 1, made: true}
	_, err := bad.Stat()
	wantErrno(t, err, unix.EINVAL)
	wantErrno(t, bad.SetMode(0o600), unix.EINVAL)
	wantErrno(t, bad.SetOwner(0, 0), unix.EINVAL)
	wantErrno(t, bad.Remove(), unix.EINVAL)
	wantErrno(t, bad.LockMemory(), unix.EINVAL)
	wantErrno(t, bad.UnlockMemory(), unix.EINVAL)
}
