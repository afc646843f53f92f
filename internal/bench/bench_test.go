package bench

import (
	"os"
	"os/exec"
	"path/filepath"
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
		mech, want := "all", 10 // one msgq stream size, as Size is set
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
	if len(results) != 2 || results[0].Size != 100 || results[1].Size != 100 {
		t.Fatalf("--size 100 for msgq: %+v", results)
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

// With the C programs built from ../shared/bench-ref (where this checkout
// has them), every case but shm ping-pong gets a C time and a ratio.
func TestReference(t *testing.T) {
	src, err := filepath.Abs("../../../shared/bench-ref")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(src, "Makefile")); err != nil {
		t.Skip("no ../shared/bench-ref in this checkout")
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc")
	}
	dir := t.TempDir()
	build := exec.Command("sh", "-c", "cp *.c *.h Makefile "+dir+" && make -s -C "+dir)
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the C programs: %v\n%s", err, out)
	}
	var results []Result
	for _, mech := range Mechanisms {
		cfg := Config{Rounds: 200, CPU: SameCPU, Repeat: 1, RefDir: dir}
		if mech == "sem" {
			cfg.Repeat = 3 // Go and C taking turns
		}
		if mech == "shm" {
			cfg.Size = 1 << 20 // shmcopy counts in MiB
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
