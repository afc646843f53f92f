package shm

import (
	"time"

	"github.com/ipctoolkit/ipc/internal/ipcobj"
	"github.com/ipctoolkit/ipc/internal/sys"
	"github.com/ipctoolkit/ipc/ipc"
	"golang.org/x/sys/unix"
)

// Info is what the kernel keeps about a segment (struct shmid64_ds), as
// Stat reads it for one segment and List for every segment, and as ipcs and
// lsipc show it.
type Info struct {
	ID   int
	Perm ipc.Perm
	// Size is the segment's size in bytes.
	Size int
	// NAttch is the number of current attachments, in every process.
	NAttch int
	// CPID created the segment; LPID made the last shmat or shmdt (0 if no
	// process has).
	CPID, LPID int
	// ATime and DTime are the times of the last attach and detach, zero if
	// none happened; CTime is the time of creation or of the last IPC_SET.
	ATime, DTime, CTime time.Time
	// Removed: marked for removal while still attached (SHM_DEST). Its key
	// reads as ipc.Private and the kernel destroys it on the last detach.
	Removed bool
	// Locked: pinned in memory with LockMemory (SHM_LOCKED).
	Locked bool
	// RSS and Swap are the bytes resident and swapped out. Only
	// /proc/sysvipc shows them: they are 0 from Stat, and from List where
	// /proc is not mounted.
	RSS, Swap uint64
}

// FullMode is the segment's mode as the kernel keeps it, the permissions
// plus SHM_DEST (0o1000) and SHM_LOCKED (0o2000): ipcs -m -i prints it as
// "mode=01644".
func (i Info) FullMode() uint32 {
	m := uint32(i.Perm.Mode)
	if i.Removed {
		m |= sys.SHM_DEST
	}
	if i.Locked {
		m |= sys.SHM_LOCKED
	}
	return m
}

func infoFromKernel(id int, ds *unix.SysvShmDesc) Info {
	return Info{
		ID:      id,
		Perm:    ipc.PermFromKernel(&ds.Perm),
		Size:    int(ds.Segsz),
		NAttch:  int(ds.Nattch),
		CPID:    int(ds.Cpid),
		LPID:    int(ds.Lpid),
		ATime:   ipcobj.Time(ds.Atime),
		DTime:   ipcobj.Time(ds.Dtime),
		CTime:   ipcobj.Time(ds.Ctime),
		Removed: ds.Perm.Mode&sys.SHM_DEST != 0,
		Locked:  ds.Perm.Mode&sys.SHM_LOCKED != 0,
	}
}

// List lists every shared memory segment in the IPC namespace, whatever its
// permissions, as ipcs does: in the kernel's index order, from
// /proc/sysvipc/shm, or from shmctl SHM_INFO and SHM_STAT_ANY on each index
// where /proc is not mounted. Perm.Seq is only known in the second case; it
// is 0 otherwise.
func List() ([]Info, error) {
	out := []Info{}
	// /proc/sysvipc/shm: key shmid perms size cpid lpid nattch uid gid cuid
	// cgid atime dtime ctime rss swap. Kernels before 4.6 had no rss and
	// swap; the perms column includes SHM_DEST and SHM_LOCKED.
	call, err := ipcobj.Shm.List("shm", 14, func(r *ipcobj.Row) {
		p := r.Perm(7)
		i := Info{
			ID:      r.Int(1),
			Perm:    ipc.PermFromKernel(&p),
			Size:    int(r.U64(3)),
			CPID:    int(r.U32(4)),
			LPID:    int(r.U32(5)),
			NAttch:  int(r.U64(6)),
			ATime:   r.When(11),
			DTime:   r.When(12),
			CTime:   r.When(13),
			Removed: p.Mode&sys.SHM_DEST != 0,
			Locked:  p.Mode&sys.SHM_LOCKED != 0,
		}
		if r.Len() >= 16 {
			i.RSS, i.Swap = r.U64(14), r.U64(15)
		}
		out = append(out, i)
	}, func(id int, ds *unix.SysvShmDesc) { out = append(out, infoFromKernel(id, ds)) })
	if err != nil {
		return nil, &ipc.Error{Pkg: "shm", Op: "list", Kind: ipc.Segment, ID: ipc.AllObjects, Call: call, Err: err}
	}
	return out, nil
}
