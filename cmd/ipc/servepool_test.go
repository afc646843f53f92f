package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Each pool or breaker flag out of its range, or given with a pool that
// does not use it, is a usage error: exit 2, one line naming the flag, and
// nothing created (no state file, no IPC object).
func TestServePoolUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--pool", "elastic"}, "--pool must be static, dynamic or ondemand"},
		{[]string{"--pool", "dynamic", "--min-spare", "5", "--max-spare", "3"}, "--min-spare (5) must not be above --max-spare (3)"},
		{[]string{"--pool", "dynamic", "--start-workers", "6", "--max-workers", "4", "--max-spare", "3"}, "--max-workers (4) must not be below --start-workers (6)"},
		{[]string{"--pool", "dynamic", "--max-spare", "6", "--max-workers", "4"}, "--max-workers (4) must not be below --max-spare (6)"},
		{[]string{"--pool", "dynamic", "--max-workers", "5000"}, "--max-workers must be between 1 and 4096"},
		{[]string{"--pool", "ondemand", "--max-workers", "0"}, "--max-workers must be between 1 and 4096"},
		{[]string{"--pool", "dynamic", "--min-spare", "0"}, "--min-spare must be between 1 and 4096"},
		{[]string{"--pool", "dynamic", "--max-spare", "-2"}, "--max-spare must be between 1 and 4096"},
		{[]string{"--pool", "ondemand", "--idle-timeout-worker", "0s"}, "--idle-timeout-worker must be between 1s and 24h"},
		{[]string{"--pool", "ondemand", "--idle-timeout-worker", "-5s"}, "--idle-timeout-worker must be between 1s and 24h"},
		{[]string{"--min-spare", "2"}, "--min-spare is for --pool dynamic, not static"},
		{[]string{"--pool", "ondemand", "--max-spare", "2"}, "--max-spare is for --pool dynamic, not ondemand"},
		{[]string{"--pool", "dynamic", "--idle-timeout-worker", "5s"}, "--idle-timeout-worker is for --pool ondemand, not dynamic"},
		{[]string{"--idle-timeout-worker", "5s"}, "--idle-timeout-worker is for --pool ondemand, not static"},
		{[]string{"--pool", "ondemand", "--start-workers", "1"}, "--start-workers is for --pool dynamic, not ondemand"},
		{[]string{"--pool", "dynamic", "--workers", "3"}, "--workers is for --pool static, not dynamic"},
		{[]string{"--crash-limit", "-1"}, "--crash-limit must be between 0 (off) and 1000000"},
		{[]string{"--crash-window", "10s"}, "--crash-window needs --crash-limit"},
		{[]string{"--on-crash-limit", "exit"}, "--on-crash-limit needs --crash-limit"},
		{[]string{"--crash-limit", "3", "--crash-window", "0s"}, "--crash-window must be between 1s and 24h"},
		{[]string{"--crash-limit", "3", "--crash-window", "-1m"}, "--crash-window must be between 1s and 24h"},
		{[]string{"--crash-limit", "3", "--on-crash-limit", "reboot"}, "--on-crash-limit must be restart or exit"},
	} {
		dir := t.TempDir()
		out, err := exec.Command(ipcBin, append([]string{"serve", "--addr", "127.0.0.1:0", "--state-dir", dir}, tc.args...)...).CombinedOutput()
		if code := exitCode(err); code != 2 || !strings.HasPrefix(string(out), "ipc: serve: "+tc.want) ||
			strings.Count(string(out), "\n") != 1 {
			t.Errorf("ipc serve %v: exit %d, %q; want exit 2 and %q", tc.args, code, out, tc.want)
		}
		if ents, _ := os.ReadDir(dir); len(ents) > 0 {
			t.Errorf("ipc serve %v left %d files in its state dir", tc.args, len(ents))
		}
	}
	noObjects(t)
}

type poolJSON struct {
	Want    int `json:"want"`
	Workers []struct {
		State string `json:"state"`
	} `json:"workers"`
	Pool struct {
		Mode       string `json:"mode"`
		Idle       int    `json:"idle"`
		Busy       int    `json:"busy"`
		MaxWorkers int    `json:"max_workers"`
		MinSpare   int    `json:"min_spare"`
		MaxSpare   int    `json:"max_spare"`
		Reached    uint64 `json:"max_workers_reached"`
		Crashes    uint64 `json:"crashes"`
		CrashTrips uint64 `json:"crash_trips"`
		SpawnsLoad uint64 `json:"spawns_load"`
	} `json:"pool"`
}

func (s *serveProc) poolStatus(t *testing.T) poolJSON {
	t.Helper()
	var st poolJSON
	out := s.status(t, "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("ipc status --json: %v\n%s", err, out)
	}
	return st
}

// ipc serve --pool dynamic and ondemand, read by ipc status in JSON and
// text; SIGTTIN and SIGTTOU move an automatic pool's maximum.
func TestServePool(t *testing.T) {
	s := startServe(t, "--pool", "dynamic", "--min-spare", "2", "--max-spare", "3", "--start-workers", "2", "--max-workers", "6", "--handler", "upper")
	var st poolJSON
	for deadline := time.Now().Add(5 * time.Second); ; {
		st = s.poolStatus(t)
		if st.Pool.Idle == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st.Pool.Mode != "dynamic" || st.Pool.Idle != 2 || st.Pool.MinSpare != 2 || st.Pool.MaxSpare != 3 || st.Pool.MaxWorkers != 6 {
		t.Errorf("ipc status --json: %+v", st)
	}
	upperAsk(t, s.addr, "pool")
	text := s.status(t)
	if !strings.Contains(text, "pool dynamic: ") || !strings.Contains(text, "at most 6 workers, 2 to 3 spare") {
		t.Errorf("ipc status:\n%s", text)
	}
	t.Logf("ipc status:\n%s", text)
	s.cmd.Process.Signal(syscall.SIGTTOU)
	for deadline := time.Now().Add(5 * time.Second); s.poolStatus(t).Pool.MaxWorkers != 5; {
		if time.Now().After(deadline) {
			t.Fatalf("after SIGTTOU: %+v", s.poolStatus(t).Pool)
		}
		time.Sleep(50 * time.Millisecond)
	}

	o := startServe(t, "--pool", "ondemand", "--max-workers", "2", "--idle-timeout-worker", "1s", "--handler", "upper")
	if st := o.poolStatus(t); st.Pool.Mode != "ondemand" || len(st.Workers) != 0 || st.Pool.MaxWorkers != 2 {
		t.Errorf("ondemand at start: %+v", st)
	}
	upperAsk(t, o.addr, "on demand")
	if st := o.poolStatus(t); len(st.Workers) != 1 || st.Pool.SpawnsLoad != 1 {
		t.Errorf("ondemand after a connection: %+v", st)
	}
	if text := o.status(t); !strings.Contains(text, "pool ondemand: ") || !strings.Contains(text, "idle timeout 1s") {
		t.Errorf("ipc status:\n%s", text)
	}
}

// --crash-limit with --on-crash-limit exit: workers killed from outside
// trip it, and ipc serve exits 1 saying why, for systemd's Restart=.
func TestServeCrashLimitExit(t *testing.T) {
	s := startServe(t, "--workers", "2", "--crash-limit", "2", "--crash-window", "30s", "--on-crash-limit", "exit", "--handler", "upper")
	killed := map[int]bool{}
	for len(killed) < 2 {
		for _, w := range s.statusJSON(t).Workers {
			if !killed[w.PID] && w.State != "starting" && len(killed) < 2 {
				syscall.Kill(w.PID, syscall.SIGKILL)
				killed[w.PID] = true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		t.Fatal("ipc serve still running after 2 crashes with --crash-limit 2")
	}
	out := s.stderr.String()
	if code := exitCode(s.err); code != 1 || !strings.Contains(out, "ipc: prefork: 2 workers crashed within 30s (the crash limit)") ||
		!strings.Contains(out, `msg="CRASH LIMIT REACHED: workers keep crashing"`) {
		t.Errorf("exit %d:\n%s", code, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "CRASH") || strings.HasPrefix(l, "ipc: ") {
			t.Logf("%s", l)
		}
	}
	noObjects(t)
}
