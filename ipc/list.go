package ipc

import (
	"time"

	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// SemaphoreSet is one semaphore set as ipcs and lsipc show it.
//
// Listing sees every set in the IPC namespace whatever its permissions, as
// ipcs does. Perm.Seq is only known when the data came from the system
// calls (no /proc); it is 0 otherwise.
type SemaphoreSet struct {
	Perm  Perm
	ID    int
	Nsems int       // semaphores in the set
	OTime time.Time // last semop; zero if none yet
	CTime time.Time // creation or last IPC_SET
}

// SemaphoreValue is the state of one semaphore of a set, a row of
// ipcs -s -i.
type SemaphoreValue struct {
	Num    int // position in the set
	Value  int // semval
	NCount int // processes waiting for the value to grow (semncnt)
	ZCount int // processes waiting for it to reach zero (semzcnt)
	PID    int // last process that changed it (sempid), 0 if none
}

// QueueInfo is one message queue as ipcs and lsipc show it. Listing sees
// every queue whatever its permissions; Perm.Seq is as in SemaphoreSet.
type QueueInfo struct {
	Perm   Perm
	ID     int
	Cbytes uint64 // bytes of text queued
	Qnum   uint64 // messages queued
	// Qbytes is the queue's byte limit (msg_qbytes). /proc does not show it:
	// it comes from msgctl(IPC_STAT), which needs read permission, and is 0
	// when the caller has none, as ipcs -q -i prints it.
	Qbytes uint64
	LSPID  int       // last sender, 0 if none
	LRPID  int       // last receiver, 0 if none
	STime  time.Time // last send; zero if none
	RTime  time.Time // last receive; zero if none
	CTime  time.Time // creation or last IPC_SET
}

// SegmentInfo is one shared memory segment as ipcs and lsipc show it.
// Listing sees every segment whatever its permissions; Perm.Seq is as in
// SemaphoreSet.
type SegmentInfo struct {
	Perm   Perm
	ID     int
	Size   uint64 // bytes
	CPID   int    // creator
	LPID   int    // last shmat/shmdt, 0 if none
	Nattch uint64 // current attachments
	ATime  time.Time
	DTime  time.Time
	CTime  time.Time
	// RSS and Swap are the bytes resident and swapped out. Only /proc shows
	// them; they are 0 when the listing came from the system calls.
	RSS  uint64
	Swap uint64
	// Dest: removed (IPC_RMID) while still attached; its key reads as
	// Private and it goes away on the last detach.
	Dest bool
	// Locked: pinned in memory with SHM_LOCK.
	Locked bool
}

// FullMode is the segment's mode as the kernel keeps it, the permissions
// plus SHM_DEST (0o1000) and SHM_LOCKED (0o2000): ipcs -m -i prints it as
// "mode=01644".
func (s SegmentInfo) FullMode() uint32 {
	m := uint32(s.Perm.Mode)
	if s.Dest {
		m |= sys.SHM_DEST
	}
	if s.Locked {
		m |= sys.SHM_LOCKED
	}
	return m
}

// Semaphores lists every semaphore set in the IPC namespace, in the kernel's
// index order, from /proc/sysvipc/sem, or from semctl(SEM_INFO) and
// semctl(SEM_STAT_ANY) on each index where /proc is not mounted.
func Semaphores() ([]SemaphoreSet, error) { return listSemaphores(procSysvipc) }

// Queues lists every message queue in the IPC namespace, as Semaphores does
// (msgctl MSG_INFO and MSG_STAT_ANY without /proc).
func Queues() ([]QueueInfo, error) { return listQueues(procSysvipc) }

// Segments lists every shared memory segment in the IPC namespace, as
// Semaphores does (shmctl SHM_INFO and SHM_STAT_ANY without /proc).
func Segments() ([]SegmentInfo, error) { return listSegments(procSysvipc) }

// SemaphoreSetByID finds one set, whatever its permissions (ipcs -s -i). An
// id that names no set gives an error matching fs.ErrNotExist.
func SemaphoreSetByID(id int) (SemaphoreSet, error) {
	all, err := Semaphores()
	if err != nil {
		return SemaphoreSet{}, err
	}
	for _, s := range all {
		if s.ID == id {
			return s, nil
		}
	}
	return SemaphoreSet{}, notFound(Semaphore, id)
}

// QueueByID finds one queue, whatever its permissions (ipcs -q -i). An id
// that names no queue gives an error matching fs.ErrNotExist.
func QueueByID(id int) (QueueInfo, error) {
	all, err := Queues()
	if err != nil {
		return QueueInfo{}, err
	}
	for _, q := range all {
		if q.ID == id {
			return q, nil
		}
	}
	return QueueInfo{}, notFound(Queue, id)
}

// SegmentByID finds one segment, whatever its permissions (ipcs -m -i). An
// id that names no segment gives an error matching fs.ErrNotExist.
func SegmentByID(id int) (SegmentInfo, error) {
	all, err := Segments()
	if err != nil {
		return SegmentInfo{}, err
	}
	for _, s := range all {
		if s.ID == id {
			return s, nil
		}
	}
	return SegmentInfo{}, notFound(Segment, id)
}

func notFound(kind Kind, id int) error {
	return &Error{Pkg: "ipc", Op: "look up", Kind: kind, ID: id, Err: unix.ENOENT}
}

// Values reads the state of each semaphore of the set with semctl GETVAL,
// GETNCNT, GETZCNT and GETPID, in that order, as ipcs -s -i does. Unlike the
// listing these calls need read permission: without it the error matches
// fs.ErrPermission and its Call is "semctl(GETVAL)", the words ipcs uses.
func (s SemaphoreSet) Values() ([]SemaphoreValue, error) {
	vals := make([]SemaphoreValue, s.Nsems)
	for i := range vals {
		v := &vals[i]
		v.Num = i
		for _, c := range [...]struct {
			cmd  int
			name string
			dst  *int
		}{
			{sys.GETVAL, "semctl(GETVAL)", &v.Value},
			{sys.GETNCNT, "semctl(GETNCNT)", &v.NCount},
			{sys.GETZCNT, "semctl(GETZCNT)", &v.ZCount},
			{sys.GETPID, "semctl(GETPID)", &v.PID},
		} {
			r, e := sys.SemctlInt(s.ID, i, c.cmd, 0)
			if e != 0 {
				return nil, &Error{Pkg: "ipc", Op: "read values of", Kind: Semaphore, ID: s.ID, Call: c.name, Err: e,
					Detail: "semaphore " + itoa(i)}
			}
			*c.dst = r
		}
	}
	return vals, nil
}

// ReadableIDs lists the ids of the objects of kind that the caller may read,
// found the way ipcrm -a finds what to remove: *_INFO for the highest index,
// then *_STAT (not *_STAT_ANY) on each index, so objects without read
// permission are skipped silently.
func ReadableIDs(kind Kind) ([]int, error) {
	var ids []int
	var err error
	switch kind {
	case Semaphore:
		err = scanSemaphores(sys.SEM_STAT, func(id int, _ *sys.SemidDS) { ids = append(ids, id) })
	case Queue:
		err = scanQueues(sys.MSG_STAT, func(id int, _ *sys.MsqidDS) { ids = append(ids, id) })
	case Segment:
		err = scanSegments(sys.SHM_STAT, func(id int, _ *unix.SysvShmDesc) { ids = append(ids, id) })
	default:
		return nil, badKind("list", kind)
	}
	return ids, err
}

func badKind(op string, kind Kind) error {
	return &Error{Pkg: "ipc", Op: op, Kind: kind, ID: AllObjects, Err: unix.EINVAL, Detail: "unknown kind " + itoa(int(kind))}
}

// unixTime turns the kernel's "seconds, 0 for never" into a time.Time whose
// zero value means never.
func unixTime(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}
