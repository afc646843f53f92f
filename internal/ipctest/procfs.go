package ipctest

import (
	"os"
	"strconv"
	"strings"
)

// FDs returns what each descriptor of process pid refers to, as
// /proc/PID/fd's links say ("socket:[1234]", "anon_inode:[eventfd]",
// a path), by descriptor number; empty if pid is gone.
func FDs(pid int) map[int]string {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd/"
	ents, _ := os.ReadDir(dir)
	out := make(map[int]string, len(ents))
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink(dir + e.Name()); err == nil {
			out[fd] = l
		}
	}
	return out
}

// Wchan returns the kernel function thread tid of process pid sleeps in
// (/proc/PID/task/TID/wchan), "0" while it runs or where the kernel hides
// it, "" if it is gone.
func Wchan(pid, tid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(tid) + "/wchan")
	return string(b)
}

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
