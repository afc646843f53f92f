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

// CompareC runs, for each result, the C program of ../shared/bench-ref
// (built in dir) that measures the same thing with the same placement and
// rounds, and records its time per operation and the Go/C ratio. Cases
// with no C counterpart (shm ping-pong) are left without.
func CompareC(dir string, results []Result, cpu Placement) error {
	for i := range results {
		r := &results[i]
		prog, args, env, key := cProgram(r)
		if prog == "" {
			continue
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
			return fmt.Errorf("%s: %v %s", prog, err, strings.TrimSpace(stderr.String()))
		}
		v, err := field(string(out), key)
		if err != nil {
			return fmt.Errorf("%s printed %q: %w", prog, strings.TrimSpace(string(out)), err)
		}
		ns := v
		switch key {
		case "msgs_per_s":
			ns = 1e9 / v
		case "GB_per_s", "shm_warm_GB_per_s":
			ns = float64(r.Size) / v // bytes / (GB/s) = ns
		}
		r.CNsPerOp = &ns
		ratio := r.NsPerOp / ns
		r.Ratio = &ratio
	}
	return nil
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
