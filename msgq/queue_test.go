package msgq_test

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/msgq"
	"golang.org/x/sys/unix"
)

// checkErr fails unless err is an *ipc.Error from this package with errno
// want (and, if detail is not empty, a Detail containing it).
func checkErr(t *testing.T, err error, want unix.Errno, detail string) *ipc.Error {
	t.Helper()
	var e *ipc.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *ipc.Error", err, err)
	}
	if e.Pkg != "msgq" || e.Kind != ipc.Queue {
		t.Errorf("error %q: Pkg %q Kind %v", err, e.Pkg, e.Kind)
	}
	if want != 0 && !errors.Is(err, want) {
		t.Errorf("error %q: want errno %v", err, unix.ErrnoName(want))
	}
	if !strings.Contains(e.Detail, detail) {
		t.Errorf("error %q: detail %q does not say %q", err, e.Detail, detail)
	}
	return e
}

func TestCreateOpenRemove(t *testing.T) {
	q, key := newKeyedQueue(t, 0o640)
	for name, get := range map[string]func() (*msgq.Queue, error){
		"Open":         func() (*msgq.Queue, error) { return msgq.Open(key) },
		"OpenOrCreate": func() (*msgq.Queue, error) { return msgq.OpenOrCreate(key, 0o600) },
		"Get":          func() (*msgq.Queue, error) { return msgq.Get(key, 0, 0o600) },
		"Get(Create)":  func() (*msgq.Queue, error) { return msgq.Get(key, ipc.Create, 0o600) },
		"FromID":       func() (*msgq.Queue, error) { return msgq.FromID(q.ID()) },
	} {
		q2, err := get()
		if err != nil || q2.ID() != q.ID() {
			t.Errorf("%s = %v, %v; want queue %d", name, q2, err, q.ID())
		}
	}
	info, err := q.Stat()
	if err != nil || info.Perm.Key != key || info.Perm.Mode != 0o640 {
		t.Errorf("Stat = %+v, %v; want key %v mode 0640 (OpenOrCreate must not change it)", info, err, key)
	}
	if err := q.Remove(); err != nil {
		t.Fatal(err)
	}
	// LTP msgctl03: the id is gone.
	_, err = q.Stat()
	checkErr(t, err, unix.EINVAL, "no queue with this id")
	checkErr(t, q.Remove(), unix.EINVAL, "no queue with this id")
	_, err = msgq.Open(key)
	if e := checkErr(t, err, unix.ENOENT, ""); e.Key != key || e.ID != -1 || e.Call != "msgget" {
		t.Errorf("error %q: key %v id %d call %q", err, e.Key, e.ID, e.Call)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%v should match fs.ErrNotExist", err)
	}
}

// LTP msgget02: EEXIST.
func TestCreateExisting(t *testing.T) {
	_, key := newKeyedQueue(t, 0o600)
	_, err := msgq.Create(key, 0o600)
	checkErr(t, err, unix.EEXIST, "")
	if !errors.Is(err, fs.ErrExist) {
		t.Errorf("%v should match fs.ErrExist", err)
	}
	if want := "msgq: create queue with key " + key.String() + ": already exists"; err.Error() != want {
		t.Errorf("error text %q, want %q", err, want)
	}
}

// LTP msgget02: ENOENT with no flags and with IPC_EXCL alone.
func TestOpenMissing(t *testing.T) {
	key := unusedKey(t)
	_, err := msgq.Open(key)
	checkErr(t, err, unix.ENOENT, "")
	_, err = msgq.Get(key, ipc.Exclusive, 0o600)
	checkErr(t, err, unix.ENOENT, "")
}

func TestPrivate(t *testing.T) {
	a, b := newQueue(t), newQueue(t)
	if a.ID() == b.ID() {
		t.Errorf("two private queues share id %d", a.ID())
	}
	_, err := msgq.Open(ipc.Private)
	checkErr(t, err, unix.EINVAL, "private key")
	_, err = msgq.Get(ipc.Private, 0, 0o600)
	checkErr(t, err, unix.EINVAL, "private key")
	q, err := msgq.OpenOrCreate(ipc.Private, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	q.Remove()
}

func TestGetBadArguments(t *testing.T) {
	key := unusedKey(t)
	_, err := msgq.Create(key, 0o700)
	checkErr(t, err, unix.EINVAL, "mode 0700")
	_, err = msgq.Get(key, ipc.Create|0o4000, 0o600)
	checkErr(t, err, unix.EINVAL, "unknown flags")
	_, err = msgq.FromID(-1)
	checkErr(t, err, unix.EINVAL, "negative")
}

// LTP msgget02: EACCES for each access nobody asks for on a mode 0 queue.
func TestGetPermission(t *testing.T) {
	_, key := newKeyedQueue(t, 0)
	for _, mode := range []string{"0400", "0200", "0600"} {
		if got := runOp(t, true, "get", strconv.Itoa(int(key)), mode); got != "EACCES" {
			t.Errorf("nobody msgget(key, %s) on a mode 0 queue: %s, want EACCES", mode, got)
		}
	}
	// Asking for no access checks nothing.
	if got := runOp(t, true, "get", strconv.Itoa(int(key)), "0"); got != "ok" {
		t.Errorf("nobody msgget(key, 0): %s, want ok", got)
	}
}

func TestFromID(t *testing.T) {
	q := newQueue(t)
	// A queue nobody may not read still exists for nobody.
	if got := runOp(t, true, "fromid", strconv.Itoa(q.ID())); got != "ok" {
		t.Errorf("nobody FromID of an unreadable queue: %s, want ok", got)
	}
	r := newQueue(t)
	r.Remove()
	_, err := msgq.FromID(r.ID())
	checkErr(t, err, unix.EINVAL, "no queue with this id")
}

// LTP msgctl01: IPC_STAT of a fresh queue.
func TestStatFresh(t *testing.T) {
	// The kernel stamps whole seconds of its coarse clock, which lags
	// time.Now by up to a tick: just after a second begins it still says
	// the one before. sem and shm allow a second, as here.
	before := time.Now().Add(-time.Second)
	q, key := newKeyedQueue(t, 0o640)
	after := time.Now()
	info, err := q.Stat()
	if err != nil {
		t.Fatal(err)
	}
	lim, err := ipc.ReadLimits()
	if err != nil {
		t.Fatal(err)
	}
	uid, gid := uint32(os.Geteuid()), uint32(os.Getegid())
	want := ipc.Perm{Key: key, UID: uid, GID: gid, CUID: uid, CGID: gid, Mode: 0o640, Seq: info.Perm.Seq}
	if info.Perm != want {
		t.Errorf("Perm = %+v, want %+v", info.Perm, want)
	}
	if info.QNum != 0 || info.CBytes != 0 || info.QBytes != lim.MSGMNB || info.LSPID != 0 || info.LRPID != 0 {
		t.Errorf("Stat = %+v; want empty, qbytes = msgmnb %d", info, lim.MSGMNB)
	}
	if !info.STime.IsZero() || !info.RTime.IsZero() {
		t.Errorf("STime %v RTime %v, want zero", info.STime, info.RTime)
	}
	if info.CTime.Before(before) || info.CTime.After(after) {
		t.Errorf("CTime %v not in [%v, %v]", info.CTime, before, after)
	}
}

// LTP msgctl02: lowering msg_qbytes; and what IPC_SET must keep.
func TestSetMaxBytes(t *testing.T) {
	q := newQueue(t)
	if err := q.SetMode(0o640); err != nil {
		t.Fatal(err)
	}
	old, _ := q.Stat()
	if err := q.SetMaxBytes(old.QBytes - 1); err != nil {
		t.Fatal(err)
	}
	info, _ := q.Stat()
	if info.QBytes != old.QBytes-1 || info.Perm != old.Perm {
		t.Errorf("after SetMaxBytes(%d): %+v; want qbytes changed, perm %+v kept", old.QBytes-1, info, old.Perm)
	}
	checkErr(t, q.SetMaxBytes(0), unix.EINVAL, "at least 1")
}

// Raising msg_qbytes above msgmnb needs CAP_SYS_RESOURCE, which root in a
// container often lacks: the error says so.
func TestSetMaxBytesAboveLimit(t *testing.T) {
	q := newQueue(t)
	lim, err := ipc.ReadLimits()
	if err != nil {
		t.Fatal(err)
	}
	err = q.SetMaxBytes(lim.MSGMNB + 1)
	if err == nil {
		info, _ := q.Stat()
		if info.QBytes != lim.MSGMNB+1 {
			t.Errorf("SetMaxBytes(msgmnb+1) succeeded but qbytes = %d", info.QBytes)
		}
		t.Skip("this process has CAP_SYS_RESOURCE: raising the capacity is allowed")
	}
	checkErr(t, err, unix.EPERM, "CAP_SYS_RESOURCE")
	// Nobody may not even lower it on root's queue: EPERM, whether it may
	// read the queue or not (SetMaxBytes reads it with MSG_STAT_ANY then,
	// and IPC_SET refuses a caller that is neither owner nor creator).
	if got := runOp(t, true, "setqbytes", strconv.Itoa(q.ID()), "100"); got != "EPERM" {
		t.Errorf("nobody SetMaxBytes, queue 0600: %s, want EPERM", got)
	}
	if err := q.SetMode(0o644); err != nil {
		t.Fatal(err)
	}
	if got := runOp(t, true, "setqbytes", strconv.Itoa(q.ID()), "100"); got != "EPERM" {
		t.Errorf("nobody SetMaxBytes: %s, want EPERM", got)
	}
}

func TestSetModeAndOwner(t *testing.T) {
	q := newQueue(t)
	old, _ := q.Stat()
	if err := q.SetMode(0o604); err != nil {
		t.Fatal(err)
	}
	if err := q.SetOwner(1234, 5678); err != nil {
		t.Fatal(err)
	}
	info, _ := q.Stat()
	if info.Perm.Mode != 0o604 || info.Perm.UID != 1234 || info.Perm.GID != 5678 ||
		info.Perm.CUID != old.Perm.CUID || info.Perm.CGID != old.Perm.CGID || info.QBytes != old.QBytes {
		t.Errorf("after SetMode and SetOwner: %+v (was %+v)", info, old)
	}
	if !info.CTime.After(time.Time{}) {
		t.Errorf("CTime not set: %v", info.CTime)
	}
	checkErr(t, q.SetMode(0o700), unix.EINVAL, "mode 0700")
}

// LTP msgctl04: EACCES for IPC_STAT without read permission, even for the
// owner; EPERM for IPC_RMID and IPC_SET of root's queue by nobody.
func TestCtlPermission(t *testing.T) {
	q := newQueue(t)
	if err := q.SetMode(0o644); err != nil {
		t.Fatal(err)
	}
	if got := runOp(t, true, "ownstat"); got != "EACCES ok" {
		t.Errorf("nobody stat, then remove, of its own mode 0 queue: %s, want EACCES ok", got)
	}
	if got := runOp(t, true, "stat", strconv.Itoa(q.ID())); got != "ok" {
		t.Errorf("nobody stat of a 0644 queue: %s, want ok", got)
	}
	if got := runOp(t, true, "remove", strconv.Itoa(q.ID())); got != "EPERM" {
		t.Errorf("nobody remove of root's queue: %s, want EPERM", got)
	}
	if got := runOp(t, true, "setmode", strconv.Itoa(q.ID()), "0666"); got != "EPERM" {
		t.Errorf("nobody SetMode of root's queue: %s, want EPERM", got)
	}
	if err := q.SetMode(0); err != nil {
		t.Fatal(err)
	}
	if got := runOp(t, true, "stat", strconv.Itoa(q.ID())); got != "EACCES" {
		t.Errorf("nobody stat of a mode 0 queue: %s, want EACCES", got)
	}
}

// No method panics on a nil *Queue.
func TestNilQueue(t *testing.T) {
	var q *msgq.Queue
	buf := make([]byte, 8)
	_, err := q.Stat()
	errs := []error{q.Remove(), err, q.SetMode(0o600), q.SetOwner(0, 0), q.SetMaxBytes(10), q.Send(1, buf, 0), q.Send(1, buf, msgq.NoWait),
		sendTimeout(q, 1, buf, time.Millisecond), q.SendContext(t.Context(), 1, buf, 0)}
	for _, f := range []func() (int64, int, error){
		func() (int64, int, error) { return q.Receive(buf, msgq.Any(), 0) },
		func() (int64, int, error) { return receiveTimeout(q, buf, msgq.Any(), 0, time.Millisecond) },
		func() (int64, int, error) { return q.ReceiveContext(t.Context(), buf, msgq.Any(), 0) },
		func() (int64, int, error) { return q.Peek(buf, 0) },
	} {
		_, _, err := f()
		errs = append(errs, err)
	}
	for i, err := range errs {
		if !errors.Is(err, ipc.ErrInvalidHandle) {
			t.Errorf("call %d on a nil *Queue: %v, want ipc.ErrInvalidHandle", i, err)
		}
	}
	if q.ID() != -1 || q.String() != "queue -1" {
		t.Errorf("nil queue: ID %d, String %q", q.ID(), q.String())
	}
}
