package ipcobj_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/msgq"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/ipctoolkit/ipc/shm"
)

// handle is what the three families' handles share for IPC_SET.
type handle interface {
	SetMode(ipc.Mode) error
	SetOwner(uid, gid uint32) error
	Remove() error
}

func init() {
	// owner0: as an unprivileged user, make an object of each family with
	// mode 0 (so that the owner may not read it), then change its mode and
	// its owner (to itself), which the kernel allows the owner; print one
	// line per family.
	ipctest.Register("owner0", func(args []string) int {
		uid, gid := uint32(os.Geteuid()), uint32(os.Getegid())
		for _, c := range []struct {
			name string
			make func() (handle, error)
		}{
			{"sem", func() (handle, error) { return sem.Create(ipc.Private, 1, 0) }},
			{"msg", func() (handle, error) { return msgq.Create(ipc.Private, 0) }},
			{"shm", func() (handle, error) { return shm.Create(ipc.Private, 1, 0) }},
		} {
			h, err := c.make()
			if err != nil {
				fmt.Println(c.name, "create:", err)
				continue
			}
			errMode := h.SetMode(0o640)
			errOwner := h.SetOwner(uid, gid)
			fmt.Println(c.name, errMode, errOwner)
			if err := h.Remove(); err != nil {
				fmt.Println(c.name, "remove:", err)
			}
		}
		return 0
	})
}

// TestSetOnUnreadable: the owner of a mode-0000 object may change its mode
// and owner (IPC_SET checks ownership, not read permission), though the
// read that IPC_SET's read-modify-write starts with needs read permission
// with IPC_STAT: it is made with *_STAT_ANY instead (issue 9, defect 4).
func TestSetOnUnreadable(t *testing.T) {
	got := run(t, "owner0")
	for _, fam := range []string{"sem", "msg", "shm"} {
		if want := fam + " <nil> <nil>"; !strings.Contains(got+"\n", want+"\n") {
			t.Errorf("the owner's SetMode and SetOwner on its mode-0 %s: got\n%s\nwant a line %q", fam, got, want)
		}
	}
	if strings.Contains(got, "create:") || strings.Contains(got, "remove:") {
		t.Errorf("child: %s", got)
	}
}
