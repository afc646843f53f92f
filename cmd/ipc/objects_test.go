package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/msgq"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/ipctoolkit/ipc/shm"
)

// ipcRun runs the ipc binary with stdin and returns stdout, stderr and the
// exit status.
func ipcRun(t *testing.T, stdin []byte, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(ipcBin, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// ipcOK runs ipc and fails the test unless it succeeds.
func ipcOK(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := ipcRun(t, nil, args...)
	if code != 0 {
		t.Fatalf("ipc %v: exit %d: %s", args, code, errs)
	}
	return out
}

// created runs a create command, checks it printed an id alone, and
// removes the object at the end of the test.
func created(t *testing.T, kind string, args ...string) string {
	t.Helper()
	out := ipcOK(t, append([]string{kind, "create"}, args...)...)
	id := strings.TrimSpace(out)
	if _, err := strconv.Atoi(id); err != nil || out != id+"\n" {
		t.Fatalf("create printed %q, want the id alone", out)
	}
	t.Cleanup(func() { ipcRun(t, nil, kind, "rm", id) })
	return id
}

func TestSemCommands(t *testing.T) {
	id := created(t, "sem", "--private", "--nsems", "3", "--value", "1")
	// 2:0 waits for semaphore 2, which is 1, to be zero: with --nowait the
	// whole operation fails.
	if _, errs, code := ipcRun(t, nil, "sem", "op", id, "0:-1", "1:+1", "2:0", "--nowait"); code != 1 || !strings.HasPrefix(errs, "ipc: ") {
		t.Fatalf("op that would block: exit %d, %q", code, errs)
	}
	ipcOK(t, "sem", "set", id, "--all", "1,0,0")
	ipcOK(t, "sem", "op", id, "0:-1", "1:+1", "2:0")
	ipcOK(t, "sem", "set", id, "--num", "2", "--value", "7")
	var doc struct {
		Semaphores []struct {
			Values []struct{ Value int } `json:"values"`
		} `json:"semaphores"`
	}
	if err := json.Unmarshal([]byte(ipcOK(t, "sem", "stat", id, "--json")), &doc); err != nil {
		t.Fatal(err)
	}
	got := []int{}
	for _, v := range doc.Semaphores[0].Values {
		got = append(got, v.Value)
	}
	if len(got) != 3 || got[0] != 0 || got[1] != 1 || got[2] != 7 {
		t.Fatalf("values %v, want [0 1 7]", got)
	}
	// stat prints what ipcs -i prints.
	if stat, ls := ipcOK(t, "sem", "stat", id), ipcOK(t, "ls", "-s", "-i", id); stat != ls {
		t.Fatalf("sem stat and ls -i differ:\n%s\n%s", stat, ls)
	}
	start := time.Now()
	_, errs, code := ipcRun(t, nil, "sem", "op", id, "0:-1", "--timeout", "200ms")
	if el := time.Since(start); code != 1 || !strings.Contains(errs, "timed out") || el < 200*time.Millisecond || el > 2*time.Second {
		t.Fatalf("timeout: exit %d after %v: %q", code, el, errs)
	}
	// A key, found again by get; --exclusive refuses a second one.
	key := "0x7fffffff"
	kid := created(t, "sem", "--key", key, "--nsems", "1", "--exclusive")
	if got := strings.TrimSpace(ipcOK(t, "sem", "get", "--key", key)); got != kid {
		t.Fatalf("get --key %s = %s, want %s", key, got, kid)
	}
	if _, _, code := ipcRun(t, nil, "sem", "create", "--key", key, "--nsems", "1", "--exclusive"); code != 1 {
		t.Fatalf("second exclusive create: exit %d", code)
	}
	if got := strings.TrimSpace(ipcOK(t, "sem", "create", "--key", key, "--nsems", "1")); got != kid {
		t.Fatalf("create without --exclusive opened %s, want %s", got, kid)
	}
}

func TestMsgqCommands(t *testing.T) {
	id := created(t, "msgq", "--private")
	msg := make([]byte, 8000)
	if _, err := rand.Read(msg); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		typ  string
		text []byte
	}{{"3", []byte("three")}, {"1", []byte("one")}, {"2", msg}, {"5", []byte("five")}} {
		if _, errs, code := ipcRun(t, m.text, "msgq", "send", id, "--type", m.typ); code != 0 {
			t.Fatal(errs)
		}
	}
	// Binary safe, through stdin and stdout.
	if out, _, _ := ipcRun(t, nil, "msgq", "recv", id, "--type", "2"); out != string(msg) {
		t.Fatal("the 8000-byte binary message came back changed")
	}
	// Lowest type first with a negative type; then except.
	if out := ipcOK(t, "msgq", "recv", id, "--type", "-4"); out != "one" {
		t.Fatalf("--type -4 gave %q, want one", out)
	}
	if out := ipcOK(t, "msgq", "recv", id, "--type", "3", "--except"); out != "five" {
		t.Fatalf("--type 3 --except gave %q, want five", out)
	}
	ipcOK(t, "msgq", "send", id, "--type", "9", "\xff\xfe")
	var got []message
	if err := json.Unmarshal([]byte(ipcOK(t, "msgq", "recv", id, "--count", "2", "--json")), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != (message{Type: 3, Size: 5, Text: "three"}) || got[1].Encoding != "base64" || got[1].Text != base64.StdEncoding.EncodeToString([]byte("\xff\xfe")) {
		t.Fatalf("json %+v", got)
	}
	// Truncation on request, E2BIG otherwise (the message stays queued).
	ipcOK(t, "msgq", "send", id, "--type", "1", "0123456789")
	if _, errs, code := ipcRun(t, nil, "msgq", "recv", id, "--max-size", "4"); code != 1 || !strings.Contains(errs, "too big") {
		t.Fatalf("recv of a too-long message: exit %d %q", code, errs)
	}
	if out := ipcOK(t, "msgq", "recv", id, "--max-size", "4", "--truncate"); out != "0123" {
		t.Fatalf("--truncate gave %q", out)
	}
	// Nothing left: --nowait fails at once, --timeout on time.
	if _, _, code := ipcRun(t, nil, "msgq", "recv", id, "--nowait"); code != 1 {
		t.Fatalf("recv --nowait on an empty queue: exit %d", code)
	}
	start := time.Now()
	_, errs, code := ipcRun(t, nil, "msgq", "recv", id, "--timeout", "300ms")
	if el := time.Since(start); code != 1 || el < 300*time.Millisecond || el > 2*time.Second || !strings.Contains(errs, "timed out") {
		t.Fatalf("recv --timeout 300ms: exit %d after %v: %q", code, el, errs)
	}
	ipcOK(t, "msgq", "set", id, "--qbytes", "1000", "--mode", "0640")
	q, err := msgq.FromID(atoi(t, id))
	if err != nil {
		t.Fatal(err)
	}
	info, err := q.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if info.QBytes != 1000 || info.Perm.Mode != 0o640 {
		t.Fatalf("after set: qbytes %d mode %v", info.QBytes, info.Perm.Mode)
	}
	if stat, ls := ipcOK(t, "msgq", "stat", id), ipcOK(t, "ls", "-q", "-i", id); stat != ls {
		t.Fatalf("msgq stat and ls -i differ:\n%s\n%s", stat, ls)
	}
}

func TestShmCommands(t *testing.T) {
	id := created(t, "shm", "--private", "--size", "8K")
	data := make([]byte, 5000)
	rand.Read(data)
	file := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ipcOK(t, "shm", "write", id, "--offset", "100", "--file", file)
	if out := ipcOK(t, "shm", "read", id, "--offset", "100", "--length", "5000"); out != string(data) {
		t.Fatal("read back differs from what was written")
	}
	if out := ipcOK(t, "shm", "read", id); len(out) != 8192 {
		t.Fatalf("read of the whole segment gave %d bytes", len(out))
	}
	if _, errs, code := ipcRun(t, data, "shm", "write", id, "--offset", "4000"); code != 1 || !strings.Contains(errs, "do not fit") {
		t.Fatalf("write past the end: exit %d %q", code, errs)
	}
	if _, _, code := ipcRun(t, nil, "shm", "read", id, "--offset", "8000", "--length", "500"); code != 1 {
		t.Fatalf("read past the end: exit %d", code)
	}
	ipcOK(t, "shm", "set", id, "--mode", "0640")
	if stat, ls := ipcOK(t, "shm", "stat", id), ipcOK(t, "ls", "-m", "-i", id); stat != ls {
		t.Fatalf("shm stat and ls -i differ:\n%s\n%s", stat, ls)
	}
}

func TestKeyAndLimits(t *testing.T) {
	k, err := ipc.Ftok("/etc/passwd", 7)
	if err != nil {
		t.Fatal(err)
	}
	if out := ipcOK(t, "key", "/etc/passwd", "--proj", "7"); out != k.String()+"\n" {
		t.Fatalf("key printed %q, want %s", out, k)
	}
	var lim map[string]uint64
	if err := json.Unmarshal([]byte(ipcOK(t, "limits", "--json")), &lim); err != nil {
		t.Fatal(err)
	}
	want, _ := ipc.ReadLimits()
	if lim["msgmax"] != want.MSGMAX || lim["semmsl"] != uint64(want.SEMMSL) || lim["shmmni"] != want.SHMMNI {
		t.Fatalf("limits --json %v", lim)
	}
	if out := ipcOK(t, "limits"); !strings.Contains(out, "SEMOPM") {
		t.Fatalf("limits:\n%s", out)
	}
}

// Every usage error exits 2 with one line, and leaves nothing behind.
func TestUsageErrors(t *testing.T) {
	before := ipcObjects(t)
	for _, args := range [][]string{
		{"sem", "create", "--key", "0xzz", "--nsems", "1"},
		{"sem", "create", "--private", "--nsems", "0"},
		{"sem", "create", "--private", "--nsems", "-2"},
		{"sem", "create", "--private", "--nsems", "1", "--mode", "0777"},
		{"sem", "create", "--private", "--nsems", "1", "--mode", "rw"},
		{"sem", "create", "--nsems", "1"},
		{"sem", "create", "--private", "--key", "1", "--nsems", "1"},
		{"sem", "create", "--private", "--nsems", "100000"},
		{"sem", "op", "0", "1"},
		{"sem", "op", "x", "0:-1"},
		{"sem", "set", "0"},
		{"msgq", "send", "0", "--type", "0", "x"},
		{"msgq", "send", "0", "--type", "-3", "x"},
		{"msgq", "send", "0", "x"},
		{"msgq", "recv", "0", "--count", "0"},
		{"msgq", "recv", "0", "--except"},
		{"shm", "create", "--private"},
		{"shm", "create", "--private", "--size", "0"},
		{"shm", "create", "--private", "--size", "lots"},
		{"sem", "create", "--private", "--nsems", "1", "--bogus"},
		{"nosuchcommand"},
		{"key"},
		{"key", "/etc/passwd", "--proj", "0"},
		{"completion", "fish"},
	} {
		_, errs, code := ipcRun(t, nil, args...)
		if code != 2 || strings.Count(errs, "\n") != 1 || !strings.HasPrefix(errs, "ipc: ") {
			t.Errorf("ipc %s: exit %d, stderr %q; want 2 and one line", strings.Join(args, " "), code, errs)
		}
	}
	_, errs, code := ipcRun(t, nil, "sem", "stat", "999999")
	if code != 1 || !strings.HasPrefix(errs, "ipc: ") {
		t.Errorf("stat of a missing id: exit %d %q", code, errs)
	}
	if after := ipcObjects(t); after != before {
		t.Fatalf("failed commands left objects: %d before, %d after", before, after)
	}
}

func TestManAndCompletion(t *testing.T) {
	if page := ipcOK(t, "man"); !strings.HasPrefix(page, ".nh\n.TH ipc 1") || !strings.Contains(page, "sem-demo") {
		t.Fatalf("man page starts %q", page[:min(40, len(page))])
	}
	if _, err := exec.LookPath("bash"); err == nil {
		cmd := exec.Command("bash", "-n")
		cmd.Stdin = strings.NewReader(ipcOK(t, "completion", "bash"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("bash completion script: %v %s", err, out)
		}
	}
	if got := ipcOK(t, "sem", "--generate-bash-completion"); !strings.Contains(got, "create\n") || !strings.Contains(got, "op\n") {
		t.Fatalf("completion words for sem: %q", got)
	}
	if !strings.Contains(ipcOK(t, "sem", "op", "--help"), "EXAMPLES") {
		t.Fatal("help sem op has no examples")
	}
}

func ipcObjects(t *testing.T) int {
	sets, err1 := sem.List()
	queues, err2 := msgq.List()
	segs, err3 := shm.List()
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatal(err1, err2, err3)
	}
	return len(sets) + len(queues) + len(segs)
}

func atoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
