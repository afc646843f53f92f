package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestBenchCommand(t *testing.T) {
	var doc struct {
		CPU     string `json:"cpu"`
		Results []struct {
			Mechanism, Pattern string
			Size, Rounds       int
			NsPerOp            float64 `json:"ns_per_op"`
			OpsPerSec          float64 `json:"ops_per_sec"`
			MBPerSec           float64 `json:"mb_per_sec"`
		} `json:"results"`
	}
	out := ipcOK(t, "bench", "msgq", "--rounds", "100", "--cpu", "cross", "--json")
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if doc.CPU != "cross" || len(doc.Results) != 8 {
		t.Fatalf("%s", out)
	}
	for _, r := range doc.Results {
		rounds := 100
		if r.Pattern == "stream" {
			rounds = 1000 // ten messages a round
		}
		if !strings.HasPrefix(r.Mechanism, "msgq") || r.Rounds != rounds || r.NsPerOp <= 0 || r.MBPerSec <= 0 {
			t.Fatalf("result %+v", r)
		}
	}
	table := ipcOK(t, "bench", "sem", "--rounds", "100")
	if !strings.HasPrefix(table, "cpu placement: same") || !strings.Contains(table, "sem-combined") {
		t.Fatalf("table:\n%s", table)
	}
	for _, args := range [][]string{
		{"bench", "carrier-pigeon"}, {"bench", "--cpu", "moon"}, {"bench", "--rounds", "0"}, {"bench", "--size", "x"}, {"bench", "sem", "msgq"},
	} {
		if _, errs, code := ipcRun(t, nil, args...); code != 2 || !strings.HasPrefix(errs, "ipc: bench") {
			t.Errorf("ipc %v: exit %d %q", args, code, errs)
		}
	}
	noObjects(t)
}

// A signal in the middle of a run removes what it made and ends it at once.
func TestBenchSignal(t *testing.T) {
	for _, mech := range []string{"sem", "msgq", "socketpair", "shm"} {
		cmd := exec.Command(ipcBin, "bench", mech, "--rounds", "100000000")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for ipcObjects(t) == 0 && mech != "socketpair" && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // well into the measurement
		start := time.Now()
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("%s: took %v to stop", mech, el)
		}
		if code := cmd.ProcessState.ExitCode(); code != 143 {
			t.Errorf("%s: exit status %d, want 143", mech, code)
		}
		noObjects(t)
	}
}

// --ref builds the C reference program with the system's compiler and
// adds its times and the ratios; without a compiler it says so in one line
// before any case runs.
func TestBenchRef(t *testing.T) {
	cache := t.TempDir()
	if _, err := exec.LookPath("cc"); err == nil {
		cmd := exec.Command(ipcBin, "bench", "sem", "--rounds", "100", "--ref")
		cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+cache, "CC=")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("ipc bench --ref: %v", err)
		}
		if !strings.Contains(string(out), "Go/C") || strings.Count(string(out), "\n") != 6 {
			t.Fatalf("table:\n%s", out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n")[2:] {
			if f := strings.Fields(line); len(f) != 9 || f[7] == "-" {
				t.Errorf("row without C time: %q", line)
			}
		}
		if m, _ := filepath.Glob(filepath.Join(cache, "ipc-bench", "cref-*")); len(m) != 1 {
			t.Errorf("cache holds %v, want one program", m)
		}
	}
	cmd := exec.Command(ipcBin, "bench", "--ref", "--rounds", "100000000")
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+t.TempDir(), "CC=no-such-cc")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("without a compiler: %v", err)
	}
	want := "ipc: bench: --ref: no C compiler: no-such-cc not found (install gcc, or set CC)\n"
	if stderr.String() != want || stdout.Len() != 0 {
		t.Errorf("without a compiler: stdout %q stderr %q, want %q", stdout.String(), stderr.String(), want)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("took %v: cases ran before the compiler was looked for", el)
	}
	noObjects(t)
}
