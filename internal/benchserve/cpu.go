package benchserve

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// CPU is processor time, user and system, in seconds.
type CPU struct {
	User  float64 `json:"user_seconds"`
	Sys   float64 `json:"sys_seconds"`
	Total float64 `json:"seconds"`
}

func (c CPU) sub(d CPU) CPU {
	return CPU{User: c.User - d.User, Sys: c.Sys - d.Sys, Total: c.Total - d.Total}
}

func cpuOf(user, sys time.Duration) CPU {
	return CPU{User: user.Seconds(), Sys: sys.Seconds(), Total: (user + sys).Seconds()}
}

// clockTick is the unit of /proc/PID/stat's times: USER_HZ, which Linux
// keeps at 100 on every architecture whatever the kernel's own HZ.
const clockTick = 10 * time.Millisecond

// treeCPU is the processor time a process and every process below it have
// used so far: each one's utime and stime, plus its cutime and cstime (what
// its children it has reaped used), from /proc/PID/stat. So a worker or a
// fork child counts whether it still runs, is a zombie, or is gone and
// reaped by the supervisor. The resolution is a clock tick per process.
func treeCPU(root int) CPU {
	type entry struct {
		ppid      int
		user, sys time.Duration
	}
	procs := map[int]entry{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, user, sys, ok := statTimes(pid)
		if ok {
			procs[pid] = entry{ppid, user, sys}
		}
	}
	in := map[int]bool{root: true}
	// Parents may have larger pids than their children (pids wrap):
	// repeat until nothing more joins.
	for grown := true; grown; {
		grown = false
		for pid, e := range procs {
			if !in[pid] && in[e.ppid] {
				in[pid], grown = true, true
			}
		}
	}
	var user, sys time.Duration
	for pid := range in {
		if e, ok := procs[pid]; ok {
			user += e.user
			sys += e.sys
		}
	}
	return cpuOf(user, sys)
}

// statTimes reads a process's parent and its own plus its reaped
// children's user and system times.
func statTimes(pid int) (ppid int, user, sys time.Duration, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, 0, false
	}
	// The command (field 2) may hold spaces and parentheses: the fields
	// after the last ')' start with field 3, the state.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0, 0, 0, false
	}
	var t [4]int64 // utime, stime, cutime, cstime: fields 14 to 17
	for k := range t {
		if t[k], err = strconv.ParseInt(f[11+k], 10, 64); err != nil {
			return 0, 0, 0, false
		}
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, 0, false
	}
	return ppid, time.Duration(t[0]+t[2]) * clockTick, time.Duration(t[1]+t[3]) * clockTick, true
}

// childrenCPU is what this process's reaped children have used, to the
// microsecond (getrusage RUSAGE_CHILDREN): the difference across the
// reaping of a server is its whole life's time, the supervisor's and that
// of every child it reaped.
func childrenCPU() CPU {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_CHILDREN, &ru) != nil {
		return CPU{}
	}
	return cpuOf(time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()))
}

// loadAverage reads /proc/loadavg's three averages.
func loadAverage() [3]float64 {
	var la [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return la
	}
	f := strings.Fields(string(b))
	for i := 0; i < 3 && i < len(f); i++ {
		la[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return la
}
