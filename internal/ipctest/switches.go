package ipctest

import (
	"os"
	"strconv"
	"strings"
)

// ThreadSwitches returns the context switches, voluntary and not, that
// thread tid of process pid has made (/proc/PID/task/TID/status), or 0 if
// it is gone. Tests use it to see whether a process woke: a thread that
// sleeps makes none.
func ThreadSwitches(pid, tid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
			c, _ := strconv.Atoi(strings.TrimSpace(v))
			n += c
		}
	}
	return n
}

// Threads lists the thread ids of process pid.
func Threads(pid int) []int {
	ents, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	var out []int
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, tid)
		}
	}
	return out
}

// ProcessSwitches returns the context switches all threads of pid have
// made.
func ProcessSwitches(pid int) int {
	n := 0
	for _, tid := range Threads(pid) {
		n += ThreadSwitches(pid, tid)
	}
	return n
}
