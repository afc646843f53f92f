package main

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A flag the chosen mode cannot honour is a usage error (exit 2, one line)
// before anything is made.
func TestServeModeUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--mode", "thread"}, `ipc: serve: --mode must be one of prefork, fork, pass, reuseport, not "thread"`},
		{[]string{"--mode", "fork", "--accept", "shared"}, "ipc: serve: --accept cannot be used with --mode fork: "},
		{[]string{"--mode", "pass", "--accept", "lock"}, "ipc: serve: --accept cannot be used with --mode pass: "},
		{[]string{"--mode", "reuseport", "--accept", "hold"}, "ipc: serve: --accept cannot be used with --mode reuseport: "},
		{[]string{"--accept", "turns"}, `ipc: serve: --accept must be lock, hold or shared, not "turns"`},
		{[]string{"--mode", "reuseport", "--max-children", "4"}, "ipc: serve: --max-children cannot be used with --mode reuseport: "},
		{[]string{"--max-children", "4"}, "ipc: serve: --max-children cannot be used with --mode prefork: "},
		{[]string{"--mode", "fork", "--workers", "2"}, "ipc: serve: --workers cannot be used with --mode fork: "},
		{[]string{"--mode", "fork", "--max-requests", "2"}, "ipc: serve: --max-requests cannot be used with --mode fork: "},
		{[]string{"--mode", "fork", "--pool", "dynamic"}, "ipc: serve: --pool cannot be used with --mode fork: "},
		{[]string{"--mode", "reuseport", "--pool", "ondemand"}, "ipc: serve: --pool ondemand cannot be used with --mode reuseport: "},
		{[]string{"--mode", "fork", "--max-children", "0"}, "ipc: serve: --max-children must be between 1 and 4096, not 0"},
		{[]string{"--mode", "reuseport", "--addr", "unix:/tmp/ipc-modes.sock"}, "ipc: serve: --mode reuseport takes TCP addresses only"},
		{[]string{"--mode", "pass", "--addr", "127.0.0.1:0,127.0.0.1:0"}, "ipc: serve: --mode pass accepts on one --addr, not 2"},
	} {
		out, err := exec.Command(ipcBin, append([]string{"serve", "--state-dir", t.TempDir()}, tc.args...)...).CombinedOutput()
		if code := exitCode(err); code != 2 || !strings.HasPrefix(string(out), tc.want) || strings.Count(string(out), "\n") != 1 {
			t.Errorf("ipc serve %v: exit %d, %q; want exit 2, %q", tc.args, code, out, tc.want)
		}
	}
	noObjects(t)
}

// Each mode through the command line: the upper handler answers, ipc status
// says the mode (and pass's per-worker passes, reuseport's sockets, fork's
// children), a fork child's end is logged in the textbook's words, and
// SIGTERM stops it with exit 0 and nothing left.
func TestServeModes(t *testing.T) {
	for _, tc := range []struct {
		mode string
		args []string
		line *regexp.Regexp
		col  string
	}{
		{"fork", []string{"--max-children", "8"}, regexp.MustCompile(`(?m)^mode fork: 0 children alive of at most 8, 5 forked since the start$`), ""},
		{"pass", []string{"--workers", "2"}, regexp.MustCompile(`(?m)^mode pass: 5 connections passed to the workers since the start$`), "PASSED"},
		{"reuseport", []string{"--workers", "2"}, regexp.MustCompile(`(?m)^mode reuseport$`), "SOCKET"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			s := startServe(t, append([]string{"--mode", tc.mode, "--handler", "upper"}, tc.args...)...)
			for i := range 5 {
				upperAsk(t, s.addr, "hello "+strconv.Itoa(i))
			}
			var text string
			for deadline := time.Now().Add(5 * time.Second); ; {
				// fork: the children of the five connections are reaped.
				text = s.status(t)
				if tc.line.MatchString(text) || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if !tc.line.MatchString(text) || !strings.Contains(text, tc.col) {
				t.Errorf("ipc status:\n%s\nwant a line matching %s and a %s column", text, tc.line, tc.col)
			}
			var st struct {
				Mode   string `json:"mode"`
				Passed uint64 `json:"passed"`
			}
			if err := json.Unmarshal([]byte(s.status(t, "--json")), &st); err != nil || st.Mode != tc.mode {
				t.Errorf("ipc status --json: mode %q, %v", st.Mode, err)
			}
			if tc.mode == "fork" && strings.Count(s.stderr.String(), " exited with code 0\"") != 5 {
				t.Errorf("want 5 children logged as \"exited with code 0\":\n%s", s.stderr.String())
			}
			s.cmd.Process.Signal(syscall.SIGTERM)
			<-s.done
			if s.err != nil {
				t.Errorf("ipc serve: %v", s.err)
			}
			noObjects(t)
		})
	}
}
