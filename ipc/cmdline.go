package ipc

import (
	"bytes"
	"os"
	"strconv"
)

// CommandLine returns the command line of the live process pid, its
// arguments joined by spaces, as lsipc shows the creator of a segment in
// its COMMAND column: /proc/<pid>/cmdline, read in one go up to 8 KiB. ok
// is false when the process is gone (the pid of a segment's creator
// outlives it), is a kernel thread, or is hidden from the caller.
func CommandLine(pid int) (cmd string, ok bool) {
	if pid <= 0 {
		return "", false
	}
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return "", false
	}
	defer f.Close()
	buf := make([]byte, 8191)
	n, err := f.Read(buf)
	if n <= 0 || err != nil {
		return "", false
	}
	b := bytes.ReplaceAll(buf[:n], []byte{0}, []byte{' '})
	return string(bytes.TrimRight(b, " ")), true
}
