package msgq

import (
	"strconv"

	"github.com/ipctoolkit/ipc/internal/ipcobj"
	"github.com/ipctoolkit/ipc/internal/rawwait"
	"github.com/ipctoolkit/ipc/internal/sys"
	"github.com/ipctoolkit/ipc/ipc"
	"golang.org/x/sys/unix"
)

// Queue is a System V message queue, known by its id (and a hint of how
// long its recent blocking calls waited, which only steers how the next ones
// are made). Copying it, or making a second one with FromID in another
// process, gives a handle on the same kernel object, and every method is
// safe for concurrent use by many goroutines. Only the constructors make a
// usable Queue: the zero Queue, and a nil *Queue, refuse every call with an
// error matching ipc.ErrInvalidHandle.
type Queue struct {
	id   int
	made bool // by a constructor: the zero Queue names no queue

	// How its recent blocking calls went; see call.go.
	sendHint, recvHint rawwait.Hint
}

// Create makes a new queue for key with the permission bits mode, failing
// with an error that matches fs.ErrExist if key already has one
// (IPC_CREAT|IPC_EXCL), so that two programs never both believe they created
// it. With ipc.Private it always makes a new queue that only its id reaches.
func Create(key ipc.Key, mode ipc.Mode) (*Queue, error) {
	return get("create", key, ipc.Create|ipc.Exclusive, mode)
}

// Open returns the existing queue of key (msgget with no flags), or an error
// that matches fs.ErrNotExist. It checks no permission: a caller that may
// not read or write finds out when it tries. ipc.Private names no existing
// queue and is rejected, since msgget would make a new one.
func Open(key ipc.Key) (*Queue, error) {
	return get("open", key, 0, 0)
}

// OpenOrCreate returns the queue of key, making it with mode if key has none
// (IPC_CREAT). Use Create when the caller must know it made the queue.
func OpenOrCreate(key ipc.Key, mode ipc.Mode) (*Queue, error) {
	return get("create", key, ipc.Create, mode)
}

// Get is msgget itself, for callers who need what the three helpers above
// do not say: flags are ipc.Create and ipc.Exclusive; mode is both the mode
// of a queue Get makes and, for an existing queue, the access the caller
// asks for (msgget fails with EACCES, matching fs.ErrPermission, if mode
// asks for read or write permission the caller lacks). ipc.Private without
// ipc.Create is rejected rather than silently making a queue.
func Get(key ipc.Key, flags ipc.Flags, mode ipc.Mode) (*Queue, error) {
	op := "open"
	if flags&ipc.Create != 0 {
		op = "create"
	}
	return get(op, key, flags, mode)
}

func get(op string, key ipc.Key, flags ipc.Flags, mode ipc.Mode) (*Queue, error) {
	fail := func(e unix.Errno, detail string) (*Queue, error) {
		call := "msgget"
		if detail != "" {
			call = ""
		}
		return nil, &ipc.Error{Pkg: pkg, Op: op, Kind: ipc.Queue, ID: -1, Key: key, Call: call, Err: e, Detail: detail}
	}
	if flags&^(ipc.Create|ipc.Exclusive) != 0 {
		return fail(unix.EINVAL, "unknown flags 0x"+strconv.FormatInt(int64(flags&^(ipc.Create|ipc.Exclusive)), 16)+": only ipc.Create and ipc.Exclusive")
	}
	if !mode.Valid() {
		return fail(unix.EINVAL, "mode 0"+strconv.FormatUint(uint64(mode), 8)+" has bits other than read and write permissions")
	}
	if key == ipc.Private && flags&ipc.Create == 0 {
		return fail(unix.EINVAL, "the private key names no existing queue; msgget would make a new one")
	}
	id, e := sys.Msgget(int32(key), int(flags)|int(mode))
	if e != 0 {
		return fail(e, "")
	}
	return &Queue{id: id, made: true}, nil
}

// FromID returns the queue with id, typically one another process created
// and passed on. It checks that the id names a queue (IPC_STAT): a removed or
// made-up id gives an error matching ipc.ErrRemoved, fs.ErrNotExist and the
// kernel's unix.EINVAL. A queue the caller may not
// read still exists and is returned: IPC_STAT's EACCES proves the id valid,
// and sending may well be allowed.
func FromID(id int) (*Queue, error) {
	if id < 0 {
		return nil, &ipc.Error{Pkg: pkg, Op: "open", Kind: ipc.Queue, ID: -1, Key: ipc.Private, Err: unix.EINVAL,
			Detail: "id " + strconv.Itoa(id) + " is negative"}
	}
	if _, e := sys.MsgctlDS(id, unix.IPC_STAT, &sys.MsqidDS{}); e != 0 && e != unix.EACCES {
		return nil, (&Queue{id: id, made: true}).err("open", "msgctl(IPC_STAT)", e, noQueueDetail(e))
	}
	return &Queue{id: id, made: true}, nil
}

// ID is the queue's id, what another process passes to FromID and what ipcs
// shows.
func (q *Queue) ID() int {
	if q == nil || !q.made {
		return -1
	}
	return q.id
}

// String names the queue as errors do: "queue 32769".
func (q *Queue) String() string { return "queue " + strconv.Itoa(q.ID()) }

// Remove removes the queue at once (IPC_RMID): queued messages are dropped,
// and every process blocked sending to or receiving from it wakes with an
// error that matches ipc.ErrRemoved. Only the owner, the creator or a
// privileged process may remove it (else fs.ErrPermission).
func (q *Queue) Remove() error {
	if err := q.check("remove"); err != nil {
		return err
	}
	if _, e := sys.MsgctlDS(q.id, unix.IPC_RMID, nil); e != 0 {
		return q.err("remove", "msgctl(IPC_RMID)", e, noQueueDetail(e))
	}
	return nil
}

// Stat returns the queue's state (IPC_STAT). It needs read permission;
// List shows every queue to anyone.
func (q *Queue) Stat() (Info, error) {
	if err := q.check("stat"); err != nil {
		return Info{}, err
	}
	var ds sys.MsqidDS
	if _, e := sys.MsgctlDS(q.id, unix.IPC_STAT, &ds); e != 0 {
		return Info{}, q.err("stat", "msgctl(IPC_STAT)", e, noQueueDetail(e))
	}
	return infoFromKernel(q.id, &ds), nil
}

// SetMaxBytes sets the queue's capacity (msg_qbytes): the bytes of text it
// holds before senders wait or, with NoWait, fail. Lowering it is allowed to
// the owner and creator; raising it above kernel.msgmnb needs
// CAP_SYS_RESOURCE, even for root in a container (EPERM, matching
// fs.ErrPermission). It must be at least 1: a capacity of 0 would make every
// send wait forever.
//
// Like every IPC_SET, it reads the queue's state first and writes it back
// with one field changed, so the owner and mode stay as they are; a
// concurrent IPC_SET between the two calls can be lost. Reading needs read
// permission (else EACCES), on top of the ownership IPC_SET needs (else
// EPERM).
func (q *Queue) SetMaxBytes(n uint64) error {
	if err := q.check("set capacity of"); err != nil {
		return err
	}
	if n == 0 {
		return q.err("set capacity of", "", unix.EINVAL, "capacity must be at least 1 byte")
	}
	return q.set("set capacity of", func(ds *sys.MsqidDS) { ds.Qbytes = n })
}

// SetOwner gives the queue to uid and gid (the creator stays recorded as
// such). Only the owner, the creator or a privileged process may.
func (q *Queue) SetOwner(uid, gid uint32) error {
	return q.set("set owner of", func(ds *sys.MsqidDS) { ds.Perm.Uid, ds.Perm.Gid = uid, gid })
}

// SetMode changes the queue's permission bits, keeping owner and capacity.
func (q *Queue) SetMode(mode ipc.Mode) error {
	if err := q.check("set mode of"); err != nil {
		return err
	}
	if !mode.Valid() {
		return q.err("set mode of", "", unix.EINVAL, "mode 0"+strconv.FormatUint(uint64(mode), 8)+" has bits other than read and write permissions")
	}
	return q.set("set mode of", func(ds *sys.MsqidDS) { ds.Perm.Mode = ds.Perm.Mode&^0o777 | uint32(mode) })
}

// set changes the queue's record with IPC_SET (see ipcobj.Update).
func (q *Queue) set(op string, change func(*sys.MsqidDS)) error {
	if err := q.check(op); err != nil {
		return err
	}
	var qbytes uint64
	call, e := ipcobj.Msg.Update(q.id, func(ds *sys.MsqidDS) {
		old := ds.Qbytes
		change(ds)
		if ds.Qbytes > old {
			qbytes = ds.Qbytes
		}
	})
	if e == 0 {
		return nil
	}
	detail := noQueueDetail(e)
	if e == unix.EPERM && call == "IPC_SET" && qbytes > 0 {
		if l, err := ipc.ReadLimits(); err == nil && qbytes > l.MSGMNB {
			detail = "raising the capacity above kernel.msgmnb (" + strconv.FormatUint(l.MSGMNB, 10) + ") needs CAP_SYS_RESOURCE"
		}
	}
	return q.err(op, "msgctl("+call+")", e, detail)
}
