package ipc

import (
	"errors"
	"io/fs"
	"strconv"
	"strings"
	"testing"

	"github.com/ipctoolkit/ipc/internal/ipcobj"
	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

func newOf(t *testing.T, kind Kind, mode Mode) (int, Key) {
	t.Helper()
	switch kind {
	case Semaphore:
		return newSemSet(t, 1, mode)
	case Queue:
		return newQueue(t, mode)
	default:
		return newSegment(t, 1, mode)
	}
}

func exists(t *testing.T, kind Kind, id int) bool {
	t.Helper()
	switch kind {
	case Semaphore:
		return ipcobj.Sem.Exists(id)
	case Queue:
		return ipcobj.Msg.Exists(id)
	}
	return ipcobj.Shm.Exists(id)
}

var kinds = []Kind{Semaphore, Queue, Segment}

func TestRemove(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind.String(), func(t *testing.T) {
			id, _ := newOf(t, kind, 0o600)
			if err := Remove(kind, id); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			if exists(t, kind, id) {
				t.Fatalf("%v %d still listed after Remove", kind, id)
			}

			// Again: the id names nothing now (ipcrm: "invalid id").
			err := Remove(kind, id)
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, unix.EINVAL) || e.ID != id || e.Kind != kind || e.Op != "remove" ||
				!strings.HasSuffix(e.Call, "(IPC_RMID)") {
				t.Fatalf("Remove of a removed id = %#v", err)
			}
			want := "ipc: remove " + kind.String() + " " + strconv.Itoa(id) + ": invalid argument or no such id"
			if err.Error() != want {
				t.Errorf("text %q, want %q", err, want)
			}

			if err := Remove(kind, -5); !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "-5") {
				t.Errorf("Remove(%v, -5) = %v", kind, err)
			}
		})
	}
	if err := Remove(Kind(0), 1); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Remove of kind 0 = %v", err)
	}
}

func TestRemoveKey(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind.String(), func(t *testing.T) {
			id, key := newOf(t, kind, 0o600)
			got, err := IDForKey(kind, key)
			if err != nil || got != id {
				t.Fatalf("IDForKey(%v) = %d, %v; want %d", key, got, err, id)
			}
			if err := RemoveKey(kind, key); err != nil {
				t.Fatalf("RemoveKey: %v", err)
			}
			if exists(t, kind, id) {
				t.Fatalf("%v %d still listed after RemoveKey", kind, id)
			}

			// The key names nothing now (ipcrm: "invalid key").
			err = RemoveKey(kind, key)
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, unix.ENOENT) ||
				e.ID != -1 || e.Key != key || e.Op != "remove" || e.Call == "" {
				t.Fatalf("RemoveKey of a free key = %#v", err)
			}
			want := "ipc: remove " + kind.String() + " with key " + key.String() + ": does not exist"
			if err.Error() != want {
				t.Errorf("text %q, want %q", err, want)
			}
			if _, err := IDForKey(kind, key); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("IDForKey of a free key = %v", err)
			}

			// The private key never names an existing object; a get with it
			// would create one, so it must not be tried.
			before := countAll(t)
			if err := RemoveKey(kind, Private); !errors.Is(err, unix.EINVAL) {
				t.Errorf("RemoveKey(Private) = %v, want EINVAL", err)
			}
			if after := countAll(t); after != before {
				t.Errorf("RemoveKey(Private) changed the object count from %d to %d", before, after)
			}
		})
	}
	if err := RemoveKey(Kind(7), 0x1234); !errors.Is(err, unix.EINVAL) {
		t.Errorf("RemoveKey of kind 7 = %v", err)
	}
}

func countAll(t *testing.T) int {
	n := 0
	for _, file := range []string{"sem", "msg", "shm"} {
		if err := ipcobj.ReadProc(ipcobj.ProcDir+"/"+file, 2, func(*ipcobj.Row) { n++ }); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// TestRemoveAttachedSegment: removing an attached segment only marks it; the
// key is gone at once, the id stays valid (removing it again is no error)
// until the last detach.
func TestRemoveAttachedSegment(t *testing.T) {
	id, key := newSegment(t, 4096, 0o600)
	mem, err := unix.SysvShmAttach(id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := RemoveKey(Segment, key); err != nil {
		t.Fatal(err)
	}
	var ds unix.SysvShmDesc
	if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &ds); err != nil || ds.Perm.Mode&sys.SHM_DEST == 0 || ds.Perm.Key != 0 {
		t.Fatalf("after RemoveKey while attached: %+v, %v", ds, err)
	}
	if err := RemoveKey(Segment, key); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("RemoveKey of the cleared key = %v, want fs.ErrNotExist", err)
	}
	if err := Remove(Segment, id); err != nil {
		t.Errorf("Remove of a segment already marked = %v, want nil", err)
	}
	if err := unix.SysvShmDetach(mem); err != nil {
		t.Fatal(err)
	}
	if exists(t, Segment, id) {
		t.Errorf("segment %d outlived its last detach", id)
	}
}

// TestRemoveAsNobody: an unprivileged user who neither owns nor created the
// object gets EPERM (ipcrm: "permission denied for id"), whatever the mode,
// by id and by key; the key lookup itself checks nothing, so the error names
// the id as well as the key.
func TestRemoveAsNobody(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind.String(), func(t *testing.T) {
			id, key := newOf(t, kind, 0o666)
			ids := strconv.Itoa(id)
			out := runOp(t, true, "remove", kindArg(kind), ids)
			want := "err|1|" + callOf(kind) + "|" + ids + "|0x00000000|true|ipc: remove " + kind.String() + " " + ids + ": operation not permitted"
			if out != want {
				t.Errorf("Remove as nobody:\n got  %q\n want %q", out, want)
			}
			out = runOp(t, true, "removekey", kindArg(kind), key.String())
			want = "err|1|" + callOf(kind) + "|" + ids + "|" + key.String() + "|true|"
			if !strings.HasPrefix(out, want) {
				t.Errorf("RemoveKey as nobody:\n got  %q\n want %q...", out, want)
			}
			if !exists(t, kind, id) {
				t.Errorf("nobody removed root's %v", kind)
			}
			// A missing key is reported as such to nobody too.
			if out := runOp(t, true, "removekey", kindArg(kind), "0x7ffffffe"); !strings.HasPrefix(out, "err|2|") {
				t.Errorf("RemoveKey of a free key as nobody: %q", out)
			}
		})
	}
}

func callOf(kind Kind) string {
	return map[Kind]string{Semaphore: "semctl", Queue: "msgctl", Segment: "shmctl"}[kind] + "(IPC_RMID)"
}
