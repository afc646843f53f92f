package bench

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc/proc"
)

func TestMain(m *testing.M) {
	proc.Dispatch()
	ipctest.Main(m)
}

// Every case runs between two processes and gives sane numbers; every
// placement works.
func TestRun(t *testing.T) {
	for _, cpu := range []Placement{SameCPU, CrossCPU, AnyCPU} {
		// Every mechanism once; the other placements with one. Small
		// sizes: the defaults (a 64 MiB segment) are for measuring.
		mech, want := "all", 14 // one size per msgq stream, as Size is set
		if cpu != SameCPU {
			mech, want = "pipe", 2
		}
		results, err := Run(mech, Config{Rounds: 200, Size: 4096, CPU: cpu})
		if err != nil {
			t.Fatalf("%s: %v", cpu, err)
		}
		if len(results) != want {
			t.Fatalf("%s: %d results, want %d", cpu, len(results), want)
		}
		for _, r := range results {
			if r.NsPerOp <= 0 || r.OpsPerSec <= 0 || r.Rounds < 1 || r.Pattern == "" {
				t.Errorf("%s: %+v", cpu, r)
			}
			if r.Size > 0 && r.MBPerSec <= 0 {
				t.Errorf("%s: no bandwidth in %+v", cpu, r)
			}
		}
	}
}

func TestRunChoices(t *testing.T) {
	results, err := Run("msgq", Config{Rounds: 100, Size: 100, CPU: AnyCPU})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 4 {
		t.Fatalf("--size 100 for msgq: %+v", results)
	}
	for _, r := range results {
		if r.Size != 100 {
			t.Fatalf("--size 100 for msgq: %+v", results)
		}
	}
	for _, bad := range []struct {
		mech string
		cfg  Config
	}{
		{"carrier-pigeon", Config{Rounds: 1, CPU: SameCPU}},
		{"sem", Config{Rounds: 0, CPU: SameCPU}},
		{"sem", Config{Rounds: 1, CPU: "moon"}},
		{"sem", Config{Rounds: 1, Size: -1, CPU: SameCPU}},
	} {
		if _, err := Run(bad.mech, bad.cfg); err == nil {
			t.Errorf("Run(%q, %+v) succeeded", bad.mech, bad.cfg)
		}
	}
}

// buildRef builds the C reference program into a fresh directory, or
// skips the test where there is no C compiler.
func buildRef(t *testing.T) string {
	t.Helper()
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Skip("no C compiler:", cc)
	}
	prog, err := BuildRef(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

// With the C reference program built from cref/cref.c, every case but shm
// ping-pong gets a C time and a ratio.
func TestReference(t *testing.T) {
	prog := buildRef(t)
	var results []Result
	for _, mech := range Mechanisms {
		cfg := Config{Rounds: 200, CPU: SameCPU, Repeat: 1, Ref: prog}
		if mech == "sem" {
			cfg.Repeat = 3 // Go and C taking turns
		}
		if mech == "shm" {
			cfg.Size = 1 << 20
		}
		r, err := Run(mech, cfg)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, r...)
	}
	for _, r := range results {
		if (r.CNsPerOp == nil) != (r.Mechanism == "shm" && r.Pattern == "pingpong") {
			t.Errorf("%s %s: C time %v", r.Mechanism, r.Pattern, r.CNsPerOp)
		}
		if r.CNsPerOp != nil && (*r.CNsPerOp <= 0 || *r.Ratio <= 0) {
			t.Errorf("%s %s: C %v ratio %v", r.Mechanism, r.Pattern, *r.CNsPerOp, *r.Ratio)
		}
	}
}

// BuildRef builds once per source and compiler: a second call finds the
// program, a changed compiler builds another.
func TestBuildRefCaches(t *testing.T) {
	buildRef(t)
	dir := t.TempDir()
	first, err := BuildRef(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(first)
	if err != nil {
		t.Fatal(err)
	}
	again, err := BuildRef(dir)
	if err != nil || again != first {
		t.Fatalf("second build: %q, %v; want %q", again, err, first)
	}
	if st2, _ := os.Stat(again); !st2.ModTime().Equal(st.ModTime()) {
		t.Errorf("the second call rebuilt the program")
	}
	// Nothing but the program is left in the directory.
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("build directory holds %d entries, want 1", len(ents))
	}
}

// The C program refuses bad arguments with its usage, exit status 2, and
// leaves no object behind when a case fails.
func TestRefUsage(t *testing.T) {
	prog := buildRef(t)
	for _, args := range [][]string{
		{}, {"sem-split"}, {"carrier-pigeon", "same", "10", "64"}, {"sem-split", "moon", "10", "0"},
		{"msgq-ping", "same", "0", "64"}, {"msgq-ping", "same", "10", "0"}, {"pipe-ping", "same", "ten", "64"},
	} {
		out, err := exec.Command(prog, args...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.HasPrefix(string(out), "usage: cref") {
			t.Errorf("cref %q: %v %q", args, err, out)
		}
	}
	// A message larger than the queue's limit fails in msgsnd.
	out, err := exec.Command(prog, "msgq-ping", "same", "10", "1000000").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "cref: msgsnd:") {
		t.Errorf("oversized message: %v %q", err, out)
	}
}

// Without a C compiler, BuildRef says so in one line, matching ErrNoCC.
func TestBuildRefNoCC(t *testing.T) {
	t.Setenv("CC", "no-such-cc-anywhere")
	_, err := BuildRef(t.TempDir())
	if !errors.Is(err, ErrNoCC) || !strings.Contains(err.Error(), "no-such-cc-anywhere not found") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("got %v, want ErrNoCC naming the compiler", err)
	}
	t.Setenv("CC", "")
	t.Setenv("PATH", t.TempDir())
	if _, err := BuildRef(t.TempDir()); !errors.Is(err, ErrNoCC) || !strings.Contains(err.Error(), "cc not found") {
		t.Fatalf("empty PATH: got %v, want ErrNoCC", err)
	}
}

// A compiler that fails is reported with its first line of complaint.
func TestBuildRefFails(t *testing.T) {
	bin := t.TempDir()
	fake := filepath.Join(bin, "badcc")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'badcc: out of ideas' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CC", fake)
	dir := t.TempDir()
	_, err := BuildRef(dir)
	if err == nil || errors.Is(err, ErrNoCC) || !strings.Contains(err.Error(), "badcc: out of ideas") {
		t.Fatalf("got %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a failed build left %d entries behind", len(ents))
	}
}

// cref/Makefile builds the same program by hand.
func TestRefMakefile(t *testing.T) {
	buildRef(t)
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	dir := t.TempDir()
	for _, f := range []string{"cref.c", "Makefile"} {
		b, err := os.ReadFile(filepath.Join("cref", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("make", "-s", "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("make: %v\n%s", err, out)
	}
	out, err := exec.Command(filepath.Join(dir, "cref"), "sem-split", "same", "100", "0").Output()
	if err != nil || !strings.Contains(string(out), "ns_per_op=") {
		t.Fatalf("cref built by make: %v %q", err, out)
	}
}
