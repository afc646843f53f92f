package ipcobj_test

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/msgq"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/ipctoolkit/ipc/shm"
	"golang.org/x/sys/unix"
)

// TestRemovedID: a call on an id removed earlier matches ipc.ErrRemoved, as
// the documentation promises, and fs.ErrNotExist, and still the kernel's
// EINVAL (issue 9, defect 5); an EINVAL about an object that exists matches
// neither.
func TestRemovedID(t *testing.T) {
	set, err := sem.Create(ipc.Private, 1, 0o600)
	mustNil(t, err)
	q, err := msgq.Create(ipc.Private, 0o600)
	mustNil(t, err)
	seg, err := shm.Create(ipc.Private, 4096, 0o600)
	mustNil(t, err)
	for _, r := range []interface{ Remove() error }{set, q, seg} {
		mustNil(t, r.Remove())
	}
	buf := make([]byte, 8)
	_, semStat := set.Stat()
	_, semVal := set.Value(0)
	_, msgStat := q.Stat()
	_, _, msgRecv := q.Receive(buf, msgq.Any(), msgq.NoWait)
	_, shmStat := seg.Stat()
	_, shmAttach := seg.Attach(0)
	for name, err := range map[string]error{
		"sem Do": set.Do(sem.Inc(0, 1, 0)), "sem Stat": semStat, "sem Value": semVal,
		"sem SetMode": set.SetMode(0o600), "sem Remove": set.Remove(),
		"msgq Send": q.Send(1, buf, msgq.NoWait), "msgq Receive": msgRecv, "msgq Stat": msgStat,
		"msgq SetMaxBytes": q.SetMaxBytes(100), "msgq Remove": q.Remove(),
		"shm Stat": shmStat, "shm Attach": shmAttach, "shm SetOwner": seg.SetOwner(0, 0), "shm Remove": seg.Remove(),
	} {
		if !errors.Is(err, ipc.ErrRemoved) || !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, unix.EINVAL) {
			t.Errorf("%s on a removed id: %v; want it to match ipc.ErrRemoved, fs.ErrNotExist and EINVAL", name, err)
		}
	}
	for _, fromID := range []func() error{
		func() error { _, err := sem.FromID(set.ID()); return err },
		func() error { _, err := msgq.FromID(q.ID()); return err },
		func() error { _, err := shm.FromID(seg.ID()); return err },
	} {
		if err := fromID(); !errors.Is(err, ipc.ErrRemoved) {
			t.Errorf("FromID of a removed id: %v", err)
		}
	}

	// EINVAL about a live object is not a removal.
	live, err := shm.Create(ipc.Private, 4096, 0o600)
	mustNil(t, err)
	defer live.Remove()
	_, err = live.AttachAt(1, 0) // not page-aligned, no Round
	if !errors.Is(err, unix.EINVAL) || errors.Is(err, ipc.ErrRemoved) || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("AttachAt an unaligned address: %v; want EINVAL only", err)
	}
}
