package ipc

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

// procSysvipc is where the kernel lists every object of the reader's IPC
// namespace, with no permission check.
const procSysvipc = "/proc/sysvipc"

// errNoProc marks a /proc file that could not be opened, the one case where
// util-linux (and this package) falls back to the system calls.
var errNoProc = errors.New("no /proc/sysvipc")

func listSemaphores(dir string) ([]SemaphoreSet, error) {
	out, err := semaphoresFromProc(dir + "/sem")
	if errors.Is(err, errNoProc) {
		out, err = semaphoresFromSyscalls()
	}
	if err != nil {
		return nil, listError(Semaphore, err)
	}
	return out, nil
}

func listQueues(dir string) ([]QueueInfo, error) {
	out, err := queuesFromProc(dir + "/msg")
	if errors.Is(err, errNoProc) {
		out, err = queuesFromSyscalls()
	}
	if err != nil {
		return nil, listError(Queue, err)
	}
	return out, nil
}

func listSegments(dir string) ([]SegmentInfo, error) {
	out, err := segmentsFromProc(dir + "/shm")
	if errors.Is(err, errNoProc) {
		out, err = segmentsFromSyscalls()
	}
	if err != nil {
		return nil, listError(Segment, err)
	}
	return out, nil
}

// listError wraps what went wrong in the *ipc.Error every caller expects; a
// failed system call already is one.
func listError(kind Kind, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Pkg: "ipc", Op: "list", Kind: kind, ID: AllObjects, Err: err}
}

// ---- /proc/sysvipc ----

// readProc calls fn with the fields of each row of a /proc/sysvipc file,
// after checking it has at least min of them. The rows are split on blanks,
// not on columns: a key such as -2147483648 overflows its column.
func readProc(path string, min int, fn func(r *row)) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: %v", errNoProc, err)
	}
	lines := strings.Split(string(data), "\n")
	for n, line := range lines {
		if n == 0 || strings.TrimSpace(line) == "" {
			continue // header
		}
		r := row{f: strings.Fields(line)}
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

// row parses the fields of one /proc/sysvipc line, keeping the first error.
type row struct {
	f   []string
	err error
}

func (r *row) parse(i, base, bits int, signed bool) (int64, uint64) {
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

func (r *row) int(i int) int        { s, _ := r.parse(i, 10, 32, true); return int(s) }
func (r *row) u32(i int) uint32     { _, u := r.parse(i, 10, 32, false); return uint32(u) }
func (r *row) u64(i int) uint64     { _, u := r.parse(i, 10, 64, false); return u }
func (r *row) mode(i int) uint32    { _, u := r.parse(i, 8, 32, false); return uint32(u) }
func (r *row) key(i int) Key        { s, _ := r.parse(i, 10, 32, true); return Key(s) }
func (r *row) when(i int) time.Time { _, u := r.parse(i, 10, 63, false); return unixTime(int64(u)) }

// perm builds a Perm from the key column, the perms column and the four
// owner columns starting at uid.
func (r *row) perm(uid int) Perm {
	return Perm{
		Key:  r.key(0),
		UID:  r.u32(uid),
		GID:  r.u32(uid + 1),
		CUID: r.u32(uid + 2),
		CGID: r.u32(uid + 3),
		Mode: Mode(r.mode(2) & 0o777),
	}
}

// /proc/sysvipc/sem: key semid perms nsems uid gid cuid cgid otime ctime
func semaphoresFromProc(path string) ([]SemaphoreSet, error) {
	out := []SemaphoreSet{}
	err := readProc(path, 10, func(r *row) {
		out = append(out, SemaphoreSet{
			Perm:  r.perm(4),
			ID:    r.int(1),
			Nsems: int(r.u32(3)),
			OTime: r.when(8),
			CTime: r.when(9),
		})
	})
	return out, err
}

// /proc/sysvipc/msg: key msqid perms cbytes qnum lspid lrpid uid gid cuid
// cgid stime rtime ctime
func queuesFromProc(path string) ([]QueueInfo, error) {
	out := []QueueInfo{}
	err := readProc(path, 14, func(r *row) {
		out = append(out, QueueInfo{
			Perm:   r.perm(7),
			ID:     r.int(1),
			Cbytes: r.u64(3),
			Qnum:   r.u64(4),
			LSPID:  int(r.u32(5)),
			LRPID:  int(r.u32(6)),
			STime:  r.when(11),
			RTime:  r.when(12),
			CTime:  r.when(13),
		})
	})
	if err != nil {
		return nil, err
	}
	// msg_qbytes is not in /proc; ipcs -q -i asks IPC_STAT, which needs read
	// permission, and shows 0 without it.
	for i := range out {
		var ds sys.MsqidDS
		if _, e := sys.MsgctlDS(out[i].ID, unix.IPC_STAT, &ds); e == 0 {
			out[i].Qbytes = ds.Qbytes
		}
	}
	return out, nil
}

// /proc/sysvipc/shm: key shmid perms size cpid lpid nattch uid gid cuid cgid
// atime dtime ctime rss swap. Kernels before 4.6 had no rss and swap; the
// perms column includes SHM_DEST and SHM_LOCKED.
func segmentsFromProc(path string) ([]SegmentInfo, error) {
	out := []SegmentInfo{}
	err := readProc(path, 14, func(r *row) {
		mode := r.mode(2)
		s := SegmentInfo{
			Perm:   r.perm(7),
			ID:     r.int(1),
			Size:   r.u64(3),
			CPID:   int(r.u32(4)),
			LPID:   int(r.u32(5)),
			Nattch: r.u64(6),
			ATime:  r.when(11),
			DTime:  r.when(12),
			CTime:  r.when(13),
			Dest:   mode&sys.SHM_DEST != 0,
			Locked: mode&sys.SHM_LOCKED != 0,
		}
		if len(r.f) >= 16 {
			s.RSS = r.u64(14)
			s.Swap = r.u64(15)
		}
		out = append(out, s)
	})
	return out, err
}

// ---- system calls: *_INFO for the highest index, *_STAT_ANY on each ----

func semaphoresFromSyscalls() ([]SemaphoreSet, error) {
	out := []SemaphoreSet{}
	err := scanSemaphores(sys.SEM_STAT_ANY, func(id int, ds *sys.SemidDS) {
		out = append(out, semaphoreFromKernel(id, ds))
	})
	return out, err
}

func semaphoreFromKernel(id int, ds *sys.SemidDS) SemaphoreSet {
	return SemaphoreSet{
		Perm:  PermFromKernel(&ds.Perm),
		ID:    id,
		Nsems: int(ds.Nsems),
		OTime: unixTime(ds.Otime),
		CTime: unixTime(ds.Ctime),
	}
}

func queuesFromSyscalls() ([]QueueInfo, error) {
	out := []QueueInfo{}
	err := scanQueues(sys.MSG_STAT_ANY, func(id int, ds *sys.MsqidDS) {
		out = append(out, QueueInfo{
			Perm:   PermFromKernel(&ds.Perm),
			ID:     id,
			Cbytes: ds.Cbytes,
			Qnum:   ds.Qnum,
			Qbytes: ds.Qbytes,
			LSPID:  int(ds.Lspid),
			LRPID:  int(ds.Lrpid),
			STime:  unixTime(ds.Stime),
			RTime:  unixTime(ds.Rtime),
			CTime:  unixTime(ds.Ctime),
		})
	})
	return out, err
}

func segmentsFromSyscalls() ([]SegmentInfo, error) {
	out := []SegmentInfo{}
	err := scanSegments(sys.SHM_STAT_ANY, func(id int, ds *unix.SysvShmDesc) {
		out = append(out, SegmentInfo{
			Perm:   PermFromKernel(&ds.Perm),
			ID:     id,
			Size:   ds.Segsz,
			CPID:   int(ds.Cpid),
			LPID:   int(ds.Lpid),
			Nattch: ds.Nattch,
			ATime:  unixTime(ds.Atime),
			DTime:  unixTime(ds.Dtime),
			CTime:  unixTime(ds.Ctime),
			Dest:   ds.Perm.Mode&sys.SHM_DEST != 0,
			Locked: ds.Perm.Mode&sys.SHM_LOCKED != 0,
		})
	})
	return out, err
}

// The scanners walk indexes 0..maxidx with a *_STAT command: the first
// argument is an index, the result the object's id. A free index fails with
// EINVAL, an unreadable one (plain *_STAT) with EACCES; both are skipped, as
// util-linux does. Kernels before 4.17 have no *_STAT_ANY and fail every
// index with EINVAL: if nothing was found although the kernel says some
// index is in use, the walk is repeated with the plain command.

func scanSemaphores(cmd int, fn func(id int, ds *sys.SemidDS)) error {
	var info sys.Seminfo
	maxidx, e := sys.SemctlInfo(sys.SEM_INFO, &info)
	if e != 0 {
		return &Error{Pkg: "ipc", Op: "list", Kind: Semaphore, ID: AllObjects, Call: "semctl(SEM_INFO)", Err: e}
	}
	found := 0
	for idx := 0; idx <= maxidx; idx++ {
		var ds sys.SemidDS
		if id, e := sys.SemctlDS(idx, cmd, &ds); e == 0 {
			fn(id, &ds)
			found++
		}
	}
	if found == 0 && maxidx >= 0 && cmd == sys.SEM_STAT_ANY {
		return scanSemaphores(sys.SEM_STAT, fn)
	}
	return nil
}

func scanQueues(cmd int, fn func(id int, ds *sys.MsqidDS)) error {
	var info sys.Msginfo
	maxidx, e := sys.MsgctlInfo(sys.MSG_INFO, &info)
	if e != 0 {
		return &Error{Pkg: "ipc", Op: "list", Kind: Queue, ID: AllObjects, Call: "msgctl(MSG_INFO)", Err: e}
	}
	found := 0
	for idx := 0; idx <= maxidx; idx++ {
		var ds sys.MsqidDS
		if id, e := sys.MsgctlDS(idx, cmd, &ds); e == 0 {
			fn(id, &ds)
			found++
		}
	}
	if found == 0 && maxidx >= 0 && cmd == sys.MSG_STAT_ANY {
		return scanQueues(sys.MSG_STAT, fn)
	}
	return nil
}

func scanSegments(cmd int, fn func(id int, ds *unix.SysvShmDesc)) error {
	var info sys.ShmInfo
	maxidx, e := sys.ShmctlInfo(&info)
	if e != 0 {
		return &Error{Pkg: "ipc", Op: "list", Kind: Segment, ID: AllObjects, Call: "shmctl(SHM_INFO)", Err: e}
	}
	found := 0
	for idx := 0; idx <= maxidx; idx++ {
		var ds unix.SysvShmDesc
		if id, err := unix.SysvShmCtl(idx, cmd, &ds); err == nil {
			fn(id, &ds)
			found++
		}
	}
	if found == 0 && maxidx >= 0 && cmd == sys.SHM_STAT_ANY {
		return scanSegments(sys.SHM_STAT, fn)
	}
	return nil
}

func itoa(i int) string { return strconv.Itoa(i) }
