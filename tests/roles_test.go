package tests

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// The roles children of these tests run. Objects are made and used with
// the raw system calls, so that the only code of this module under test is
// the ipc binary.
func init() {
	// hold ID...: attach each segment and keep it attached until stdin
	// closes.
	ipctest.Register("hold", func(args []string) int {
		for _, a := range args {
			id, _ := strconv.Atoi(a)
			if _, err := unix.SysvShmAttach(id, 0, 0); err != nil {
				fmt.Fprintln(os.Stderr, "shmat:", err)
				return 1
			}
		}
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
		return 0
	})
	// semwait ID NUM OP: block in semop(OP) on semaphore NUM until stdin
	// closes.
	ipctest.Register("semwait", func(args []string) int {
		id, num, op := atoi(args[0]), atoi(args[1]), atoi(args[2])
		fmt.Println("ready")
		go func() {
			io.Copy(io.Discard, os.Stdin)
			os.Exit(0)
		}()
		e := sys.Semop(id, []sys.Sembuf{{Num: uint16(num), Op: int16(op)}})
		fmt.Fprintln(os.Stderr, "semop returned:", e)
		return 1
	})
	// once OP ID [N...]: one operation, then exit: touch (attach and detach
	// a segment), semop NUM DELTA, msgrcv.
	ipctest.Register("once", func(args []string) int {
		id := atoi(args[1])
		switch args[0] {
		case "touch":
			b, err := unix.SysvShmAttach(id, 0, 0)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			unix.SysvShmDetach(b)
		case "semop":
			if e := sys.Semop(id, []sys.Sembuf{{Num: uint16(atoi(args[2])), Op: int16(atoi(args[3]))}}); e != 0 {
				fmt.Fprintln(os.Stderr, e)
				return 1
			}
		case "msgrcv":
			buf := make([]byte, sys.LongSize+8192)
			if _, e := sys.Msgrcv(id, buf, 8192, 0, unix.IPC_NOWAIT); e != 0 {
				fmt.Fprintln(os.Stderr, e)
				return 1
			}
		default:
			return 2
		}
		return 0
	})
	ipctest.Register("scenario", runScenario)
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// once runs the "once" role to completion.
func once(t *testing.T, args ...string) {
	t.Helper()
	cmd := ipctest.Command(t, "once", args...)
	cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	if code := ipctest.RunChild(t, cmd); code != 0 {
		t.Fatalf("once %q: exit %d", args, code)
	}
}

// ---- making objects with the raw calls ----

// maker makes objects, as root or as another user, and reports failures
// through fail (t.Fatalf in a test, a panic-free exit in a scenario).
type maker struct {
	fail    func(format string, a ...any)
	cleanup func(func()) // nil: the namespace dies with the process
}

// as runs fn with the effective uid and gid set to uid and gid, so that
// the objects it makes have them as creator and owner. The real and saved
// ids stay root, which lets the process switch back.
func (m maker) as(uid, gid int, fn func()) {
	if err := syscall.Setresgid(-1, gid, -1); err != nil {
		m.fail("setresgid %d: %v", gid, err)
	}
	if err := syscall.Setresuid(-1, uid, -1); err != nil {
		m.fail("setresuid %d: %v", uid, err)
	}
	defer func() {
		if err := syscall.Setresuid(-1, 0, -1); err != nil {
			panic(err) // cannot go on as the wrong user
		}
		if err := syscall.Setresgid(-1, 0, -1); err != nil {
			panic(err)
		}
	}()
	fn()
}

func (m maker) queue(key uint32, mode int) int {
	flags := unix.IPC_CREAT | mode
	if key != 0 {
		flags |= unix.IPC_EXCL
	}
	id, e := sys.Msgget(int32(key), flags)
	if e != 0 {
		m.fail("msgget %#x: %v", key, e)
	}
	if m.cleanup != nil {
		m.cleanup(func() { sys.MsgctlDS(id, unix.IPC_RMID, nil) })
	}
	return id
}

func (m maker) set(key uint32, nsems, mode int) int {
	flags := unix.IPC_CREAT | mode
	if key != 0 {
		flags |= unix.IPC_EXCL
	}
	id, e := sys.Semget(int32(key), nsems, flags)
	if e != 0 {
		m.fail("semget %#x: %v", key, e)
	}
	if m.cleanup != nil {
		m.cleanup(func() { sys.SemctlInt(id, 0, unix.IPC_RMID, 0) })
	}
	return id
}

func (m maker) segment(key uint32, size, mode int) int {
	flags := unix.IPC_CREAT | mode
	if key != 0 {
		flags |= unix.IPC_EXCL
	}
	id, err := unix.SysvShmGet(int(int32(key)), size, flags)
	if err != nil {
		m.fail("shmget %#x %d: %v", key, size, err)
	}
	if m.cleanup != nil {
		m.cleanup(func() { unix.SysvShmCtl(id, unix.IPC_RMID, nil) })
	}
	return id
}

func (m maker) send(id, n int) {
	buf := make([]byte, sys.LongSize+n)
	binary.NativeEndian.PutUint64(buf, 1)
	if e := sys.Msgsnd(id, buf, n, unix.IPC_NOWAIT); e != 0 {
		m.fail("msgsnd %d bytes: %v", n, e)
	}
}

func (m maker) setval(id, num, val int) {
	if _, e := sys.SemctlInt(id, num, sys.SETVAL, val); e != 0 {
		m.fail("SETVAL: %v", e)
	}
}

func (m maker) lock(id int) {
	if _, err := unix.SysvShmCtl(id, sys.SHM_LOCK, nil); err != nil {
		m.fail("SHM_LOCK: %v", err)
	}
}

func (m maker) rmid(id int) {
	if _, err := unix.SysvShmCtl(id, unix.IPC_RMID, nil); err != nil {
		m.fail("IPC_RMID: %v", err)
	}
}

// chownQueue, chownSet and chownSegment change an object's owner with
// IPC_SET, leaving its creator.
func (m maker) chownQueue(id int, uid, gid uint32) {
	var ds sys.MsqidDS
	if _, e := sys.MsgctlDS(id, unix.IPC_STAT, &ds); e != 0 {
		m.fail("IPC_STAT: %v", e)
	}
	ds.Perm.Uid, ds.Perm.Gid = uid, gid
	if _, e := sys.MsgctlDS(id, unix.IPC_SET, &ds); e != 0 {
		m.fail("IPC_SET: %v", e)
	}
}

func (m maker) chownSet(id int, uid, gid uint32) {
	var ds sys.SemidDS
	if _, e := sys.SemctlDS(id, unix.IPC_STAT, &ds); e != 0 {
		m.fail("IPC_STAT: %v", e)
	}
	ds.Perm.Uid, ds.Perm.Gid = uid, gid
	if _, e := sys.SemctlDS(id, unix.IPC_SET, &ds); e != 0 {
		m.fail("IPC_SET: %v", e)
	}
}

func (m maker) chownSegment(id int, uid, gid uint32) {
	var ds unix.SysvShmDesc
	if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &ds); err != nil {
		m.fail("IPC_STAT: %v", err)
	}
	ds.Perm.Uid, ds.Perm.Gid = uid, gid
	if _, err := unix.SysvShmCtl(id, unix.IPC_SET, &ds); err != nil {
		m.fail("IPC_SET: %v", err)
	}
}

// ---- scenarios: a fresh IPC namespace per tool ----

// A scenario is a set of objects made in a new IPC namespace, where ids
// start at 0, and commands run one after another on them; after each the
// state of /proc/sysvipc is recorded. Running the same scenario once with
// util-linux and once with ipc must give the same transcripts.
type scenario struct {
	setup      string     // name of a setup in setups
	cmds       [][]string // tool and arguments; a first word "nobody" runs the rest as nobody
	randomKeys bool       // the objects' keys are random: leave them out of the state
}

// step is what one command of a scenario did.
type step struct {
	Cmd    string
	Result result
	State  string
}

func (r *result) UnmarshalJSON(b []byte) error {
	var v struct {
		Stdout, Stderr string
		Code           int
	}
	err := json.Unmarshal(b, &v)
	*r = result{v.Stdout, v.Stderr, v.Code}
	return err
}

func (r result) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Stdout, Stderr string
		Code           int
	}{r.stdout, r.stderr, r.code})
}

// play runs scenario s with flavour f in a new IPC namespace.
func (b *bin) play(t *testing.T, s scenario, f flavour) []step {
	t.Helper()
	args := []string{b.dir, strconv.Itoa(int(f)), s.setup, strconv.FormatBool(!s.randomKeys)}
	for _, c := range s.cmds {
		args = append(args, strings.Join(c, "\x1e"))
	}
	cmd := ipctest.Command(t, "scenario", args...)
	cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWIPC
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scenario %s (%v): %v", s.setup, f, err)
	}
	var steps []step
	if err := json.Unmarshal(out, &steps); err != nil {
		t.Fatalf("scenario %s (%v): %v\n%s", s.setup, f, err, out)
	}
	return steps
}

// compare plays s with util-linux and with each flavour of ipc and
// requires the same output, status and resulting objects at every step.
func (b *bin) compare(t *testing.T, s scenario, flavours ...flavour) {
	t.Helper()
	want := b.play(t, s, real)
	for _, f := range flavours {
		got := b.play(t, s, f)
		if len(got) != len(want) {
			t.Fatalf("%v: %d steps, want %d", f, len(got), len(want))
		}
		for i := range want {
			w := want[i]
			tool := s.cmds[i][0]
			if tool == "nobody" {
				tool = s.cmds[i][1]
			}
			if f == subcmd {
				w.Result = asSubcommand(tool, w.Result)
			}
			if got[i].Result.String() != w.Result.String() {
				t.Errorf("%s (%v):\n--- util-linux\n%s--- ipc\n%s%s", w.Cmd, f, w.Result, got[i].Result,
					diffLines(w.Result.String(), got[i].Result.String()))
			}
			if got[i].State != w.State {
				t.Errorf("%s (%v): objects left differ:\n--- util-linux\n%s--- ipc\n%s", w.Cmd, f, w.State, got[i].State)
			}
		}
	}
}

// setups make the objects of a scenario; they run in the scenario's
// process, as root.
var setups = map[string]func(m maker){
	"empty": func(maker) {},
	// The objects of the ipcrm error cases (util-linux 2.38.1).
	"errors": func(m maker) {
		m.queue(0x1234, 0o600)
		m.queue(0x2345, 0o644)
		m.as(nobody, nobody, func() { m.queue(0x3456, 0o600) })
		m.queue(0xffffffff, 0o600)
		m.queue(0x10, 0o600)
		m.segment(0x4567, 4096, 0o600)
		m.set(0x5678, 2, 0o600)
	},
	// Two of each kind, for the legacy form and -a.
	"pairs": func(m maker) {
		m.queue(0x1111, 0o600)
		m.queue(0x2222, 0o600)
		m.segment(0, 4096, 0o600)
		m.segment(0x3333, 4096, 0o600)
		m.set(0x4444, 1, 0o600)
		m.set(0, 3, 0o600)
	},
	// Keys at the edges of key_t.
	"keys": func(m maker) {
		m.set(0x80000000, 1, 0o600)
		m.set(0x7fffffff, 2, 0o600)
		m.queue(0xffffffff, 0o600)
		m.queue(0x1234, 0o600)
		m.queue(0x4242, 0o600)
		m.queue(0xabc, 0o600)
		m.segment(0xdeadbeef, 4096, 0o600)
	},
	// A segment attached by the scenario's process itself: removal only
	// marks it.
	"attached": func(m maker) {
		id := m.segment(0x5555, 8192, 0o644)
		if _, err := unix.SysvShmAttach(id, 0, 0); err != nil {
			m.fail("shmat: %v", err)
		}
		m.queue(0x1234, 0o600)
	},
	// Objects of several users for ipcrm -a as nobody.
	"owners": func(m maker) {
		m.queue(0x1234, 0o600)
		m.queue(0x2345, 0o644)
		m.as(nobody, nobody, func() {
			m.queue(0x3456, 0o600)
			m.segment(0x3457, 4096, 0o600)
			m.set(0x3458, 1, 0o600)
		})
		m.segment(0x4567, 4096, 0o644)
		m.set(0x5678, 1, 0o644)
		m.set(0x5679, 1, 0o600)
	},
	// For lsipc --global: 2.38.1 counts SEMMNS as sets x the size of the
	// first set, so all sets have the same size here.
	"global": func(m maker) {
		q := m.queue(0x1234, 0o600)
		m.send(q, 5000)
		m.queue(0, 0o644)
		m.segment(0x4567, 1<<20, 0o600)
		m.segment(0, 5000, 0o600)
		m.segment(0, 12345678, 0o640)
		m.set(0x5678, 2, 0o600)
		m.set(0, 2, 0o600)
	},
	// Sets of different sizes, where 2.38.1's SEMMNS is wrong.
	"semmns": func(m maker) {
		m.set(0, 3, 0o600)
		m.set(0, 2, 0o600)
		m.set(0, 1, 0o600)
	},
	// An object whose creator's group differs from its uid: 2.38.1's
	// lsipc -c prints the creator's uid as CGID for queues and segments.
	"cgid": func(m maker) {
		m.as(4242, 4343, func() {
			m.queue(0x1234, 0o600)
			m.segment(0x1235, 4096, 0o600)
			m.set(0x1236, 1, 0o600)
		})
	},
}

func runScenario(args []string) int {
	dir, f, setup := args[0], flavour(atoi(args[1])), args[2]
	keys := args[3] == "true"
	failed := false
	m := maker{fail: func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "scenario %s: "+format+"\n", append([]any{setup}, a...)...)
		failed = true
	}}
	fn, ok := setups[setup]
	if !ok {
		fmt.Fprintln(os.Stderr, "no setup", setup)
		return 2
	}
	fn(m)
	if failed {
		return 1
	}
	b := &bin{dir: dir, ipc: filepath.Join(dir, "ipc")}
	var steps []step
	for _, c := range args[4:] {
		words := strings.Split(c, "\x1e")
		o := runOpts{}
		if words[0] == "nobody" {
			o.nobody = true
			words = words[1:]
		}
		path, argv := b.argv(f, words[0], words[1:]...)
		r, err := runPlain(path, argv, o)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		steps = append(steps, step{Cmd: strings.Join(strings.Split(c, "\x1e"), " "), Result: r, State: state(keys)})
	}
	out, _ := json.Marshal(steps)
	os.Stdout.Write(out)
	return 0
}

// runPlain is run for a process that is not a test.
func runPlain(path string, argv []string, o runOpts) (result, error) {
	var r result
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("%v", p)
			}
		}()
		r = run(fatalTB{}, path, argv, o)
	}()
	return r, err
}

// fatalTB lets run be used outside a test: Fatalf panics, and runPlain
// turns the panic into an error.
type fatalTB struct{ testing.TB }

func (fatalTB) Helper()                           {}
func (fatalTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// state lists the objects of the namespace from /proc/sysvipc, without
// the fields that differ between two runs (times, pids) and, unless keys,
// without the keys.
func state(keys bool) string {
	var lines []string
	for _, kind := range []string{"msg", "shm", "sem"} {
		f, err := os.Open("/proc/sysvipc/" + kind)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan()
		for sc.Scan() {
			w := strings.Fields(sc.Text())
			if !keys {
				w[0] = "KEY"
			}
			var keep []string
			switch kind {
			case "msg": // key id perms cbytes qnum | uid gid cuid cgid
				keep = append(w[0:5:5], w[7:11]...)
			case "shm": // key id perms size | nattch uid gid cuid cgid
				keep = append(w[0:4:4], w[6:11]...)
			case "sem": // key id perms nsems uid gid cuid cgid
				keep = w[0:8]
			}
			lines = append(lines, kind+" "+strings.Join(keep, " "))
		}
		f.Close()
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}
