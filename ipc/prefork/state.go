package prefork

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/msgq"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/ipctoolkit/ipc/shm"
	"golang.org/x/sys/unix"
)

// State is what a supervisor records in its state file while it runs:
// enough for `ipc status` to find its scoreboard, and for the next start to
// remove its semaphore set and queue if it was killed before it could.
type State struct {
	// PID is the supervisor's process id and StartTicks its start time as
	// /proc/<pid>/stat gives it, which tells a live supervisor from an
	// unrelated process that reused the pid.
	PID        int    `json:"pid"`
	StartTicks uint64 `json:"start_ticks"`
	// Addr is the address the server listens on, with the port it got.
	Addr    string    `json:"addr"`
	Started time.Time `json:"started"`
	// The server's IPC objects. The ctimes (unix seconds) tell them apart
	// from objects that later got the same ids.
	Semaphore      int   `json:"semaphore_id"`
	SemaphoreCTime int64 `json:"semaphore_ctime"`
	Queue          int   `json:"queue_id"`
	QueueCTime     int64 `json:"queue_ctime"`
	// Segment is the scoreboard. It is removed (IPC_RMID) right after
	// the supervisor attaches it, so it goes away with the last process
	// that has it attached whatever happens; Linux still lets a process
	// attach it by this id, which is how workers and `ipc status` reach it.
	Segment int `json:"segment_id"`
	// Signature is the random number the server wrote into its semaphore
	// set and queue; an object without it is never removed as this
	// server's.
	Signature uint64 `json:"signature"`
	// IPCNamespace is the inode of the supervisor's IPC namespace
	// (/proc/PID/ns/ipc): its ids mean nothing in another namespace.
	IPCNamespace uint64 `json:"ipc_namespace,omitempty"`

	// Path is the state file this was read from (not stored in it).
	Path string `json:"-"`
}

const statePrefix, stateSuffix = "prefork-", ".json"

// DefaultStateDir is where a server records its state when Server.StateDir
// is empty: /run/ipc for root (a system service's, systemd's
// RuntimeDirectory=ipc; not /tmp/ipc-0, which any local user could make
// first), $XDG_RUNTIME_DIR/ipc for a user, /tmp/ipc-<uid> for a user without
// it.
func DefaultStateDir() string {
	if os.Geteuid() == 0 {
		return "/run/ipc"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "ipc")
	}
	return filepath.Join(os.TempDir(), "ipc-"+strconv.Itoa(os.Geteuid()))
}

func serverErr(op string, err error, detail string) error {
	return &Error{Op: op, Err: err, Detail: detail}
}

// ensureStateDir makes dir (0700) if it is missing and refuses one that
// another user owns or that others may write to: the state files name IPC
// objects the next start removes.
func ensureStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return serverErr("make the state directory of", err, dir)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return serverErr("make the state directory of", err, dir)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return serverErr("make the state directory of", unix.ENOTDIR, dir+" is not a directory")
	case ok && int(st.Uid) != os.Geteuid():
		return serverErr("make the state directory of", unix.EPERM, dir+" belongs to uid "+strconv.Itoa(int(st.Uid)))
	case fi.Mode().Perm()&0o022 != 0:
		return serverErr("make the state directory of", unix.EPERM, dir+" is writable by others ("+fi.Mode().Perm().String()+")")
	}
	return nil
}

func statePath(dir string, pid int) string {
	return filepath.Join(dir, statePrefix+strconv.Itoa(pid)+stateSuffix)
}

// write records st atomically (a temporary file renamed over the name), so
// a reader never sees half a file.
func (st *State) write() error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return serverErr("record the state of", err, st.Path)
	}
	tmp := filepath.Join(filepath.Dir(st.Path), "."+filepath.Base(st.Path)+".tmp")
	// 0640: the directory decides who may read (0700, or root:group 02750
	// for Server.User's `ipc status`).
	if err := os.WriteFile(tmp, append(b, '\n'), 0o640); err != nil {
		return serverErr("record the state of", err, st.Path)
	}
	if err := os.Rename(tmp, st.Path); err != nil {
		os.Remove(tmp)
		return serverErr("record the state of", err, st.Path)
	}
	return nil
}

// States reads every state file in dir, sorted by pid, live supervisors and
// dead ones alike (Alive tells them apart). A missing dir has none.
func States(dir string) ([]State, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, serverErr("read the state of", err, dir)
	}
	var out []State
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, statePrefix) || !strings.HasSuffix(name, stateSuffix) {
			continue
		}
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if err != nil {
			continue // removed meanwhile
		}
		var st State
		if json.Unmarshal(b, &st) != nil || st.PID <= 0 {
			continue
		}
		st.Path = path
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, nil
}

// Alive reports whether the supervisor that wrote st is still running: its
// pid exists and started when the file says.
func (st State) Alive() bool {
	if err := unix.Kill(st.PID, 0); err != nil && err != unix.EPERM {
		return false
	}
	ticks, ok := startTicks(st.PID)
	return ok && ticks == st.StartTicks
}

// startTicks reads field 22 of /proc/<pid>/stat: the process's start time
// in clock ticks since boot.
func startTicks(pid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields after it start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field 22 is f[19].
	if len(f) < 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(f[19], 10, 64)
	return v, err == nil
}

// Cleaned says what CleanStale did for one dead supervisor.
type Cleaned struct {
	State State
	// Why says why the objects were stale ("supervisor 123 is not
	// running").
	Why string
	// Removed lists the objects removed, as "semaphore set 3", "queue 5";
	// Gone those already gone; Refused those left alone, with the reason
	// (another object has the id now, or it lacks the server's signature).
	Removed, Gone, Refused []string
}

// CleanStale removes the IPC objects recorded in the state files of dir
// whose supervisor is dead (killed with -9 together with its janitor, so
// nobody could remove them), and those files. Only objects that still match
// the record are removed: private key, created by this user, the same
// creation time, and the signature the server wrote into them; never an
// object that merely reuses an id, nor one a planted file names. Objects of
// a supervisor that ran in another IPC namespace are not reachable from
// here (and went with that namespace): only its file is removed. A server
// calls it on start, and `ipc status --clean` on demand.
func CleanStale(dir string) ([]Cleaned, error) {
	states, err := States(dir)
	if err != nil {
		return nil, err
	}
	here := ipcNamespace(os.Getpid())
	var out []Cleaned
	for _, st := range states {
		if st.Alive() {
			continue
		}
		c := Cleaned{State: st, Why: "supervisor " + strconv.Itoa(st.PID) + " is not running"}
		if st.IPCNamespace != 0 && here != 0 && st.IPCNamespace != here {
			c.Why += "; its objects were in another IPC namespace, gone with it"
		} else {
			note := func(what string, err error) {
				switch {
				case err == nil:
					c.Removed = append(c.Removed, what)
				case errors.Is(err, errGone):
					c.Gone = append(c.Gone, what)
				default:
					c.Refused = append(c.Refused, what+": "+err.Error())
				}
			}
			note(fmt.Sprintf("semaphore set %d", st.Semaphore), removeStaleSet(st))
			note(fmt.Sprintf("queue %d", st.Queue), removeStaleQueue(st))
			if err := removeStaleSegment(st); err == nil || !errors.Is(err, errGone) {
				note(fmt.Sprintf("segment %d", st.Segment), err)
			}
		}
		if err := os.Remove(st.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return out, serverErr("remove the stale state of", err, st.Path)
		}
		out = append(out, c)
	}
	return out, nil
}

// errGone: the object is no longer there (or another has its id).
var errGone = errors.New("gone")

func mine(p ipc.Perm) bool { return p.Key == ipc.Private && int(p.CUID) == os.Geteuid() }

func removeStaleSet(st State) error {
	s, err := sem.FromID(st.Semaphore)
	if err != nil {
		return errGone
	}
	info, err := s.Stat()
	if err != nil || !mine(info.Perm) || info.CTime.Unix() != st.SemaphoreCTime {
		return errGone
	}
	if err := verifySet(s, st.Signature); err != nil {
		return err
	}
	return s.Remove()
}

func removeStaleQueue(st State) error {
	q, err := msgq.FromID(st.Queue)
	if err != nil {
		return errGone
	}
	info, err := q.Stat()
	if err != nil || !mine(info.Perm) || info.CTime.Unix() != st.QueueCTime {
		return errGone
	}
	if err := verifyQueue(q, st.Signature); err != nil {
		return err
	}
	return q.Remove()
}

// removeStaleSegment removes the scoreboard if it is still there: it was
// marked for removal at start, so it only lingers while some process still
// has it attached, and is then only marked again.
func removeStaleSegment(st State) error {
	seg, err := shm.FromID(st.Segment)
	if err != nil {
		return errGone
	}
	info, err := seg.Stat()
	if err != nil || info.CPID != st.PID || int(info.Perm.CUID) != os.Geteuid() {
		return errGone
	}
	return seg.Remove()
}

// removeStateFile removes the state file at path if it is still that of
// supervisor pid.
func removeStateFile(path string, pid int) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var st State
	if json.Unmarshal(b, &st) == nil && st.PID == pid {
		os.Remove(path)
	}
}

// Status reads the scoreboard of the live supervisor that wrote st. It
// attaches the segment read-only for the time of the copy and detaches it,
// so reading leaves nothing behind.
func (st State) Status() (Status, error) {
	const op = "read the status of"
	if !st.Alive() {
		return Status{}, serverErr(op, unix.ESRCH, "supervisor "+strconv.Itoa(st.PID)+" is not running")
	}
	if here := ipcNamespace(os.Getpid()); st.IPCNamespace != 0 && here != 0 && st.IPCNamespace != here {
		var s Status
		err := inIPCNamespaceOf(st.PID, func() error {
			var err error
			s, err = st.readBoard()
			return err
		})
		return s, err
	}
	return st.readBoard()
}

func (st State) readBoard() (Status, error) {
	const op = "read the status of"
	seg, err := shm.FromID(st.Segment)
	if err != nil {
		return Status{}, err
	}
	info, err := seg.Stat()
	if err != nil {
		return Status{}, err
	}
	if info.CPID != st.PID {
		return Status{}, serverErr(op, unix.ESTALE, fmt.Sprintf("segment %d was not made by supervisor %d", st.Segment, st.PID))
	}
	m, err := seg.Attach(shm.ReadOnly)
	if err != nil {
		return Status{}, err
	}
	defer m.Detach()
	n, ok := slotCount(m)
	if !ok {
		return Status{}, serverErr(op, unix.EPROTO, fmt.Sprintf("segment %d is not a scoreboard of this version", st.Segment))
	}
	b, err := newBoard(m, n)
	if err != nil {
		return Status{}, err
	}
	s := b.snapshot()
	if s.PID != st.PID {
		return Status{}, serverErr(op, unix.ESTALE, fmt.Sprintf("scoreboard %d belongs to pid %d", st.Segment, s.PID))
	}
	s.Addr = st.Addr
	s.Queue = queueDepth(st.Queue)
	return s, nil
}
