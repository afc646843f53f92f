package sem

import (
	"strconv"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipcobj"
	"github.com/ipctoolkit/ipc/internal/sys"
	"github.com/ipctoolkit/ipc/ipc"
)

// Info is what the kernel keeps about a set (struct semid64_ds), as Stat
// reads it for one set and List for every set, and as ipcs and lsipc show
// it.
type Info struct {
	ID    int
	Perm  ipc.Perm
	NSems int // semaphores in the set
	// OTime is the time of the last semop, zero if there was none.
	OTime time.Time
	// CTime is the time of creation or of the last IPC_SET or SETVAL/SETALL.
	CTime time.Time
}

func infoFromKernel(id int, ds *sys.SemidDS) Info {
	return Info{
		ID:    id,
		Perm:  ipc.PermFromKernel(&ds.Perm),
		NSems: int(ds.Nsems),
		OTime: ipcobj.Time(ds.Otime),
		CTime: ipcobj.Time(ds.Ctime),
	}
}

// List lists every semaphore set in the IPC namespace, whatever its
// permissions, as ipcs does: in the kernel's index order, from
// /proc/sysvipc/sem, or from semctl SEM_INFO and SEM_STAT_ANY on each index
// where /proc is not mounted. Perm.Seq is only known in the second case; it
// is 0 otherwise.
func List() ([]Info, error) {
	out := []Info{}
	// /proc/sysvipc/sem: key semid perms nsems uid gid cuid cgid otime ctime
	call, err := ipcobj.Sem.List("sem", 10, func(r *ipcobj.Row) {
		p := r.Perm(4)
		out = append(out, Info{
			ID:    r.Int(1),
			Perm:  ipc.PermFromKernel(&p),
			NSems: int(r.U32(3)),
			OTime: r.When(8),
			CTime: r.When(9),
		})
	}, func(id int, ds *sys.SemidDS) { out = append(out, infoFromKernel(id, ds)) })
	if err != nil {
		return nil, &ipc.Error{Pkg: "sem", Op: "list", Kind: ipc.Semaphore, ID: ipc.AllObjects, Call: call, Err: err}
	}
	return out, nil
}

// State is the state of one semaphore of a set, a row of ipcs -s -i.
type State struct {
	Num    int // position in the set
	Value  int // semval
	NCount int // processes waiting for the value to grow (semncnt)
	ZCount int // processes waiting for it to reach zero (semzcnt)
	PID    int // last process that changed it (sempid), 0 if none
}

// States reads the state of each semaphore of the set i describes with
// semctl GETVAL, GETNCNT, GETZCNT and GETPID, in that order, as ipcs -s -i
// does. Unlike List these calls need read permission: without it the error
// matches fs.ErrPermission and its Call is "semctl(GETVAL)", the words ipcs
// uses.
func (i Info) States() ([]State, error) {
	vals := make([]State, i.NSems)
	for n := range vals {
		v := &vals[n]
		v.Num = n
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
			r, e := sys.SemctlInt(i.ID, n, c.cmd, 0)
			if e != 0 {
				return nil, &ipc.Error{Pkg: "sem", Op: "read values of", Kind: ipc.Semaphore, ID: i.ID, Call: c.name, Err: e,
					Detail: "semaphore " + strconv.Itoa(n)}
			}
			*c.dst = r
		}
	}
	return vals, nil
}
