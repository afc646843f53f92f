package tests

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// ipcmk 2.38.1's cases, each scenario in a fresh namespace per
// tool. The keys are random, so the recorded objects leave them out.
func TestIpcmk(t *testing.T) {
	b := build(t)
	t.Run("across", func(t *testing.T) { makeAndRemoveAcross(t, b) })
	both := []flavour{linked, subcmd}
	for name, s := range map[string]scenario{
		"objects": {setup: "empty", randomKeys: true, cmds: cmds(
			"ipcmk -Q", "ipcmk --queue --mode 0600", "ipcmk -M 4096", "ipcmk --shmem 1K -p 600",
			"ipcmk -M 1MiB", "ipcmk -M 2KB", "ipcmk -S 3", "ipcmk --semaphore 1 -p 0640",
			"ipcmk -M 100 -Q -S 2 -p 0660", "ipcmk -S 2 -Q -M 100", "ipcmk -Q extra", "ipcmk -Q -p 0",
			"ipcmk -QS1 -p0400", "ipcmk --sh=10 --q",
		)},
		"modes the packages refuse": {setup: "empty", randomKeys: true, cmds: cmds(
			"ipcmk -Q -p 01777", "ipcmk -Q -p 0777", "ipcmk -S 1 -p 0777", "ipcmk -M 1 -p 0755", "ipcmk -Q -p -1",
		)},
		"sizes": {setup: "empty", randomKeys: true, cmds: cmds(
			"ipcmk -M 1.5K", "ipcmk -M 1.05K", "ipcmk -M 1.0K", "ipcmk -M 1.K", "ipcmk -M 0x10K", "ipcmk -M 010",
			"ipcmk -M 1KiB", "ipcmk -M 1kb", "ipcmk -M 1Kib", "ipcmk -M ' 12'", "ipcmk -M 1.000000000000000000000005K",
			"ipcmk -M 12345678901",
		)},
		"size errors": {setup: "empty", randomKeys: true, cmds: cmds(
			"ipcmk -M abc", "ipcmk -M ''", "ipcmk -M 0", "ipcmk -M 1.0", "ipcmk -M 1.", "ipcmk -M 2.5",
			"ipcmk -M 1.5.5K", "ipcmk -M '12 '", "ipcmk -M 1.99999999999999999999999K", "ipcmk -M -1",
			"ipcmk -M 99999999999999999999", "ipcmk -M 20E", "ipcmk -M 1e", "ipcmk -M 16E", "ipcmk -M 1X",
		)},
		"other errors": {setup: "empty", randomKeys: true, cmds: cmds(
			"ipcmk", "ipcmk -S 0", "ipcmk -S -1", "ipcmk -S abc", "ipcmk -S 99999999999", "ipcmk -Q -p 999",
			"ipcmk -Q -p abc", "ipcmk -Q -p ''", "ipcmk -Q -p 077777777777777777777777777", "ipcmk -x",
			"ipcmk -M", "ipcmk --mode", "ipcmk --foo", "ipcmk extra", "ipcmk -M 10 -S 0 -Q",
			"ipcmk -p 600", "ipcmk --queue=1", "ipcmk -S 100000",
		)},
		"as nobody": {setup: "empty", randomKeys: true, cmds: cmds("nobody ipcmk -Q -p 0600", "nobody ipcmk -M 10K -S 1")},
		"help":      {setup: "empty", randomKeys: true, cmds: cmds("ipcmk -h", "ipcmk --help")},
	} {
		flavours := both
		if name == "help" {
			flavours = []flavour{linked}
		}
		t.Run(name, func(t *testing.T) { b.compare(t, s, flavours...) })
	}
}

var idLine = regexp.MustCompile(`^(Shared memory|Message queue|Semaphore) id: (\d+)\n$`)

// Objects made by one tool are removed by the other, by id and by key.
func makeAndRemoveAcross(t *testing.T, b *bin) {
	mkObj := func(f flavour, opt string, rest ...string) int {
		t.Helper()
		p, a := b.argv(f, "ipcmk", append([]string{opt}, rest...)...)
		r := run(t, p, a, runOpts{})
		m := idLine.FindStringSubmatch(r.stdout)
		if r.code != 0 || m == nil || r.stderr != "" {
			t.Fatalf("%v %s: %v", a, opt, r)
		}
		id, _ := strconv.Atoi(m[2])
		switch opt {
		case "-Q":
			t.Cleanup(func() { sys.MsgctlDS(id, unix.IPC_RMID, nil) })
		case "-M":
			t.Cleanup(func() { unix.SysvShmCtl(id, unix.IPC_RMID, nil) })
		case "-S":
			t.Cleanup(func() { sys.SemctlInt(id, 0, unix.IPC_RMID, 0) })
		}
		return id
	}
	keyOf := func(kind string, id int) string {
		t.Helper()
		p, a := b.argv(real, "ipcs", kind)
		for _, line := range strings.Split(run(t, p, a, runOpts{}).stdout, "\n") {
			if w := strings.Fields(line); len(w) > 2 && w[1] == strconv.Itoa(id) {
				return w[0]
			}
		}
		t.Fatalf("no id %d in ipcs %s", id, kind)
		return ""
	}
	gone := func(kind string, id int) {
		t.Helper()
		p, a := b.argv(real, "ipcs", kind, "-i", strconv.Itoa(id))
		if r := run(t, p, a, runOpts{}); !strings.HasSuffix(r.stderr, "id "+strconv.Itoa(id)+" not found\n") {
			t.Errorf("%s %d still there: %v", kind, id, r)
		}
	}
	remove := func(f flavour, rmArgs ...string) {
		t.Helper()
		p, a := b.argv(f, "ipcrm", rmArgs...)
		if r := run(t, p, a, runOpts{}); r.code != 0 || r.stdout != "" || r.stderr != "" {
			t.Errorf("%v: %v", a, r)
		}
	}
	for _, c := range []struct {
		opt, kind, byID, byKey string
		rest                   []string
	}{
		{"-Q", "-q", "-q", "-Q", nil},
		{"-M", "-m", "-m", "-M", []string{"4096"}},
		{"-S", "-s", "-s", "-S", []string{"2"}},
	} {
		for _, maker := range []flavour{real, linked, subcmd} {
			for _, remover := range []flavour{real, linked, subcmd} {
				if (maker == real) == (remover == real) {
					continue // one side must be ipc
				}
				id := mkObj(maker, c.opt, c.rest...)
				remove(remover, c.byID, strconv.Itoa(id))
				gone(c.kind, id)
				id = mkObj(maker, c.opt, c.rest...)
				remove(remover, c.byKey, keyOf(c.kind, id))
				gone(c.kind, id)
			}
		}
	}
}
