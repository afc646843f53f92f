package admin

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/internal/sys"
	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/msgq"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	// rm KEY: judge, as nobody, and try to remove the queue with KEY.
	ipctest.Register("rm", func(args []string) int {
		vs, err := Orphans(Options{OlderThanSet: true, Kinds: []ipc.Kind{ipc.Queue}})
		if err != nil {
			fmt.Println(err)
			return 1
		}
		for _, v := range vs {
			if v.Perm.Key.String() == args[0] {
				out, detail := Remove(v, false)
				fmt.Println(out, detail)
				return 0
			}
		}
		fmt.Println("not judged orphaned")
		return 1
	})
	// mkrm: make a queue with mode 0 (its owner may not read it, but may
	// remove it), judge it and remove it.
	ipctest.Register("mkrm", func(args []string) int {
		id, e := sys.Msgget(unix.IPC_PRIVATE, unix.IPC_CREAT) // mode 0
		if e != 0 {
			fmt.Println("msgget:", e)
			return 1
		}
		defer sys.MsgctlDS(id, unix.IPC_RMID, nil)
		if _, e := sys.MsgctlDS(id, unix.IPC_STAT, &sys.MsqidDS{}); e != unix.EACCES {
			fmt.Println("IPC_STAT of a mode-0 queue:", e)
			return 1
		}
		vs, err := Orphans(Options{OlderThanSet: true, Kinds: []ipc.Kind{ipc.Queue}})
		if err != nil {
			fmt.Println(err)
			return 1
		}
		for _, v := range vs {
			if v.ID == id {
				out, detail := Remove(v, false)
				fmt.Println(out, detail)
				return 0
			}
		}
		fmt.Println("not judged orphaned")
		return 1
	})
	ipctest.Main(m)
}

func newQueue(t *testing.T, key int32) int {
	t.Helper()
	id, e := sys.Msgget(key, unix.IPC_CREAT|unix.IPC_EXCL|0o600)
	if e != 0 {
		t.Fatalf("msgget %#x: %v", key, e)
	}
	t.Cleanup(func() { sys.MsgctlDS(id, unix.IPC_RMID, nil) })
	return id
}

// judged returns the verdict on the queue with id, judged by age.
func judged(t *testing.T, id int) Verdict {
	t.Helper()
	vs, err := Orphans(Options{OlderThanSet: true, Kinds: []ipc.Kind{ipc.Queue}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.ID == id {
			if v.Confidence != Unsure || !strings.Contains(strings.Join(v.Reasons, "; "), "never sent to nor received from") {
				t.Fatalf("verdict on a never used queue: %+v", v)
			}
			return v
		}
	}
	t.Fatalf("queue %d not judged orphaned", id)
	return Verdict{}
}

// TestRemove removes an orphan only if it is still the object that was
// judged: the same id, key and ctime, and not used since.
func TestRemove(t *testing.T) {
	if !ipctest.PrivateNamespace() {
		t.Skip("needs a private IPC namespace (root), to set msg_next_id")
	}
	const k1, k2 = 0x7101, 0x7102

	t.Run("removed", func(t *testing.T) {
		id := newQueue(t, k1)
		v := judged(t, id)
		if out, d := Remove(v, true); out != WouldRemove || d != "" {
			t.Errorf("dry run: %s %s", out, d)
		}
		if _, found, _ := reread(ipc.Queue, id); !found {
			t.Fatal("a dry run removed it")
		}
		if out, d := Remove(v, false); out != Removed || d != "" {
			t.Errorf("%s %s", out, d)
		}
		if _, found, _ := reread(ipc.Queue, id); found {
			t.Error("still there")
		}
	})
	t.Run("vanished", func(t *testing.T) {
		id := newQueue(t, k1)
		v := judged(t, id)
		sys.MsgctlDS(id, unix.IPC_RMID, nil)
		if out, d := Remove(v, false); out != Vanished || d != "no queue has id "+strconv.Itoa(id)+" any more" {
			t.Errorf("%s %s", out, d)
		}
	})
	t.Run("id reused", func(t *testing.T) {
		id := newQueue(t, k1)
		v := judged(t, id)
		sys.MsgctlDS(id, unix.IPC_RMID, nil)
		// Checkpoint/restore's knob gives the next queue the same id.
		if err := os.WriteFile("/proc/sys/kernel/msg_next_id", []byte(strconv.Itoa(id)), 0); err != nil {
			t.Fatal(err)
		}
		if again := newQueue(t, k2); again != id {
			t.Fatalf("msg_next_id: got id %d, want %d", again, id)
		}
		out, d := Remove(v, false)
		if out != Changed || d != "its id now has key 0x00007102, not 0x00007101: another object" {
			t.Errorf("%s %s", out, d)
		}
		if _, found, _ := reread(ipc.Queue, id); !found {
			t.Error("the new queue with the old id was removed")
		}
	})
	t.Run("same key, new ctime", func(t *testing.T) {
		id := newQueue(t, k1)
		v := judged(t, id)
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
		var ds sys.MsqidDS
		if _, e := sys.MsgctlDS(id, unix.IPC_STAT, &ds); e != 0 {
			t.Fatal(e)
		}
		if _, e := sys.MsgctlDS(id, unix.IPC_SET, &ds); e != 0 {
			t.Fatal(e)
		}
		if out, d := Remove(v, false); out != Changed || !strings.HasPrefix(d, "its change time is now ") {
			t.Errorf("%s %s", out, d)
		}
	})
	t.Run("used again", func(t *testing.T) {
		id := newQueue(t, k1)
		v := judged(t, id)
		buf := make([]byte, sys.LongSize+1)
		binary.NativeEndian.PutUint64(buf, 1) // mtype, a long
		if e := sys.Msgsnd(id, buf, 1, unix.IPC_NOWAIT); e != 0 {
			t.Fatal(e)
		}
		if out, d := Remove(v, false); out != Changed || !strings.HasPrefix(d, "used again at ") {
			t.Errorf("%s %s", out, d)
		}
	})
	t.Run("owner may not read it", func(t *testing.T) {
		// IPC_STAT is refused: the check reads the listing instead.
		out, err := ipctest.AsNobody(t, ipctest.Command(t, "mkrm")).Output()
		if err != nil || string(out) != "removed \n" {
			t.Errorf("as nobody, a mode-0 queue of its own: %q, %v", out, err)
		}
	})
	t.Run("not permitted", func(t *testing.T) {
		id := newQueue(t, k1)
		cmd := ipctest.AsNobody(t, ipctest.Command(t, "rm", ipc.Key(k1).String()))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if want := "not permitted not yours (owner 0, creator 0; you are 65534 without CAP_SYS_ADMIN)\n"; string(out) != want {
			t.Errorf("as nobody: %q, want %q", out, want)
		}
		if _, found, _ := reread(ipc.Queue, id); !found {
			t.Error("nobody removed it")
		}
	})
}

// TestCheck judges pids in every state: alive, ambiguous, reused (by
// start time and as a thread), a zombie, gone.
func TestCheck(t *testing.T) {
	o := &Options{Procs: NewProcs()}
	self := o.Procs.Lookup(os.Getpid())
	if !self.Exists || self.Zombie || self.TGID != os.Getpid() || time.Since(self.Start) < 0 || time.Since(self.Start) > time.Hour {
		t.Fatalf("our own process: %+v", self)
	}
	for _, c := range []struct {
		name  string
		by    time.Time
		state PIDState
		text  string
	}{
		{"acted after it started", self.Start.Add(time.Second), Alive, "alive"},
		{"acted a second before it started", self.Start.Add(-time.Second), Ambiguous, "may be alive"},
		{"acted an hour before it started", self.Start.Add(-time.Hour), Reused, "gone: pid " + strconv.Itoa(os.Getpid()) + " is now "},
	} {
		got := check(o, "creator", os.Getpid(), c.by, "created it")
		if got.State != c.state || !strings.Contains(got.Reason, c.text) || got.Started == nil {
			t.Errorf("%s: %+v; want %s, %q", c.name, got, c.state, c.text)
		}
	}

	// A thread of ours: /proc/TID exists, but it is not a process.
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", os.Getpid()))
	tid := 0
	for _, p := range tasks {
		if n, _ := strconv.Atoi(filepath.Base(p)); n != os.Getpid() {
			tid = n
			break
		}
	}
	if tid == 0 {
		t.Fatal("no thread but the main one")
	}
	if got := check(o, "creator", tid, time.Now(), "created it"); got.State != Reused ||
		got.Reason != fmt.Sprintf("creator %d gone: %d is now a thread of process %d (%s)", tid, tid, os.Getpid(), self.Command) {
		t.Errorf("a thread: %+v", got)
	}

	// A zombie, then gone.
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); strings.Contains(string(b), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child never became a zombie")
		}
	}
	if got := check(&Options{Procs: NewProcs()}, "last user", pid, time.Now(), "attached"); got.State != Gone || !strings.Contains(got.Reason, "a zombie") {
		t.Errorf("a zombie: %+v", got)
	}
	cmd.Wait()
	if got := check(&Options{Procs: NewProcs()}, "last user", pid, time.Now(), "attached"); got.State != Gone || !strings.HasPrefix(got.Reason, "last user "+strconv.Itoa(pid)+" gone (last seen ") {
		t.Errorf("gone: %+v", got)
	}
}

// TestRates checks what can and cannot be told from two snapshots.
func TestRates(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 300e6, time.UTC)
	q := func(id int, qnum uint64, stime, rtime time.Time) msgq.Info {
		return msgq.Info{ID: id, Perm: ipc.Perm{Key: ipc.Key(id + 100)}, QNum: qnum, CBytes: 10 * qnum,
			STime: stime, RTime: rtime, CTime: t0.Add(-time.Hour).Truncate(time.Second)}
	}
	old := t0.Add(-time.Minute).Truncate(time.Second)
	in2s := t0.Add(2 * time.Second)
	prev := Snapshot{At: t0, Queues: []msgq.Info{
		q(1, 10, old, time.Time{}), q(2, 10, old, old), q(3, 10, old, old), q(4, 5, time.Time{}, time.Time{}), q(6, 0, old, old),
	}}
	reborn := q(6, 0, old, old)
	reborn.CTime = in2s.Truncate(time.Second)
	cur := Snapshot{At: in2s, Queues: []msgq.Info{
		q(1, 30, in2s.Truncate(time.Second), time.Time{}),                // only sends: 10 msgs/s in, exactly
		q(2, 4, old, in2s.Truncate(time.Second)),                         // only receives: 3/s out, exactly
		q(3, 12, in2s.Truncate(time.Second), in2s.Truncate(time.Second)), // both: bounds
		q(4, 5, time.Time{}, time.Time{}),                                // idle
		q(5, 1, in2s.Truncate(time.Second), time.Time{}),                 // new
		reborn, // id 6 now names another queue
	}}
	got := Rates(prev, cur)
	want := []QueueRate{
		{Net: 10, NetBytes: 100, In: 10, InExact: true, Out: 0, OutExact: true},
		{Net: -3, NetBytes: -30, In: 0, InExact: true, Out: 3, OutExact: true},
		{Net: 1, NetBytes: 10, In: 1, Out: 0},
		{InExact: true, OutExact: true},
		{New: true},
		{New: true},
	}
	for i := range want {
		want[i].Queue = cur.Queues[i]
		if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			t.Errorf("queue %d: got %+v\nwant %+v", cur.Queues[i].ID, got[i], want[i])
		}
	}
	// A send in the same second as the first snapshot, after it, leaves
	// stime as it was: the in direction is then only a lower bound.
	same := Snapshot{At: t0, Queues: []msgq.Info{q(1, 10, t0.Truncate(time.Second), time.Time{})}}
	later := Snapshot{At: in2s, Queues: []msgq.Info{q(1, 10, t0.Truncate(time.Second), old)}}
	if r := Rates(same, later)[0]; r.InExact || r.OutExact {
		t.Errorf("sends possible within the first second: %+v", r)
	}
}
