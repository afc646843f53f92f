package ipc

import (
	"github.com/ipctoolkit/ipc/internal/ipcobj"
	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// The listings themselves belong to the families: sem.List, msgq.List and
// shm.List, each returning its package's Info.

// ReadableIDs lists the ids of the objects of kind that the caller may read,
// found the way ipcrm -a finds what to remove: *_INFO for the highest index,
// then *_STAT (not *_STAT_ANY) on each index, so objects without read
// permission are skipped silently.
func ReadableIDs(kind Kind) ([]int, error) {
	var (
		ids  []int
		e    unix.Errno
		call string
	)
	switch kind {
	case Semaphore:
		e, call = ipcobj.Sem.Scan(sys.SEM_STAT, func(id int, _ *sys.SemidDS) { ids = append(ids, id) }), ipcobj.Sem.InfoCall
	case Queue:
		e, call = ipcobj.Msg.Scan(sys.MSG_STAT, func(id int, _ *sys.MsqidDS) { ids = append(ids, id) }), ipcobj.Msg.InfoCall
	case Segment:
		e, call = ipcobj.Shm.Scan(sys.SHM_STAT, func(id int, _ *unix.SysvShmDesc) { ids = append(ids, id) }), ipcobj.Shm.InfoCall
	default:
		return nil, badKind("list", kind)
	}
	if e != 0 {
		return nil, &Error{Pkg: "ipc", Op: "list", Kind: kind, ID: AllObjects, Call: call, Err: e}
	}
	return ids, nil
}

func badKind(op string, kind Kind) error {
	return &Error{Pkg: "ipc", Op: op, Kind: kind, ID: AllObjects, Err: unix.EINVAL, Detail: "unknown kind " + itoa(int(kind))}
}
