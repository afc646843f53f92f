package ipc

import (
	"strconv"

	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// Remove removes the object id of kind (IPC_RMID), as ipcrm -s/-q/-m does.
// A segment that is still attached is only marked for removal: its key is
// cleared and it goes away on the last detach; removing it again is not an
// error.
//
// The error keeps the kernel's errno, from which ipcrm's words follow:
// EINVAL "invalid id" (no such object), EIDRM "already removed id", EPERM
// "permission denied for id" (the caller is neither the owner, nor the
// creator, nor privileged; it matches fs.ErrPermission).
func Remove(kind Kind, id int) error {
	if id < 0 {
		// Ids are never negative; the kernel would say EINVAL too, but an id
		// of -1 cannot be shown in the error, where -1 means "by key".
		return &Error{Pkg: "ipc", Op: "remove", Kind: kind, ID: -1, Key: Private, Err: unix.EINVAL,
			Detail: "id " + itoa(id) + " is negative"}
	}
	var (
		e    unix.Errno
		call string
	)
	switch kind {
	case Semaphore:
		_, e = sys.SemctlInt(id, 0, unix.IPC_RMID, 0)
		call = "semctl(IPC_RMID)"
	case Queue:
		_, e = sys.MsgctlDS(id, unix.IPC_RMID, nil)
		call = "msgctl(IPC_RMID)"
	case Segment:
		if _, err := unix.SysvShmCtl(id, unix.IPC_RMID, nil); err != nil {
			e = err.(unix.Errno)
		}
		call = "shmctl(IPC_RMID)"
	default:
		return badKind("remove", kind)
	}
	if e != 0 {
		return &Error{Pkg: "ipc", Op: "remove", Kind: kind, ID: id, Call: call, Err: e}
	}
	return nil
}

// RemoveKey removes the object of kind that key names, as ipcrm -S/-Q/-M
// does: it finds the id with IDForKey, then calls Remove. An error from the
// removal carries both the key and the id (ipcrm reports the id: "permission
// denied for key (<id>)").
func RemoveKey(kind Kind, key Key) error {
	id, err := IDForKey(kind, key)
	if err != nil {
		err.(*Error).Op = "remove"
		return err
	}
	if err := Remove(kind, id); err != nil {
		err.(*Error).Key = key
		return err
	}
	return nil
}

// IDForKey returns the id of the object of kind that key names, with a get
// call and no flags (semget(key, 0, 0), msgget(key, 0), shmget(key, 0, 0)),
// which checks no permission. A key with no object gives an error that
// matches fs.ErrNotExist (ENOENT); Private names no existing object and
// gives EINVAL (ipcrm: "illegal key"), since a get with it would create one.
func IDForKey(kind Kind, key Key) (int, error) {
	fail := func(call string, e unix.Errno, detail string) (int, error) {
		return -1, &Error{Pkg: "ipc", Op: "look up", Kind: kind, ID: -1, Key: key, Call: call, Err: e, Detail: detail}
	}
	if key == Private {
		return fail("", unix.EINVAL, "the private key names no existing object")
	}
	switch kind {
	case Semaphore:
		id, e := sys.Semget(int32(key), 0, 0)
		if e != 0 {
			return fail("semget", e, "")
		}
		return id, nil
	case Queue:
		id, e := sys.Msgget(int32(key), 0)
		if e != 0 {
			return fail("msgget", e, "")
		}
		return id, nil
	case Segment:
		id, err := unix.SysvShmGet(int(key), 0, 0)
		if err != nil {
			return fail("shmget", err.(unix.Errno), "")
		}
		return id, nil
	}
	return -1, badKind("look up", kind)
}

func itoa(i int) string { return strconv.Itoa(i) }
