package tests

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

type jsonDoc map[string][]map[string]any

func lsJSON(t *testing.T, b *bin, o runOpts, a ...string) (jsonDoc, result) {
	t.Helper()
	p, argv := b.argv(subcmd, "ipcs", append(a, "--json")...)
	r := run(t, p, argv, o)
	var doc jsonDoc
	if r.stdout != "" {
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Fatalf("ipc ls %q --json: %v\n%s", a, err, r.stdout)
		}
	}
	return doc, r
}

func find(t *testing.T, doc jsonDoc, array string, id int) map[string]any {
	t.Helper()
	for _, e := range doc[array] {
		if e["id"] == float64(id) {
			return e
		}
	}
	t.Fatalf("%s has no id %d: %v", array, id, doc[array])
	return nil
}

// check compares the fields of a JSON element with what they must be.
func check(t *testing.T, what string, e map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if got, ok := e[k]; !ok || got != v {
			t.Errorf("%s: %q = %#v; want %#v", what, k, got, v)
		}
	}
}

func isTime(t *testing.T, what string, v any) {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Errorf("%s: %#v is not a time", what, v)
		return
	}
	when, err := time.Parse(time.RFC3339, s)
	if err != nil || time.Since(when) > time.Hour || time.Until(when) > time.Minute {
		t.Errorf("%s: %q: not a time of this test (%v)", what, s, err)
	}
}

// lsJSONSchema checks ipc ls --json's document against what the fixture
// holds (util-linux has no such output to compare with).
func lsJSONSchema(t *testing.T, b *bin, f *fixture) {
	doc, r := lsJSON(t, b, runOpts{})
	if r.code != 0 || r.stderr != "" || len(doc) != 3 {
		t.Fatalf("ipc ls --json: %v", r)
	}
	q := find(t, doc, "messages", f.ids["Q1"])
	check(t, "Q1", q, map[string]any{
		"key": float64(0x1234), "keyhex": "0x00001234", "owner": "root", "perms": "rw-------", "mode": float64(0o600),
		"octal": "0600", "usedbytes": float64(200), "msgs": float64(2), "qbytes": float64(16384),
		"lspid": float64(os.Getpid()), "cuid": float64(0), "cuser": "root", "cgroup": "root",
	})
	isTime(t, "Q1 send", q["send"])
	isTime(t, "Q1 recv", q["recv"])
	isTime(t, "Q1 ctime", q["ctime"])
	check(t, "Q4", find(t, doc, "messages", f.ids["Q4"]), map[string]any{
		"owner": "4242", "user": nil, "cuser": nil, "uid": float64(4242), "cgid": float64(4242), "send": nil, "recv": nil,
	})
	check(t, "Q6", find(t, doc, "messages", f.ids["Q6"]), map[string]any{
		"key": float64(0xffffffff), "owner": "nobody", "uid": float64(nobody), "cuid": float64(0), "perms": "rw-rw----",
	})
	check(t, "Q8", find(t, doc, "messages", f.ids["Q8"]), map[string]any{
		"key": float64(0x80000000), "perms": "---------", "mode": float64(0), "octal": "0",
	})
	check(t, "M3", find(t, doc, "sharedmemory", f.ids["M3"]), map[string]any{
		"key": float64(0), "size": float64(8192), "nattch": float64(1), "status": "dest", "dest": true, "locked": false,
	})
	check(t, "M4", find(t, doc, "sharedmemory", f.ids["M4"]), map[string]any{"status": "locked", "locked": true, "attach": nil})
	check(t, "M6", find(t, doc, "sharedmemory", f.ids["M6"]), map[string]any{"status": "dest,locked"})
	m := find(t, doc, "sharedmemory", f.ids["size8"])
	check(t, "12345678901 bytes", m, map[string]any{"size": float64(12345678901), "status": nil, "cpid": float64(os.Getpid())})
	if cmd, _ := m["command"].(string); !strings.HasPrefix(cmd, os.Args[0]) {
		t.Errorf("command of a segment this test made: %#v", m["command"])
	}
	check(t, "M0", find(t, doc, "sharedmemory", f.ids["M0"]), map[string]any{"command": nil}) // ipcmk is gone
	s := find(t, doc, "semaphores", f.ids["S1"])
	check(t, "S1", s, map[string]any{"key": float64(0x7fffffff), "nsems": float64(2)})
	isTime(t, "S1 otime", s["otime"])
	if _, ok := s["values"]; ok {
		t.Errorf("values without -i: %v", s)
	}

	// -i: one element, and a set's values.
	doc, r = lsJSON(t, b, runOpts{}, "-s", "-i", f.id("S4"))
	if r.code != 0 || len(doc) != 1 || len(doc["semaphores"]) != 1 {
		t.Fatalf("ipc ls -s -i --json: %v", r)
	}
	vals, _ := doc["semaphores"][0]["values"].([]any)
	if len(vals) != 3 {
		t.Fatalf("values: %v", doc["semaphores"][0])
	}
	for i, want := range []map[string]any{
		{"semnum": float64(0), "value": float64(0), "ncount": float64(1), "zcount": float64(0)},
		{"semnum": float64(1), "value": float64(1), "ncount": float64(0), "zcount": float64(1)},
		{"semnum": float64(2), "value": float64(32767), "pid": float64(os.Getpid())},
	} {
		check(t, "S4 value "+strconv.Itoa(i), vals[i].(map[string]any), want)
	}
	doc, r = lsJSON(t, b, runOpts{}, "-q", "-i", "999")
	if r.code != 0 || r.stderr != "ipc: id 999 not found\n" || doc["messages"] == nil || len(doc["messages"]) != 0 {
		t.Errorf("ipc ls -q -i 999 --json: %v", r)
	}
	_, r = lsJSON(t, b, runOpts{nobody: true}, "-s", "-i", f.id("S1"))
	if r.code != 1 || r.stdout != "" || r.stderr != "ipc: semctl(GETVAL) failed: Permission denied\n" {
		t.Errorf("ipc ls -s -i --json as nobody: %v", r)
	}
	_, r = lsJSON(t, b, runOpts{}, "-q", "-m", "-i", "1")
	if r.code != 1 || r.stdout != "" {
		t.Errorf("ipc ls -q -m -i 1 --json: %v", r)
	}
	doc, r = lsJSON(t, b, runOpts{nobody: true}, "-q")
	check(t, "Q1 as nobody", find(t, doc, "messages", f.ids["Q1"]), map[string]any{"qbytes": nil})

	// -l: lsipc's --global rows, with numbers.
	doc, r = lsJSON(t, b, runOpts{}, "-l")
	rows := doc["ipclimits"]
	if r.code != 0 || len(rows) != 12 {
		t.Fatalf("ipc ls -l --json: %v", r)
	}
	check(t, "SEMVMX", rows[11], map[string]any{"resource": "SEMVMX", "limit": float64(32767), "used": nil, "use%": nil})
	if rows[0]["resource"] != "MSGMNI" || rows[0]["used"] != float64(len(mustList(t, b, "-q"))) {
		t.Errorf("MSGMNI: %v", rows[0])
	}
	doc, _ = lsJSON(t, b, runOpts{}, "-s", "-u")
	if len(doc["ipclimits"]) != 5 || doc["ipclimits"][1]["resource"] != "SEMMNS" {
		t.Errorf("ipc ls -s -u --json: %v", doc)
	}
}

// mustList is the ids ipcs lists for a kind.
func mustList(t *testing.T, b *bin, kind string) []string {
	p, a := b.argv(real, "ipcs", kind)
	var ids []string
	for _, line := range strings.Split(run(t, p, a, runOpts{}).stdout, "\n") {
		if strings.HasPrefix(line, "0x") {
			ids = append(ids, strings.Fields(line)[1])
		}
	}
	return ids
}

// An unknown command is a usage error: one line, status 2.
func unknownCommand(t *testing.T, b *bin) {
	r := run(t, b.ipc, []string{"ipc", "no-such-command"}, runOpts{})
	if r.code != 2 || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "ipc: ") {
		t.Errorf("ipc no-such-command: %v", r)
	}
}
