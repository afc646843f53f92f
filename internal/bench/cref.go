package bench

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// crefSource is the C reference program (cref/cref.c), carried in the
// binary so that `ipc bench --ref` works wherever a C compiler is, with no
// checkout of the sources.
//
//go:embed cref/cref.c
var crefSource []byte

// crefFlags are the compiler flags, as cref/Makefile has them.
var crefFlags = []string{"-O2", "-std=gnu11"}

// ErrNoCC is returned by BuildRef when there is no C compiler to build the
// reference program with.
var ErrNoCC = errors.New("no C compiler")

// BuildRef compiles the C reference program with the system's C compiler
// ($CC, or cc) into dir (the user's cache directory if dir is ""), unless
// a program built from the same source and compiler is there already, and
// returns its path for Config.Ref. Without a compiler the error matches
// ErrNoCC and says which one was looked for.
func BuildRef(dir string) (string, error) {
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	ccPath, err := exec.LookPath(cc)
	if err != nil {
		return "", fmt.Errorf("%w: %s not found (install gcc, or set CC)", ErrNoCC, cc)
	}
	if dir == "" {
		if dir, err = os.UserCacheDir(); err != nil {
			dir = os.TempDir()
		}
		dir = filepath.Join(dir, "ipc-bench")
	}
	// The name says what the program was built from, so a changed source
	// or compiler builds anew and stale programs are never run.
	sum := sha256.New()
	sum.Write(crefSource)
	fmt.Fprintln(sum, ccPath, crefFlags)
	prog := filepath.Join(dir, "cref-"+hex.EncodeToString(sum.Sum(nil))[:16])
	if st, err := os.Stat(prog); err == nil && st.Mode().IsRegular() && st.Mode()&0o100 != 0 {
		return prog, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build the C reference: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", fmt.Errorf("build the C reference: %w", err)
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "cref.c")
	if err := os.WriteFile(src, crefSource, 0o644); err != nil {
		return "", fmt.Errorf("build the C reference: %w", err)
	}
	out := filepath.Join(tmp, "cref")
	cmd := exec.Command(ccPath, append(crefFlags, "-o", out, src)...)
	var msgs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &msgs, &msgs
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build the C reference with %s: %v: %s", cc, err, firstLine(msgs.String()))
	}
	// Renamed into place whole, so that a run beside this one never
	// starts a half-written program.
	if err := os.Rename(out, prog); err != nil {
		return "", fmt.Errorf("build the C reference: %w", err)
	}
	return prog, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " ..."
	}
	return s
}

// runC runs the C reference program prog for what r measures, with the
// same placement and rounds, and returns its time per operation, or 0 for a
// case with no C counterpart (shm ping-pong).
func runC(prog string, r *Result, cpu Placement) (float64, error) {
	name := cCase(r)
	if name == "" {
		return 0, nil
	}
	cmd := exec.Command(prog, name, string(cpu), strconv.Itoa(r.Rounds), strconv.Itoa(r.Size))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("%s %s: %v: %s", filepath.Base(prog), name, err, firstLine(stderr.String()))
	}
	v, err := field(string(out), "ns_per_op")
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%s %s printed %q: no positive ns_per_op", filepath.Base(prog), name, strings.TrimSpace(string(out)))
	}
	return v, nil
}

// cCase names the case of the C program that measures what r does: the
// bare Go loops are measured against the same C as the package.
func cCase(r *Result) string {
	switch r.Mechanism + "/" + r.Pattern {
	case "sem/pingpong", "sem-bare-raw/pingpong", "sem-bare-plain/pingpong":
		return "sem-split"
	case "sem-combined/pingpong":
		return "sem-combined"
	case "msgq/pingpong", "msgq-bare-raw/pingpong":
		return "msgq-ping"
	case "msgq/stream", "msgq-bare-raw/stream":
		return "msgq-stream"
	case "pipe/pingpong":
		return "pipe-ping"
	case "pipe/stream":
		return "pipe-stream"
	case "socketpair/pingpong":
		return "sock-ping"
	case "socketpair/stream":
		return "sock-stream"
	case "shm/copy":
		return "shm-copy"
	}
	return ""
}

// field finds key=value in the C program's result line.
func field(line, key string) (float64, error) {
	for _, f := range strings.Fields(line) {
		if k, v, ok := strings.Cut(f, "="); ok && k == key {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("no %s", key)
}
