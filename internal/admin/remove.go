package admin

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ipctoolkit/ipc/internal/sys"
	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/msgq"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/ipctoolkit/ipc/shm"
	"golang.org/x/sys/unix"
)

// Outcome is what Remove did with one orphan.
type Outcome string

// The outcomes of Remove.
const (
	Removed      Outcome = "removed"
	WouldRemove  Outcome = "would remove" // a dry run
	Vanished     Outcome = "vanished"     // removed by someone else meanwhile
	Changed      Outcome = "changed"      // its id names another object now, or it was used
	NotPermitted Outcome = "not permitted"
	Failed       Outcome = "failed"
)

// Remove removes the orphan v (IPC_RMID), unless it vanished or changed
// since it was judged, or the caller may not remove it. The kernel lets
// the owner, the creator and a holder of CAP_SYS_ADMIN remove an object:
// anything else is refused here without a system call. detail says what
// was found instead when the outcome is not Removed or WouldRemove.
//
// Ids are reused as soon as an object is removed, so the object is read
// again by id and must have the key and ctime it was judged with (and no
// later use) before it is removed. The window between that check and the
// removal is one system call wide.
func Remove(v Verdict, dryRun bool) (out Outcome, detail string) {
	if why := mayRemove(v.Perm); why != "" {
		return NotPermitted, why
	}
	now, found, err := reread(v.Kind, v.ID)
	if err != nil {
		return Failed, strings.TrimPrefix(err.Error(), "ipc: ")
	}
	if !found {
		return Vanished, "no " + v.Kind.String() + " has id " + strconv.Itoa(v.ID) + " any more"
	}
	if d := differs(v.sig, now); d != "" {
		return Changed, d
	}
	if dryRun {
		return WouldRemove, ""
	}
	if err := ipc.Remove(v.Kind, v.ID); err != nil {
		switch {
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EIDRM):
			return Vanished, "removed meanwhile"
		case errors.Is(err, unix.EPERM):
			return NotPermitted, strings.TrimPrefix(err.Error(), "ipc: ")
		}
		return Failed, strings.TrimPrefix(err.Error(), "ipc: ")
	}
	return Removed, ""
}

func differs(was, now signature) string {
	switch {
	case now.key != was.key:
		return fmt.Sprintf("its id now has key %s, not %s: another object", now.key, was.key)
	case !now.ctime.Equal(was.ctime):
		return fmt.Sprintf("its change time is now %s, not %s: another object, or its permissions changed", clock(now.ctime), clock(was.ctime))
	case now.nattch != 0:
		return fmt.Sprintf("attached again (%s)", Plural(int(now.nattch), "attachment"))
	case !now.used.Equal(was.used) || now.lspid != was.lspid || now.lrpid != was.lrpid:
		return "used again at " + clock(now.used)
	}
	return ""
}

// The signatures of the three kinds of object.
func segmentSig(s shm.Info) signature {
	return signature{key: s.Perm.Key, ctime: s.CTime, used: latest(s.ATime, s.DTime, s.CTime), nattch: uint64(s.NAttch)}
}

func queueSig(q msgq.Info) signature {
	return signature{key: q.Perm.Key, ctime: q.CTime, used: latest(q.STime, q.RTime, q.CTime), lspid: q.LSPID, lrpid: q.LRPID}
}

func setSig(s sem.Info) signature {
	return signature{key: s.Perm.Key, ctime: s.CTime, used: latest(s.OTime, s.CTime)}
}

// reread reads the object of kind with id again: with IPC_STAT, one
// system call, or where the caller may not read it (EACCES), from a fresh
// listing.
func reread(kind ipc.Kind, id int) (signature, bool, error) {
	sig, found, e := stat(kind, id)
	switch e {
	case 0:
		return sig, found, nil
	case unix.EINVAL, unix.EIDRM:
		return signature{}, false, nil
	}
	switch kind {
	case ipc.Segment:
		return find(shm.List, id, func(s shm.Info) int { return s.ID }, segmentSig)
	case ipc.Queue:
		return find(msgq.List, id, func(q msgq.Info) int { return q.ID }, queueSig)
	case ipc.Semaphore:
		return find(sem.List, id, func(s sem.Info) int { return s.ID }, setSig)
	}
	return signature{}, false, fmt.Errorf("unknown kind %v", kind)
}

// stat is IPC_STAT on id. found is false, with no errno, for an id that
// names nothing.
func stat(kind ipc.Kind, id int) (sig signature, found bool, e unix.Errno) {
	switch kind {
	case ipc.Segment:
		var ds unix.SysvShmDesc
		if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &ds); err != nil {
			e, _ = err.(unix.Errno)
			return sig, false, e
		}
		return signature{key: ipc.Key(ds.Perm.Key), ctime: when(ds.Ctime),
			used: latest(when(ds.Atime), when(ds.Dtime), when(ds.Ctime)), nattch: ds.Nattch}, true, 0
	case ipc.Queue:
		var ds sys.MsqidDS
		if _, e := sys.MsgctlDS(id, unix.IPC_STAT, &ds); e != 0 {
			return sig, false, e
		}
		return signature{key: ipc.Key(ds.Perm.Key), ctime: when(ds.Ctime),
			used: latest(when(ds.Stime), when(ds.Rtime), when(ds.Ctime)), lspid: int(ds.Lspid), lrpid: int(ds.Lrpid)}, true, 0
	case ipc.Semaphore:
		var ds sys.SemidDS
		if _, e := sys.SemctlDS(id, unix.IPC_STAT, &ds); e != 0 {
			return sig, false, e
		}
		return signature{key: ipc.Key(ds.Perm.Key), ctime: when(ds.Ctime), used: latest(when(ds.Otime), when(ds.Ctime))}, true, 0
	}
	return sig, false, unix.EINVAL
}

// when is the kernel's "seconds, 0 for never" as the listings give it.
func when(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}

func find[T any](list func() ([]T, error), id int, idOf func(T) int, sig func(T) signature) (signature, bool, error) {
	all, err := list()
	if err != nil {
		return signature{}, false, err
	}
	for _, o := range all {
		if idOf(o) == id {
			return sig(o), true, nil
		}
	}
	return signature{}, false, nil
}

// mayRemove says why the caller may not remove an object with perm, or ""
// if it may: IPC_RMID wants the effective uid to be the owner's or the
// creator's, or CAP_SYS_ADMIN.
func mayRemove(p ipc.Perm) string {
	euid := uint32(os.Geteuid())
	if euid == p.UID || euid == p.CUID || hasSysAdmin() {
		return ""
	}
	return fmt.Sprintf("not yours (owner %d, creator %d; you are %d without CAP_SYS_ADMIN)", p.UID, p.CUID, euid)
}

// hasSysAdmin reports (once) whether CAP_SYS_ADMIN is in the effective set
// (/proc/self/status CapEff).
var hasSysAdmin = sync.OnceValue(func() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<unix.CAP_SYS_ADMIN) != 0
		}
	}
	return false
})
