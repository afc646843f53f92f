package msgq

import (
	"time"

	"github.com/ipctoolkit/ipc/internal/ipcobj"
	"github.com/ipctoolkit/ipc/internal/sys"
	"github.com/ipctoolkit/ipc/ipc"
	"golang.org/x/sys/unix"
)

// Info is a queue's state (struct msqid64_ds), as Stat reads it for one
// queue and List for every queue, and as ipcs and lsipc show it.
type Info struct {
	ID     int
	Perm   ipc.Perm
	QNum   uint64 // messages queued
	CBytes uint64 // bytes of text queued (types not counted)
	// QBytes is the capacity in bytes of text (msg_qbytes); senders wait
	// past it. /proc does not show it: List reads it with IPC_STAT, which
	// needs read permission, and leaves it 0 without, as ipcs -q -i prints
	// it.
	QBytes uint64
	LSPID  int       // process of the last successful send, 0 if none
	LRPID  int       // process of the last successful receive, 0 if none
	STime  time.Time // last send; zero if none
	RTime  time.Time // last receive; zero if none
	CTime  time.Time // creation or last change by IPC_SET
}

func infoFromKernel(id int, ds *sys.MsqidDS) Info {
	return Info{
		ID:     id,
		Perm:   ipc.PermFromKernel(&ds.Perm),
		QNum:   ds.Qnum,
		CBytes: ds.Cbytes,
		QBytes: ds.Qbytes,
		LSPID:  int(ds.Lspid),
		LRPID:  int(ds.Lrpid),
		STime:  ipcobj.Time(ds.Stime),
		RTime:  ipcobj.Time(ds.Rtime),
		CTime:  ipcobj.Time(ds.Ctime),
	}
}

// List lists every message queue in the IPC namespace, whatever its
// permissions, as ipcs does: in the kernel's index order, from
// /proc/sysvipc/msg, or from msgctl MSG_INFO and MSG_STAT_ANY on each index
// where /proc is not mounted. Perm.Seq is only known in the second case; it
// is 0 otherwise.
func List() ([]Info, error) {
	out := []Info{}
	// /proc/sysvipc/msg: key msqid perms cbytes qnum lspid lrpid uid gid
	// cuid cgid stime rtime ctime
	call, err := ipcobj.Msg.List("msg", 14, func(r *ipcobj.Row) {
		p := r.Perm(7)
		i := Info{
			ID:     r.Int(1),
			Perm:   ipc.PermFromKernel(&p),
			CBytes: r.U64(3),
			QNum:   r.U64(4),
			LSPID:  int(r.U32(5)),
			LRPID:  int(r.U32(6)),
			STime:  r.When(11),
			RTime:  r.When(12),
			CTime:  r.When(13),
		}
		// msg_qbytes is not in /proc; ipcs -q -i asks IPC_STAT, which
		// needs read permission, and shows 0 without it.
		var ds sys.MsqidDS
		if _, e := sys.MsgctlDS(i.ID, unix.IPC_STAT, &ds); e == 0 {
			i.QBytes = ds.Qbytes
		}
		out = append(out, i)
	}, func(id int, ds *sys.MsqidDS) { out = append(out, infoFromKernel(id, ds)) })
	if err != nil {
		return nil, &ipc.Error{Pkg: pkg, Op: "list", Kind: ipc.Queue, ID: ipc.AllObjects, Call: call, Err: err}
	}
	return out, nil
}
