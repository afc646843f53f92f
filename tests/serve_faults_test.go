package tests

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer collects a process's stderr while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// objectLines is the rows of util-linux's ipcs output for one kind (those
// that start with a key).
func objectLines(t *testing.T, b *bin, kind string) []string {
	t.Helper()
	path, argv := b.argv(real, "ipcs", kind)
	r := run(t, path, argv, runOpts{})
	var rows []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "0x") {
			rows = append(rows, l)
		}
	}
	return rows
}

// What util-linux's ipcs sees of `ipc serve`: while it runs, one semaphore
// set (accept lock, members, signature: 5 semaphores) and one queue holding
// the signature message, both mode 600; after kill -9 of the supervisor
// alone, once its workers are gone, nothing (its janitor removed them).
func TestServeSupervisorKilledAsIpcsSees(t *testing.T) {
	b := build(t)
	dir := t.TempDir()
	stderr := &syncBuffer{}
	cmd := exec.Command(b.ipc, "serve", "--addr", "127.0.0.1:0", "--workers", "2", "--state-dir", dir)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(stderr.String(), `msg="server ready"`); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not ready:\n%s", stderr)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "prefork-*.json"))
	if len(files) != 1 {
		t.Fatalf("state files %v", files)
	}
	var st struct {
		PID int `json:"pid"`
	}
	data, _ := os.ReadFile(files[0])
	if err := json.Unmarshal(data, &st); err != nil || st.PID != cmd.Process.Pid {
		t.Fatalf("state file: %s, %v", data, err)
	}
	sems, queues := objectLines(t, b, "-s"), objectLines(t, b, "-q")
	// key semid owner perms nsems / key msqid owner perms used-bytes messages
	if len(sems) != 1 || strings.Fields(sems[0])[3] != "600" || strings.Fields(sems[0])[4] != "5" {
		t.Errorf("ipcs -s while serving: %q", sems)
	}
	if len(queues) != 1 || strings.Fields(queues[0])[3] != "600" || strings.Fields(queues[0])[5] != "1" {
		t.Errorf("ipcs -q while serving: %q", queues)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Wait returns once the workers and the janitor, which share the
	// stderr pipe, have all gone.
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("the server's processes still hold its stderr 10 s after kill -9:\n%s", stderr)
	}
	if sems, queues := objectLines(t, b, "-s"), objectLines(t, b, "-q"); len(sems)+len(queues) != 0 {
		t.Errorf("after kill -9 of the supervisor: ipcs -s %q, ipcs -q %q\n%s", sems, queues, stderr)
	}
	if !strings.Contains(stderr.String(), `msg="removed the server's IPC objects"`) {
		t.Errorf("the janitor did not say what it removed:\n%s", stderr)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "prefork-*.json")); len(files) != 0 {
		t.Errorf("state files left: %v", files)
	}
}
