// Package ipcobj is what packages sem, msgq and shm share below their APIs:
// listing a family's objects (from /proc/sysvipc, or with the *_INFO and
// *_STAT system calls where /proc is not mounted), reading one object's
// record whatever its permissions, the IPC_STAT-change-IPC_SET cycle, and the
// small conversions every family needs. It formats no errors: callers wrap
// what it returns in their own *ipc.Error.
package ipcobj

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// ProcDir is where the kernel lists every object of the reader's IPC
// namespace, with no permission check. Tests point it at a directory that
// does not exist to exercise the system-call path.
var ProcDir = "/proc/sysvipc"

// ErrNoProc marks a /proc file that could not be opened, the one case where
// util-linux (and this module) falls back to the system calls.
var ErrNoProc = errors.New("no /proc/sysvipc")

// Time turns the kernel's "seconds, 0 for never" into a time.Time whose zero
// value means never.
func Time(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}

// ReadUint reads a file holding one unsigned decimal number, such as
// /proc/sys/kernel/shmmax. A missing file gives an error matching
// fs.ErrNotExist.
func ReadUint(path string) (uint64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %v", path, err)
	}
	return v, nil
}

// ReadProc calls fn with the fields of each row of a /proc/sysvipc file,
// after checking it has at least min of them. The rows are split on blanks,
// not on columns: a key such as -2147483648 overflows its column.
func ReadProc(path string, min int, fn func(r *Row)) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoProc, err)
	}
	lines := strings.Split(string(data), "\n")
	for n, line := range lines {
		if n == 0 || strings.TrimSpace(line) == "" {
			continue // header
		}
		r := Row{f: strings.Fields(line)}
		if len(r.f) < min {
			return fmt.Errorf("%s line %d: %d fields, want %d", path, n+1, len(r.f), min)
		}
		fn(&r)
		if r.err != nil {
			return fmt.Errorf("%s line %d: %v", path, n+1, r.err)
		}
	}
	return nil
}

// Row parses the fields of one /proc/sysvipc line, keeping the first error.
type Row struct {
	f   []string
	err error
}

// Len is the number of fields of the row.
func (r *Row) Len() int { return len(r.f) }

func (r *Row) parse(i, base, bits int, signed bool) (int64, uint64) {
	var (
		s   int64
		u   uint64
		err error
	)
	if signed {
		s, err = strconv.ParseInt(r.f[i], base, bits)
	} else {
		u, err = strconv.ParseUint(r.f[i], base, bits)
	}
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("field %d: %v", i+1, err)
	}
	return s, u
}

// Int is field i as a signed 32-bit number (ids, keys).
func (r *Row) Int(i int) int { s, _ := r.parse(i, 10, 32, true); return int(s) }

// U32 is field i as an unsigned 32-bit number (uids, pids, counts).
func (r *Row) U32(i int) uint32 { _, u := r.parse(i, 10, 32, false); return uint32(u) }

// U64 is field i as an unsigned 64-bit number (sizes).
func (r *Row) U64(i int) uint64 { _, u := r.parse(i, 10, 64, false); return u }

// When is field i as a time in seconds, 0 for never.
func (r *Row) When(i int) time.Time { _, u := r.parse(i, 10, 63, false); return Time(int64(u)) }

// Perm builds the kernel's permission record from the key column (0), the
// octal perms column (2), which keeps every mode bit, and the four owner
// columns starting at uid. Seq is not shown in /proc: it stays 0.
func (r *Row) Perm(uid int) unix.SysvIpcPerm {
	key, _ := r.parse(0, 10, 32, true)
	_, mode := r.parse(2, 8, 32, false)
	return unix.SysvIpcPerm{
		Key:  int32(key),
		Uid:  r.U32(uid),
		Gid:  r.U32(uid + 1),
		Cuid: r.U32(uid + 2),
		Cgid: r.U32(uid + 3),
		Mode: uint32(mode),
	}
}

// List lists every object of the family, whatever its permissions, as ipcs
// does: it calls row for each line of ProcDir/file (a line has at least min
// fields), or, where that file cannot be opened, calls ds for each object
// that *_STAT_ANY finds on each index up to *_INFO's. A failure returns the
// call that failed ("" for /proc) and its error.
func (f Family[DS]) List(file string, min int, row func(r *Row), ds func(id int, ds *DS)) (call string, err error) {
	err = ReadProc(ProcDir+"/"+file, min, row)
	if errors.Is(err, ErrNoProc) {
		if e := f.Scan(f.StatAny, ds); e != 0 {
			return f.InfoCall, e
		}
		return "", nil
	}
	return "", err
}

// Family is how one kind of object is asked about: its *_INFO call for the
// highest index in use, its *ctl call with a record, and its *_STAT
// commands.
type Family[DS any] struct {
	// InfoCall names the *_INFO call in errors: "semctl(SEM_INFO)".
	InfoCall string
	// MaxIndex makes the *_INFO call and returns the highest index in use,
	// -1 if none.
	MaxIndex func() (int, unix.Errno)
	// Ctl makes the family's *ctl call with cmd and a record: IPC_STAT,
	// IPC_SET, or a *_STAT command on an index, whose result is the id.
	Ctl func(idOrIndex, cmd int, ds *DS) (int, unix.Errno)
	// Perm returns the permission record inside ds.
	Perm func(ds *DS) *unix.SysvIpcPerm
	// Stat and StatAny are the *_STAT and *_STAT_ANY commands.
	Stat, StatAny int
}

// The three families.
var (
	Sem = Family[sys.SemidDS]{
		InfoCall: "semctl(SEM_INFO)",
		MaxIndex: func() (int, unix.Errno) {
			var info sys.Seminfo
			return sys.SemctlInfo(sys.SEM_INFO, &info)
		},
		Ctl:     sys.SemctlDS,
		Perm:    func(ds *sys.SemidDS) *unix.SysvIpcPerm { return &ds.Perm },
		Stat:    sys.SEM_STAT,
		StatAny: sys.SEM_STAT_ANY,
	}
	Msg = Family[sys.MsqidDS]{
		InfoCall: "msgctl(MSG_INFO)",
		MaxIndex: func() (int, unix.Errno) {
			var info sys.Msginfo
			return sys.MsgctlInfo(sys.MSG_INFO, &info)
		},
		Ctl:     sys.MsgctlDS,
		Perm:    func(ds *sys.MsqidDS) *unix.SysvIpcPerm { return &ds.Perm },
		Stat:    sys.MSG_STAT,
		StatAny: sys.MSG_STAT_ANY,
	}
	Shm = Family[unix.SysvShmDesc]{
		InfoCall: "shmctl(SHM_INFO)",
		MaxIndex: func() (int, unix.Errno) {
			var info sys.ShmInfo
			return sys.ShmctlInfo(&info)
		},
		Ctl: func(id, cmd int, ds *unix.SysvShmDesc) (int, unix.Errno) {
			r, err := unix.SysvShmCtl(id, cmd, ds)
			return r, Errno(err)
		},
		Perm:    func(ds *unix.SysvShmDesc) *unix.SysvIpcPerm { return &ds.Perm },
		Stat:    sys.SHM_STAT,
		StatAny: sys.SHM_STAT_ANY,
	}
)

// Errno extracts the errno x/sys/unix returns as an error (0 for nil).
func Errno(err error) unix.Errno {
	if err == nil {
		return 0
	}
	if e, ok := err.(unix.Errno); ok {
		return e
	}
	return unix.EINVAL
}

// Scan walks indexes 0..maxidx with cmd (Stat or StatAny) and calls fn with
// each object found. A free index fails with EINVAL, an unreadable one (plain
// *_STAT) with EACCES; both are skipped, as util-linux does. Kernels before
// 4.17 have no *_STAT_ANY and fail every index with EINVAL: if nothing was
// found although the kernel says some index is in use, the walk is repeated
// with the plain command. A failed *_INFO call returns its errno.
func (f Family[DS]) Scan(cmd int, fn func(id int, ds *DS)) unix.Errno {
	maxidx, e := f.MaxIndex()
	if e != 0 {
		return e
	}
	found := 0
	for idx := 0; idx <= maxidx; idx++ {
		var ds DS
		if id, e := f.Ctl(idx, cmd, &ds); e == 0 {
			fn(id, &ds)
			found++
		}
	}
	if found == 0 && maxidx >= 0 && cmd == f.StatAny {
		return f.Scan(f.Stat, fn)
	}
	return 0
}

// The kernel's id is index + seq * SEQ_MULTIPLIER, where the multiplier is
// 32768, or 2^24 with ipcmni_extend: the index is one of the id's low bits.
var indexMasks = [...]int{1<<15 - 1, 1<<24 - 1}

// StatAnyID reads the record of id with *_STAT_ANY, which needs no read
// permission (Linux 4.17): it tries the index the id's low bits name, then
// every index in use. It returns EACCES where the kernel has no *_STAT_ANY
// and EINVAL when no object has the id.
func (f Family[DS]) StatAnyID(id int, ds *DS) unix.Errno {
	for _, m := range indexMasks {
		got, e := f.Ctl(id&m, f.StatAny, ds)
		if e == 0 && got == id {
			return 0
		}
	}
	maxidx, e := f.MaxIndex()
	if e != 0 {
		return e
	}
	supported := false
	for idx := 0; idx <= maxidx; idx++ {
		got, e := f.Ctl(idx, f.StatAny, ds)
		if e == 0 {
			supported = true
			if got == id {
				return 0
			}
		}
	}
	if !supported && maxidx >= 0 {
		return unix.EACCES
	}
	return unix.EINVAL
}

// Read reads the record of id: IPC_STAT, or, when the caller may not read
// the object (EACCES), *_STAT_ANY, so that the owner of a mode-0000 object
// still sees it as the kernel lets /proc show it to anyone. call names the
// call that failed.
func (f Family[DS]) Read(id int, ds *DS) (call string, e unix.Errno) {
	_, e = f.Ctl(id, unix.IPC_STAT, ds)
	if e == unix.EACCES {
		if f.StatAnyID(id, ds) == 0 {
			return "", 0
		}
	}
	if e != 0 {
		return "IPC_STAT", e
	}
	return "", 0
}

// Update is the read-modify-write every IPC_SET needs: the kernel assigns
// every settable field (uid, gid, mode and, for a queue, msg_qbytes) from
// the record, so a record not read first would zero the others. The owner of
// an object it may not read (mode 0) may still change it; its record is read
// with *_STAT_ANY then. A concurrent IPC_SET between the two calls can be
// lost. call names the call that failed ("IPC_STAT" or "IPC_SET").
func (f Family[DS]) Update(id int, change func(ds *DS)) (call string, e unix.Errno) {
	var ds DS
	if call, e := f.Read(id, &ds); e != 0 {
		return call, e
	}
	change(&ds)
	if _, e := f.Ctl(id, unix.IPC_SET, &ds); e != 0 {
		return "IPC_SET", e
	}
	return "", 0
}

// Exists reports whether id names an object of the family: IPC_STAT
// succeeds, or fails only for want of permission.
func (f Family[DS]) Exists(id int) bool {
	var ds DS
	_, e := f.Ctl(id, unix.IPC_STAT, &ds)
	return e == 0 || e == unix.EACCES
}

// Gone is the cause of an error about an id that names no object any more:
// the errno the kernel gave (EINVAL), which it unwraps to, known to mean
// that the object was removed (or never existed) because IPC_STAT on the id
// failed too. *ipc.Error matches it with ipc.ErrRemoved and fs.ErrNotExist.
type Gone struct{ Errno unix.Errno }

func (g Gone) Error() string { return "removed, or no such id" }

// Unwrap returns the kernel's errno.
func (g Gone) Unwrap() error { return g.Errno }

// Cause is what an error about a call on id that failed with errno should
// carry: Gone where EINVAL came from an id that names no object, the errno
// itself otherwise.
func (f Family[DS]) Cause(id int, errno unix.Errno) error {
	if errno == unix.EINVAL && id >= 0 && !f.Exists(id) {
		return Gone{errno}
	}
	return errno
}
