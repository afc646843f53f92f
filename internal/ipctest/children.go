package ipctest

import (
	"bytes"
	"os"
	"strconv"
	"strings"
)

// Children lists the processes whose parent is pid, from /proc/*/stat, only
// the zombies among them if zombiesOnly. Tests use it to find what a server
// or demo started (its workers, its janitor) and to check none is left
// unreaped.
func Children(pid int, zombiesOnly bool) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name in parentheses may hold spaces: the fields
		// after the last ')' are state, then ppid.
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && (!zombiesOnly || f[0] == "Z") && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}
