package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/benchserve"
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

// ipc bench serve runs every design this build has in a small form, and
// its numbers add up: every connection served and counted once, by the
// clients and by the server, the workers' shares summing to it, CPU spent.
// fork, whose every connection is a process started, gets fewer.
func TestBenchServe(t *testing.T) {
	var others []string
	for _, m := range benchserve.Modes {
		if m != "fork" {
			others = append(others, m)
		}
	}
	runs := []struct {
		modes          []string
		clients, conns int
	}{{others, 8, 100}}
	if slices.Contains(benchserve.Modes, "fork") {
		runs = append(runs, struct {
			modes          []string
			clients, conns int
		}{[]string{"fork"}, 4, 50})
	}
	for _, run := range runs {
		out := ipcOK(t, "bench", "serve", "--modes", strings.Join(run.modes, ","), "--clients", strconv.Itoa(run.clients),
			"--connections", strconv.Itoa(run.conns), "--bytes", "2k", "--workers", "2", "--json")
		var rep benchserve.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if rep.Clients != run.clients || rep.Connections != run.conns || rep.Bytes != 2048 || rep.Workers != 2 || len(rep.Results) != len(run.modes) {
			t.Fatalf("report %+v", rep)
		}
		total := uint64(run.clients * run.conns)
		for i, r := range rep.Results {
			var sum uint64
			for _, n := range r.Shares.PerWorker {
				sum += n
			}
			sum += r.Shares.Exited
			workers := 2
			switch r.Mode {
			case "single":
				workers = 1
			case "fork":
				workers = 0 // a child per connection, none left
			}
			switch {
			case r.Mode != run.modes[i]:
				t.Errorf("result %d is %s, want %s", i, r.Mode, run.modes[i])
			case r.Connections != int(total) || r.Failed != 0 || r.Served != total:
				t.Errorf("%s: %d connections, %d failed (%v), %d served; want %d, 0, %d", r.Mode, r.Connections, r.Failed, r.Errors, r.Served, total, total)
			case sum != r.Served || len(r.Shares.PerWorker) != workers:
				t.Errorf("%s: shares %+v add up to %d, want %d over %d workers", r.Mode, r.Shares, sum, r.Served, workers)
			case r.Shares.Min > r.Shares.Max || r.Shares.Stddev < 0 || r.Shares.Max == 0:
				t.Errorf("%s: shares %+v", r.Mode, r.Shares)
			case r.Mode == "fork" && (r.Workers != int(total) || r.Shares.Max != 1):
				t.Errorf("fork: %d children for %d connections, shares %+v", r.Workers, total, r.Shares)
			case r.WallSeconds <= 0 || r.PerSecond <= 0:
				t.Errorf("%s: wall %v s, %v connections/s", r.Mode, r.WallSeconds, r.PerSecond)
			case r.CPU.Total <= 0 || r.LifeCPU.Total < r.CPU.Total/2 || r.CPUPerConnection <= 0:
				// The load's CPU is read to a clock tick per process, the
				// life's to a microsecond: the life is at least about it.
				t.Errorf("%s: cpu %+v, life %+v, %v us per connection", r.Mode, r.CPU, r.LifeCPU, r.CPUPerConnection)
			}
		}
	}
	noObjects(t)

	table := ipcOK(t, "bench", "serve", "--modes", "single", "--clients", "2", "--connections", "10")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "2 clients x 10 connections of 4000 bytes") ||
		!strings.Contains(lines[1], "cpu us/conn") || strings.Fields(lines[2])[0] != "single" {
		t.Fatalf("table:\n%s", table)
	}

	for _, args := range [][]string{
		{"--modes", "prefork,carrier-pigeon"}, {"--modes", "single,single"}, {"--clients", "0"},
		{"--connections", "-1"}, {"--bytes", "x"}, {"--bytes", "0"}, {"--workers", "0"}, {"extra"},
	} {
		args = append([]string{"bench", "serve"}, args...)
		if out, errs, code := ipcRun(t, nil, args...); code != 2 || !strings.HasPrefix(errs, "ipc: bench serve: ") || strings.Count(errs, "\n") != 1 || out != "" {
			t.Errorf("ipc %v: exit %d, stdout %q, stderr %q; want 2 and one line", args, code, out, errs)
		}
	}
	for _, m := range benchserve.KnownModes {
		if slices.Contains(benchserve.Modes, m) {
			continue
		}
		_, errs, code := ipcRun(t, nil, "bench", "serve", "--modes", m)
		if want := "ipc: bench serve: mode \"" + m + "\" is not available in this build"; code != 2 || !strings.HasPrefix(errs, want) {
			t.Errorf("--modes %s: exit %d, %q; want 2 and %q", m, code, errs, want)
		}
	}
}

// A signal in the middle of ipc bench serve stops the server and the
// clients, and leaves nothing behind.
func TestBenchServeSignal(t *testing.T) {
	cmd := exec.Command(ipcBin, "bench", "serve", "--modes", "prefork", "--connections", "10000000", "--json")
	var stdout strings.Builder
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for ipcObjects(t) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // into the load
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("took %v to stop", el)
	}
	if code := cmd.ProcessState.ExitCode(); code != 143 || stdout.Len() != 0 {
		t.Errorf("exit status %d, stdout %q; want 143 and nothing", code, stdout.String())
	}
	noObjects(t)
}
