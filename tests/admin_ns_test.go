package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAdminNamespace runs ls, rm and the object commands inside a
// namespace the test made, given by pid (before or after the command) and
// by path, and checks that the caller's own namespace is untouched.
func TestAdminNamespace(t *testing.T) {
	ns := newNS(t)
	pid := strconv.Itoa(ns.pid)
	seg := ns.must(t, "shm", "create", "--key", "0x6101", "--size", "100")
	local := run(t, ns.ipc, []string{"ipc", "ls", "-m"}, runOpts{})
	if strings.Contains(local.stdout, "0x00006101") {
		t.Fatalf("the segment made with --namespace is in our namespace:\n%s", local.stdout)
	}
	for _, argv := range [][]string{
		{"ipc", "--namespace", pid, "ls", "-m"},
		{"ipc", "ls", "-m", "--namespace", pid},
		{"ipc", "ls", "--namespace=" + pid, "-m"},
		{"ipc", "--namespace", "/proc/" + pid + "/ns/ipc", "ls", "-m"},
	} {
		r := run(t, ns.ipc, argv, runOpts{})
		if r.code != 0 || !regexp.MustCompile(`(?m)^0x00006101 `+seg+` +root +600 +100 `).MatchString(r.stdout) {
			t.Errorf("%q: %v", argv, r)
		}
	}

	// The object commands.
	q := ns.must(t, "msgq", "create", "--key", "0x6102")
	ns.must(t, "msgq", "send", q, "--type", "3", "hello")
	if got := ns.must(t, "msgq", "recv", q, "--nowait"); got != "hello" {
		t.Errorf("msgq recv in the namespace: %q", got)
	}
	if st := ns.must(t, "shm", "stat", seg); !strings.Contains(st, "shmid="+seg) || !strings.Contains(st, "bytes=100") {
		t.Errorf("shm stat in the namespace:\n%s", st)
	}
	set := ns.must(t, "sem", "create", "--key", "0x6103", "--nsems", "1")
	ns.must(t, "sem", "op", set, "0:+1")
	ns.must(t, "sem", "op", set, "0:-1", "--timeout", "1s")
	// Blocking calls with a timeout, whose machinery runs on threads of
	// their own: every thread must be in the namespace, or these would
	// fail with "invalid id" instead of waiting.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"sem", "op", set, "0:-1", "--timeout", "300ms"}, "ipc: sem: "},
		{[]string{"msgq", "recv", q, "--timeout", "300ms"}, "ipc: msgq: receive from queue " + q + ": timed out"},
	} {
		start := time.Now()
		r := ns.run(t, c.args...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, c.want) || !strings.Contains(r.stderr, "timed out") || strings.Count(r.stderr, "\n") != 1 ||
			time.Since(start) < 300*time.Millisecond {
			t.Errorf("%q in the namespace: %v after %v; want one line starting %q, saying it timed out, after 300ms", c.args, r, time.Since(start), c.want)
		}
	}

	// A bind-mounted namespace file, as ip netns and container runtimes
	// keep them.
	file := filepath.Join(t.TempDir(), "ns")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "--bind", "/proc/"+pid+"/ns/ipc", file).CombinedOutput(); err != nil {
		t.Logf("no bind mount here (%v: %s): skipping the namespace file case", err, out)
	} else {
		r := run(t, ns.ipc, []string{"ipc", "--namespace", file, "ls", "-q"}, runOpts{})
		exec.Command("umount", file).Run()
		if r.code != 0 || !strings.Contains(r.stdout, "0x00006102 "+q+" ") {
			t.Errorf("--namespace %s ls -q: %v", file, r)
		}
	}

	// rm, with ipcrm's options.
	ns.must(t, "rm", "-M", "0x6101", "-Q", "0x6102", "-s", set)
	if r := ns.must(t, "ls"); strings.Contains(r, "0x0000610") {
		t.Errorf("after rm in the namespace:\n%s", r)
	}
}

// TestAdminNamespaceStatus runs ipc serve inside a namespace and reads its
// scoreboard with ipc status --namespace: from outside, the segment cannot
// be found.
func TestAdminNamespaceStatus(t *testing.T) {
	ns := newNS(t)
	dir := t.TempDir()
	var stderr bytes.Buffer
	serve := exec.Command("nsenter", "-t", strconv.Itoa(ns.pid), "-i", "--", ns.ipc, "serve", "--addr", "127.0.0.1:0", "--workers", "1", "--state-dir", dir)
	serve.Stderr = &stderr
	serve.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serve.Wait() }()
	defer func() {
		serve.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			serve.Process.Kill()
			<-done
		}
	}()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if r := ns.run(t, "status", "--state-dir", dir); r.code == 0 {
			if !regexp.MustCompile(`^server pid \d+ on 127\.0\.0\.1:\d+`).MatchString(r.stdout) {
				t.Errorf("ipc --namespace %d status:\n%v", ns.pid, r)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ipc status --namespace never saw the server:\n%s", stderr.String())
		}
	}
	// Without --namespace, status finds the supervisor's namespace through
	// its pid (as for a --private-ipc server) and enters it by itself.
	out := run(t, ns.ipc, []string{"ipc", "status", "--state-dir", dir}, runOpts{})
	if out.code != 0 || !regexp.MustCompile(`^server pid \d+ on 127\.0\.0\.1:\d+`).MatchString(out.stdout) {
		t.Errorf("ipc status outside the server's namespace: %v; want it to enter the server's namespace and show it", out)
	}
}

// TestAdminAllNamespaces lists two namespaces the test made, with their
// objects, as text, as JSON (a "namespace" on each object), as orphans and
// as metrics.
func TestAdminAllNamespaces(t *testing.T) {
	a, b := newNS(t), newNS(t)
	a.must(t, "msgq", "create", "--key", "0x6201")
	b.must(t, "shm", "create", "--key", "0x6202", "--size", "64")
	b.child(t, "mkshm", "0x6203")
	ours := nsInode(t, "/proc/self/ns/ipc")
	// The machine's other namespaces come and go, and one may be owned by
	// a user namespace root cannot enter: a failure is allowed only for
	// those, never for ours, a's or b's.
	listAll := func(args ...string) result {
		t.Helper()
		r := run(t, a.ipc, append([]string{"ipc", "ls", "--all-namespaces"}, args...), runOpts{})
		if r.code == 0 && r.stderr == "" {
			return r
		}
		for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
			var ino uint64
			if _, err := fmt.Sscanf(line, "ipc: ls --all-namespaces: namespace %d:", &ino); err != nil || r.code != 1 ||
				ino == a.inode || ino == b.inode || ino == ours {
				t.Fatalf("ls --all-namespaces %q: %v", args, r)
			}
		}
		return r
	}

	r := listAll()
	sections := map[uint64]string{}
	for _, part := range strings.Split(r.stdout, "IPC namespace ")[1:] {
		ino, _ := strconv.ParseUint(strings.Fields(part)[0], 10, 64)
		sections[ino] = part
	}
	if s := sections[a.inode]; !strings.HasPrefix(s, fmt.Sprintf("%d (pid %d sleep)\n", a.inode, a.pid)) || !strings.Contains(s, "\n0x00006201 ") || strings.Contains(s, "0x00006202") {
		t.Errorf("namespace a's section:\n%s", s)
	}
	if s := sections[b.inode]; !strings.HasPrefix(s, fmt.Sprintf("%d (pid %d sleep, 2 processes)\n", b.inode, b.pid)) || !strings.Contains(s, "\n0x00006202 ") || !strings.Contains(s, "\n0x00006203 ") {
		t.Errorf("namespace b's section:\n%s", s)
	}
	if s := sections[ours]; !strings.Contains(s, "this namespace") {
		t.Errorf("our namespace's section:\n%s\nall:\n%s", s, r.stdout)
	}

	// JSON: the namespaces, then every object with its namespace.
	r = listAll("-q", "-m", "--json")
	var doc struct {
		Namespaces []struct {
			Inode     uint64 `json:"inode"`
			PID       int    `json:"pid"`
			Processes int    `json:"processes"`
			Command   string `json:"command"`
			Current   bool   `json:"current"`
		} `json:"namespaces"`
		Messages     []map[string]any `json:"messages"`
		SharedMemory []map[string]any `json:"sharedmemory"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("ls --all-namespaces --json: %v: %v", err, r)
	}
	nsOf := func(objs []map[string]any, key string) (uint64, bool) {
		for _, o := range objs {
			if o["keyhex"] == key {
				n, _ := o["namespace"].(map[string]any)
				ino, _ := n["inode"].(float64)
				return uint64(ino), true
			}
		}
		return 0, false
	}
	for key, want := range map[string]uint64{"0x00006201": a.inode} {
		if got, ok := nsOf(doc.Messages, key); !ok || got != want {
			t.Errorf("queue %s: namespace %d (found %v), want %d", key, got, ok, want)
		}
	}
	for key, want := range map[string]uint64{"0x00006202": b.inode, "0x00006203": b.inode} {
		if got, ok := nsOf(doc.SharedMemory, key); !ok || got != want {
			t.Errorf("segment %s: namespace %d (found %v), want %d", key, got, ok, want)
		}
	}
	seen := 0
	for _, n := range doc.Namespaces {
		switch n.Inode {
		case a.inode:
			seen++
			if n.PID != a.pid || n.Command != "sleep" || n.Processes != 1 || n.Current {
				t.Errorf("namespace a: %+v", n)
			}
		case b.inode:
			seen++
			if n.PID != b.pid || n.Processes != 2 {
				t.Errorf("namespace b: %+v", n)
			}
		case ours:
			if !n.Current {
				t.Errorf("our namespace not marked current: %+v", n)
			}
		}
	}
	if seen != 2 {
		t.Errorf("namespaces: %+v", doc.Namespaces)
	}

	// Orphans everywhere: b's first segment (its creator, an ipc, exited).
	r = listAll("--orphaned", "--json")
	vs := parseVerdicts(t, r.stdout)
	if v := vs["0x00006202"]; !v.Orphaned || v.Namespace == nil || v.Namespace.Inode != b.inode || v.Namespace.PID != b.pid {
		t.Errorf("orphan 0x6202 across namespaces: %+v", v)
	}
	if _, ok := vs["0x00006203"]; ok {
		t.Errorf("0x6203 (its creator lives) listed as an orphan")
	}

	// Metrics: one exposition, a namespace label on every sample.
	r = listAll("--prometheus")
	m := parseMetrics(t, r.stdout)
	for sample, want := range map[string]float64{
		fmt.Sprintf(`ipc_objects{namespace="%d",kind="queue"}`, a.inode):                               1,
		fmt.Sprintf(`ipc_objects{namespace="%d",kind="segment"}`, b.inode):                             2,
		fmt.Sprintf(`ipc_orphans{namespace="%d",kind="segment",confidence="certain"}`, b.inode):        1,
		fmt.Sprintf(`ipc_segment_size_bytes{namespace="%d",id="0",key="0x00006202",uid="0"}`, b.inode): 64,
	} {
		if got, ok := m[sample]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", sample, got, ok, want)
		}
	}
	promtool(t, r.stdout)

	a.must(t, "rm", "-Q", "0x6201")
	b.must(t, "rm", "-M", "0x6202", "-M", "0x6203")
}
