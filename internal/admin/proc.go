package admin

import (
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's starttime: 100 on
// every Linux ABI (sysconf(_SC_CLK_TCK) returns it without asking the
// kernel).
const clockTicks = 100

// Process is what /proc says about a pid now.
type Process struct {
	PID     int
	Exists  bool
	Zombie  bool      // exited, not yet reaped: it can no longer use anything
	TGID    int       // the process the pid belongs to; != PID for a thread
	Start   time.Time // when it started, wall clock
	Command string    // /proc/PID/comm
}

// Procs looks processes up in /proc, caching each pid for one judgement so
// that every verdict of a run sees the same table.
type Procs struct {
	boot    time.Time
	cache   map[int]Process
	waiters map[int][]queueWaiter // by queue id, read on first use
}

// NewProcs starts a lookup table. The boot time is computed from
// CLOCK_BOOTTIME (the clock of starttime) and the wall clock read together,
// which is finer than /proc/stat's btime (whole seconds).
func NewProcs() *Procs {
	var ts unix.Timespec
	now := time.Now()
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	return &Procs{boot: now.Add(-time.Duration(ts.Nano())), cache: map[int]Process{}}
}

// Lookup returns what /proc says about pid.
func (p *Procs) Lookup(pid int) Process {
	if pr, ok := p.cache[pid]; ok {
		return pr
	}
	pr := p.read(pid)
	p.cache[pid] = pr
	return pr
}

func (p *Procs) read(pid int) Process {
	pr := Process{PID: pid}
	if pid <= 0 {
		return pr
	}
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return pr
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses,
	// so the fields are counted from the last ')'.
	s := string(stat)
	close := strings.LastIndexByte(s, ')')
	open := strings.IndexByte(s, '(')
	if close < 0 || open < 0 || open > close {
		return pr
	}
	f := strings.Fields(s[close+1:])
	// f[0] is field 3 (state); starttime is field 22, f[19].
	if len(f) < 20 {
		return pr
	}
	ticks, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return pr
	}
	pr.Exists = true
	pr.Command = s[open+1 : close]
	pr.Zombie = f[0] == "Z" || f[0] == "X"
	pr.Start = p.boot.Add(time.Duration(ticks) * (time.Second / clockTicks))
	pr.TGID = pid
	// /proc/TID exists for threads too (it is only left out of the
	// listing): a reused number may now name a thread of another process.
	if st, err := os.ReadFile(dir + "/status"); err == nil {
		for _, line := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
				if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
					pr.TGID = n
				}
				break
			}
		}
	}
	return pr
}

// A queue waiter is a task blocked in msgrcv or msgsnd on it.
type queueWaiter struct {
	PID  int    // the process (thread group) the task belongs to
	Call string // "msgrcv" or "msgsnd"
}

// QueueWaiters lists the processes blocked in msgrcv or msgsnd on the
// queue id of the caller's IPC namespace. The kernel keeps no count of
// them; /proc/PID/task/TID/syscall shows the system call a blocked task is
// in and its arguments (the first is the queue id), to whoever may ptrace
// the task. Tasks whose file cannot be read are not seen, so an empty
// answer means only that no visible task waits. A task in another IPC
// namespace is waiting on another queue, even with the same id.
func (p *Procs) QueueWaiters(id int) []queueWaiter {
	if p.waiters == nil {
		p.waiters = scanWaiters()
	}
	return p.waiters[id]
}

func scanWaiters() map[int][]queueWaiter {
	out := map[int][]queueWaiter{}
	var self unix.Stat_t
	if unix.Stat("/proc/thread-self/ns/ipc", &self) != nil {
		return out
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	calls := map[int64]string{unix.SYS_MSGRCV: "msgrcv", unix.SYS_MSGSND: "msgsnd"}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := "/proc/" + e.Name()
		var st unix.Stat_t
		if unix.Stat(dir+"/ns/ipc", &st) != nil || st.Ino != self.Ino || st.Dev != self.Dev {
			continue
		}
		tasks, err := os.ReadDir(dir + "/task")
		if err != nil {
			continue
		}
		for _, task := range tasks {
			b, err := os.ReadFile(dir + "/task/" + task.Name() + "/syscall")
			if err != nil {
				continue
			}
			// "NR arg1 ... arg6 sp pc" for a task blocked in a call,
			// "running" or "-1 sp pc" otherwise.
			f := strings.Fields(string(b))
			if len(f) < 2 {
				continue
			}
			nr, err := strconv.ParseInt(f[0], 10, 64)
			call, ok := calls[nr]
			if err != nil || !ok {
				continue
			}
			qid, err := strconv.ParseUint(strings.TrimPrefix(f[1], "0x"), 16, 32)
			if err != nil {
				continue
			}
			out[int(qid)] = append(out[int(qid)], queueWaiter{PID: pid, Call: call})
		}
	}
	return out
}
