package main

import (
	"encoding/json"
	"os/exec"
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
	if doc.CPU != "cross" || len(doc.Results) != 4 {
		t.Fatalf("%s", out)
	}
	for _, r := range doc.Results {
		if r.Mechanism != "msgq" || r.Rounds != 100 || r.NsPerOp <= 0 || r.MBPerSec <= 0 {
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
