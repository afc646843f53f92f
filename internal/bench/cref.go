package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// runC runs the C program of bench-ref (built in dir) that measures what r
// does, with the same placement and rounds, and returns its time per
// operation, or 0 for a case with no C counterpart (shm ping-pong).
func runC(dir string, r *Result, cpu Placement) (float64, error) {
	prog, args, env, key := cProgram(r)
	if prog == "" {
		return 0, nil
	}
	cmd := exec.Command(filepath.Join(dir, prog), args...)
	cmd.Env = append(os.Environ(), env...)
	if cpu != AnyCPU {
		cmd.Env = append(cmd.Env, "PIN="+string(cpu))
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("%s: %v %s", prog, err, strings.TrimSpace(stderr.String()))
	}
	v, err := field(string(out), key)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%s printed %q: no positive %s", prog, strings.TrimSpace(string(out)), key)
	}
	switch key {
	case "msgs_per_s":
		return 1e9 / v, nil
	case "GB_per_s", "shm_warm_GB_per_s":
		return float64(r.Size) / v, nil // bytes / (GB/s) = ns
	}
	return v, nil
}

// cProgram names the C program for r, its arguments and environment, and
// the key=value field of its output that holds the result.
func cProgram(r *Result) (prog string, args, env []string, key string) {
	n, size := strconv.Itoa(r.Rounds), strconv.Itoa(r.Size)
	switch r.Mechanism + "/" + r.Pattern {
	case "sem/pingpong":
		return "semping", []string{n}, []string{"MODE=split"}, "ns_per_rtt"
	case "sem-combined/pingpong":
		return "semping", []string{n}, []string{"MODE=combined"}, "ns_per_rtt"
	case "msgq/pingpong":
		return "msgping", []string{n, size}, nil, "ns_per_rtt"
	case "msgq/stream":
		return "msgstream", []string{size, n}, nil, "msgs_per_s"
	case "pipe/pingpong":
		return "pipeping", []string{n, size}, nil, "ns_per_rtt"
	case "pipe/stream":
		return "pipestream", []string{n, size}, nil, "GB_per_s"
	case "socketpair/pingpong":
		return "sockping", []string{n, size}, []string{"TYPE=stream"}, "ns_per_rtt"
	case "socketpair/stream":
		return "sockstream", []string{n, size}, nil, "GB_per_s"
	case "shm/copy":
		return "shmcopy", []string{strconv.Itoa(r.Size >> 20), n}, nil, "shm_warm_GB_per_s"
	}
	return "", nil, nil, ""
}

// field finds key=value in a C program's result line.
func field(line, key string) (float64, error) {
	for _, f := range strings.Fields(line) {
		if k, v, ok := strings.Cut(f, "="); ok && k == key {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("no %s", key)
}
