// Package admin is what ipc offers administrators beyond ipcs and lsipc:
// verdicts on leaked ("orphaned") objects and their safe removal, the IPC
// usage of a namespace as Prometheus metrics, and per-queue rates for a
// watching view.
//
// # Orphans
//
// The kernel records few pids per object: a segment its creator (cpid) and
// last attacher or detacher (lpid), a queue its last sender and receiver
// (no creator), a semaphore set the last process to change each semaphore
// (GETPID; no creator either). An object is orphaned when nothing uses it
// now (no attachment, no waiter) and every recorded process is gone.
//
// Pids are reused, so a live process with a recorded pid may be another
// process. Each recorded pid comes with the time it acted at the latest
// (ctime for a creator, max(atime, dtime) for lpid, stime, rtime, and
// max(otime, ctime) for a semaphore's pid). A process that started before
// that time is the one that acted (pids are unique among live processes);
// one that started more than Margin after it is a reuse; one in between
// cannot be told, and keeps the object in use. Every verdict says how sure
// it is:
//
//   - certain: every recorded process is absent from /proc (or a zombie);
//   - likely: some recorded pid now names a process that started after the
//     recorded use (or a thread of another process): a reuse;
//   - unsure: no process was recorded (a queue never used, a set never
//     operated on), or one is not visible in this pid namespace: judged by
//     idleness alone, which only an explicit OlderThan allows.
//
// A queue has no creator and no waiter count: processes blocked in msgrcv
// or msgsnd on it are found in /proc/PID/task/TID/syscall (where the
// caller may read it), and a queue is also required to have been quiet for
// a while (QueueQuiet, or OlderThan) before it is called orphaned.
//
// The kernel shows the recorded pids as the reader's pid namespace numbers
// them (in /proc/sysvipc and GETPID alike), and /proc/PID is looked up in
// the same namespace when /proc is mounted for it, as it normally is: a
// container's IPC namespace entered from the host is judged with host
// pids, consistently. A pid the reader's namespace cannot see reads as 0.
//
// A creator's time is the object's ctime, which IPC_SET moves later: a
// process that took the creator's pid between the creation and an IPC_SET
// passes for the creator. That errs on the side of keeping the object.
//
// Everything here runs on the calling goroutine and starts none, so it may
// run inside ipcns.Namespace.Do.
package admin

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/msgq"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/ipctoolkit/ipc/shm"
)

// Margin is how long after a recorded use a process must have started to
// be called a reuse of the recorded pid. Object times are whole seconds
// (the use happened within the second after the recorded time) and the
// start time is derived from the boot clock; two seconds absorb both.
const Margin = 2 * time.Second

// DefaultQueueQuiet is how long a queue must have been unused, when no
// OlderThan is given, before it can be called orphaned.
const DefaultQueueQuiet = time.Minute

// Confidence says how sure a verdict is; see the package documentation.
type Confidence string

// The three confidences.
const (
	Certain Confidence = "certain"
	Likely  Confidence = "likely"
	Unsure  Confidence = "unsure"
)

// PIDState is what became of a recorded pid.
type PIDState string

// The states of a recorded pid.
const (
	Gone      PIDState = "gone"      // no such process, or a zombie
	Reused    PIDState = "reused"    // the pid names a process that started after the use
	Alive     PIDState = "alive"     // the process that acted is still running
	Ambiguous PIDState = "ambiguous" // alive, started too close to the use to tell
)

// PIDCheck is the judgement of one recorded pid.
type PIDCheck struct {
	Role  string    `json:"role"` // "creator", "last user", "last sender", "last receiver", "last operator"
	PID   int       `json:"pid"`
	By    time.Time `json:"acted_by"` // it acted at this time at the latest
	State PIDState  `json:"state"`
	// Now is the process the pid names today, if any.
	Command string     `json:"command,omitempty"`
	Started *time.Time `json:"started,omitempty"`
	Reason  string     `json:"reason"`
}

// Verdict is the judgement of one object.
type Verdict struct {
	Kind     ipc.Kind
	ID       int
	Perm     ipc.Perm
	CTime    time.Time
	LastUsed time.Time // the latest of the object's times
	Idle     time.Duration
	// Orphaned: nothing uses the object and nobody that did is alive.
	Orphaned   bool
	Confidence Confidence
	// Reasons say why, in words: "creator 4242 gone (last seen ...)",
	// "no attachments".
	Reasons []string
	PIDs    []PIDCheck
	// Bytes and Messages are what the object holds: a segment's size, a
	// queue's bytes and messages, a set's semaphores (Bytes 0).
	Bytes    uint64
	Messages uint64
	Nsems    int

	sig signature
}

// signature is what must not have changed for a removal to go ahead: ids
// are reused, so the key and ctime tell the object judged from a new one
// with its id, and the use times tell one that came back to life.
type signature struct {
	key          ipc.Key
	ctime        time.Time
	used         time.Time // latest use time
	nattch       uint64
	lspid, lrpid int
}

// Options tune Judge. The zero value judges every kind at time.Now().
type Options struct {
	// Now is the time verdicts are made at; zero means time.Now().
	Now time.Time
	// OlderThan, when OlderThanSet, keeps objects used more recently than
	// that out of the orphans, and allows objects with no recorded process
	// to be judged by age (confidence unsure).
	OlderThan    time.Duration
	OlderThanSet bool
	// QueueQuiet is how long a queue must be unused when OlderThan is not
	// set; zero means DefaultQueueQuiet.
	QueueQuiet time.Duration
	// Kinds to judge; none means all three.
	Kinds []ipc.Kind
	// Procs is the process table; nil means a fresh one.
	Procs *Procs
}

func (o *Options) wants(k ipc.Kind) bool {
	if len(o.Kinds) == 0 {
		return true
	}
	for _, w := range o.Kinds {
		if w == k {
			return true
		}
	}
	return false
}

// Judge judges every object of the wanted kinds in the caller's IPC
// namespace, in the order ipcs lists them: queues, segments, sets.
func Judge(o Options) ([]Verdict, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.QueueQuiet == 0 {
		o.QueueQuiet = DefaultQueueQuiet
	}
	if o.Procs == nil {
		o.Procs = NewProcs()
	}
	var out []Verdict
	if o.wants(ipc.Queue) {
		qs, err := msgq.List()
		if err != nil {
			return nil, err
		}
		for _, q := range qs {
			out = append(out, judgeQueue(&o, q))
		}
	}
	if o.wants(ipc.Segment) {
		segs, err := shm.List()
		if err != nil {
			return nil, err
		}
		for _, s := range segs {
			out = append(out, judgeSegment(&o, s))
		}
	}
	if o.wants(ipc.Semaphore) {
		sets, err := sem.List()
		if err != nil {
			return nil, err
		}
		for _, s := range sets {
			out = append(out, judgeSet(&o, s))
		}
	}
	return out, nil
}

// Orphans is Judge keeping only the orphaned objects.
func Orphans(o Options) ([]Verdict, error) {
	all, err := Judge(o)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, v := range all {
		if v.Orphaned {
			out = append(out, v)
		}
	}
	return out, nil
}

func latest(ts ...time.Time) time.Time {
	var l time.Time
	for _, t := range ts {
		if t.After(l) {
			l = t
		}
	}
	return l
}

func clock(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") }

// check judges one recorded pid that acted at time by at the latest.
func check(o *Options, role string, pid int, by time.Time, act string) PIDCheck {
	c := PIDCheck{Role: role, PID: pid, By: by}
	p := o.Procs.Lookup(pid)
	who := role + " " + strconv.Itoa(pid)
	switch {
	case !p.Exists:
		c.State = Gone
		c.Reason = fmt.Sprintf("%s gone (last seen %s)", who, clock(by))
		return c
	case p.Zombie:
		c.State = Gone
		c.Reason = fmt.Sprintf("%s gone (a zombie: exited, not yet reaped)", who)
		return c
	}
	start := p.Start
	c.Command, c.Started = p.Command, &start
	switch {
	case p.TGID != pid:
		c.State = Reused
		c.Reason = fmt.Sprintf("%s gone: %d is now a thread of process %d (%s)", who, pid, p.TGID, p.Command)
	case start.After(by.Add(Margin)):
		c.State = Reused
		c.Reason = fmt.Sprintf("%s gone: pid %d is now %s, started %s, after it %s (by %s)",
			who, pid, p.Command, clock(start), act, clock(by))
	case start.After(by):
		c.State = Ambiguous
		c.Reason = fmt.Sprintf("%s may be alive: pid %d (%s) started %s, within %v of when it %s (by %s), too close to tell a reuse",
			who, pid, p.Command, clock(start), Margin, act, clock(by))
	default:
		c.State = Alive
		c.Reason = fmt.Sprintf("%s alive (%s, started %s)", who, p.Command, clock(start))
	}
	return c
}

// decide turns the pid checks into a verdict. busy, when not empty, is a
// use going on now (attachments, waiters). unknown names recorded roles
// whose pid is not visible here. quiet is the idleness the kind requires
// without OlderThan.
func decide(o *Options, v *Verdict, busy string, unknown []string, quiet time.Duration) {
	v.Idle = o.Now.Sub(v.LastUsed)
	if v.Idle < 0 {
		v.Idle = 0
	}
	if busy != "" {
		v.Confidence, v.Reasons = Certain, []string{busy}
		return
	}
	var alive, ambiguous, dead []string
	reused := false
	for _, c := range v.PIDs {
		switch c.State {
		case Alive:
			alive = append(alive, c.Reason)
		case Ambiguous:
			ambiguous = append(ambiguous, c.Reason)
		case Reused:
			reused = true
			dead = append(dead, c.Reason)
		default:
			dead = append(dead, c.Reason)
		}
	}
	if len(alive) > 0 {
		v.Confidence, v.Reasons = Certain, alive
		return
	}
	if len(ambiguous) > 0 {
		v.Confidence, v.Reasons = Unsure, ambiguous
		return
	}
	v.Reasons = append(dead, unknown...)
	idle := "unused for " + FormatAge(v.Idle)
	switch {
	case len(unknown) > 0 || len(v.PIDs) == 0:
		v.Confidence = Unsure
		if !o.OlderThanSet {
			v.Reasons = append(v.Reasons, "judged by age only: give --older-than to allow it")
			return
		}
	case reused:
		v.Confidence = Likely
	default:
		v.Confidence = Certain
	}
	if o.OlderThanSet {
		quiet = o.OlderThan
	}
	if v.Idle < quiet {
		v.Confidence = Unsure
		v.Reasons = append(v.Reasons, fmt.Sprintf("used %s ago, less than %v", FormatAge(v.Idle), quiet))
		return
	}
	v.Orphaned = true
	v.Reasons = append(v.Reasons, idle)
}

// FormatAge rounds a duration as a person reads an age: seconds under an
// hour, minutes under two days, then whole days ("9d").
func FormatAge(d time.Duration) string {
	switch {
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return d.Round(time.Minute).String()
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d"
}

func judgeSegment(o *Options, s shm.Info) Verdict {
	v := Verdict{Kind: ipc.Segment, ID: s.ID, Perm: s.Perm, CTime: s.CTime, Bytes: uint64(s.Size),
		LastUsed: latest(s.ATime, s.DTime, s.CTime)}
	v.sig = segmentSig(s)
	busy := ""
	if s.NAttch > 0 {
		busy = Plural(s.NAttch, "attachment")
	}
	var unknown []string
	if s.CPID > 0 {
		v.PIDs = append(v.PIDs, check(o, "creator", s.CPID, s.CTime, "created the segment"))
	} else {
		unknown = append(unknown, "creator not visible in this pid namespace")
	}
	if s.LPID > 0 {
		v.PIDs = append(v.PIDs, check(o, "last user", s.LPID, latest(s.ATime, s.DTime, s.CTime), "attached or detached it"))
	}
	decide(o, &v, busy, unknown, 0)
	if v.Orphaned {
		v.Reasons = append(v.Reasons, "no attachments")
	}
	return v
}

func judgeQueue(o *Options, q msgq.Info) Verdict {
	v := Verdict{Kind: ipc.Queue, ID: q.ID, Perm: q.Perm, CTime: q.CTime, Bytes: q.CBytes, Messages: q.QNum,
		LastUsed: latest(q.STime, q.RTime, q.CTime)}
	v.sig = queueSig(q)
	if q.LSPID > 0 {
		v.PIDs = append(v.PIDs, check(o, "last sender", q.LSPID, latest(q.STime, q.CTime), "sent"))
	}
	if q.LRPID > 0 {
		v.PIDs = append(v.PIDs, check(o, "last receiver", q.LRPID, latest(q.RTime, q.CTime), "received"))
	}
	var unknown []string
	if len(v.PIDs) == 0 {
		unknown = append(unknown, "never sent to nor received from (the kernel records no creator)")
	}
	busy := ""
	if ws := o.Procs.QueueWaiters(q.ID); len(ws) > 0 {
		parts := make([]string, len(ws))
		for i, w := range ws {
			parts[i] = fmt.Sprintf("%d in %s", w.PID, w.Call)
		}
		busy = Plural(len(ws), "process") + " waiting (" + strings.Join(parts, ", ") + ")"
	}
	decide(o, &v, busy, unknown, o.QueueQuiet)
	if v.Orphaned && q.QNum > 0 {
		v.Reasons = append(v.Reasons, fmt.Sprintf("%s (%d bytes) left unread", Plural(int(q.QNum), "message"), q.CBytes))
	}
	return v
}

func judgeSet(o *Options, s sem.Info) Verdict {
	v := Verdict{Kind: ipc.Semaphore, ID: s.ID, Perm: s.Perm, CTime: s.CTime, Nsems: s.NSems,
		LastUsed: latest(s.OTime, s.CTime)}
	v.sig = setSig(s)
	vals, err := s.States()
	if err != nil {
		v.Idle = o.Now.Sub(v.LastUsed)
		v.Confidence = Unsure
		v.Reasons = []string{"cannot read its semaphores: " + strings.TrimPrefix(err.Error(), "ipc: ")}
		return v
	}
	ncnt, zcnt := 0, 0
	byPID := map[int][]int{}
	for _, sv := range vals {
		ncnt += sv.NCount
		zcnt += sv.ZCount
		if sv.PID > 0 {
			byPID[sv.PID] = append(byPID[sv.PID], sv.Num)
		}
	}
	busy := ""
	if ncnt+zcnt > 0 {
		busy = fmt.Sprintf("%s waiting (%d for an increase, %d for zero)", Plural(ncnt+zcnt, "process"), ncnt, zcnt)
	}
	pids := make([]int, 0, len(byPID))
	for p := range byPID {
		pids = append(pids, p)
	}
	sort.Ints(pids)
	by := latest(s.OTime, s.CTime)
	for _, p := range pids {
		nums := make([]string, len(byPID[p]))
		for i, n := range byPID[p] {
			nums[i] = strconv.Itoa(n)
		}
		which := "semaphore " + strings.Join(nums, ", ")
		c := check(o, "last operator", p, by, "operated on "+which)
		who := "last operator " + strconv.Itoa(p)
		c.Role = "last operator of " + which
		c.Reason = strings.Replace(c.Reason, who, who+" ("+which+")", 1)
		v.PIDs = append(v.PIDs, c)
	}
	var unknown []string
	if len(pids) == 0 {
		unknown = append(unknown, "never operated on (the kernel records no creator)")
	}
	decide(o, &v, busy, unknown, 0)
	if v.Orphaned {
		v.Reasons = append(v.Reasons, "nobody waits")
	}
	return v
}

// Plural is "1 process", "2 processes", "3 attachments".
func Plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if strings.HasSuffix(what, "s") {
		return strconv.Itoa(n) + " " + what + "es"
	}
	return strconv.Itoa(n) + " " + what + "s"
}
