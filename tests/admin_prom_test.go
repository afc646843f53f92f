package tests

import (
	"fmt"
	"github.com/ipctoolkit/ipc/internal/promtext"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// parseMetrics reads a text exposition into sample -> value, where sample
// is the line's name and labels as written.
func parseMetrics(t *testing.T, text string) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		if _, dup := m[line[:i]]; dup {
			t.Errorf("sample %s given twice", line[:i])
		}
		m[line[:i]] = v
	}
	return m
}

// promtool lints text with promtool check metrics, when it is installed.
func promtool(t *testing.T, text string) {
	t.Helper()
	installed, err := promtext.Lint([]byte(text))
	if !installed {
		t.Log("promtool is not installed: the exposition is not linted")
	}
	if err != nil {
		t.Errorf("%v\ninput:\n%s", err, text)
	}
}

// TestAdminPrometheus checks the metrics of a namespace holding a queue
// with messages, an attached segment, a set with a waiter and an orphan,
// against what was made and against lsipc --global run inside it.
func TestAdminPrometheus(t *testing.T) {
	ns := newNS(t)
	q := ns.must(t, "msgq", "create", "--key", "0x6301")
	ns.must(t, "msgq", "send", q, "--type", "1", "abc")
	ns.must(t, "msgq", "send", q, "--type", "1", "defgh")
	seg := ns.must(t, "shm", "create", "--key", "0x6302", "--size", "8192")
	ns.child(t, "hold", seg)
	set := ns.must(t, "sem", "create", "--key", "0x6303", "--nsems", "2")
	ns.child(t, "semwait", set, "1", "-1")
	ns.must(t, "shm", "create", "--key", "0x6304", "--size", "1") // orphaned at once

	r := ns.run(t, "ls", "--prometheus")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("ls --prometheus: %v", r)
	}
	promtool(t, r.stdout)
	m := parseMetrics(t, r.stdout)
	n := fmt.Sprintf(`namespace="%d"`, ns.inode)
	obj := func(name, id, key string, extra ...string) string {
		l := []string{n, `id="` + id + `"`, `key="` + key + `"`, `uid="0"`}
		return name + "{" + strings.Join(append(l, extra...), ",") + "}"
	}
	want := map[string]float64{
		`ipc_objects{` + n + `,kind="queue"}`:                             1,
		`ipc_objects{` + n + `,kind="segment"}`:                           2,
		`ipc_objects{` + n + `,kind="semaphore_set"}`:                     1,
		obj("ipc_queue_messages", q, "0x00006301"):                        2,
		obj("ipc_queue_bytes", q, "0x00006301"):                           8,
		obj("ipc_segment_size_bytes", seg, "0x00006302"):                  8192,
		obj("ipc_segment_attachments", seg, "0x00006302"):                 1,
		obj("ipc_semaphore_set_semaphores", set, "0x00006303"):            2,
		obj("ipc_semaphore_waiters", set, "0x00006303", `for="increase"`): 1,
		obj("ipc_semaphore_waiters", set, "0x00006303", `for="zero"`):     0,
		`ipc_orphans{` + n + `,kind="segment",confidence="certain"}`:      1,
		`ipc_orphans{` + n + `,kind="queue",confidence="certain"}`:        0,
		`ipc_limit{` + n + `,resource="SEMVMX"}`:                          32767,
		`ipc_limit_used{` + n + `,resource="SEMMNS"}`:                     2,
	}
	for sample, v := range want {
		if got, ok := m[sample]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", sample, got, ok, v)
		}
	}
	// Sent to, never received from.
	if ts := m[obj("ipc_queue_last_send_timestamp_seconds", q, "0x00006301")]; time.Since(time.Unix(int64(ts), 0)) > time.Minute || ts > float64(time.Now().Unix()) {
		t.Errorf("last send at %v", ts)
	}
	if _, ok := m[obj("ipc_queue_last_receive_timestamp_seconds", q, "0x00006301")]; ok {
		t.Error("a last receive time for a queue never received from")
	}

	// The limits and their use, as lsipc --global shows them inside the
	// namespace (the sysctls are per namespace). SEMMNS and SHMALL are left
	// out: 2.38.1 counts them differently (see lsjson.go's limitRows).
	out, err := exec.Command("nsenter", "-t", strconv.Itoa(ns.pid), "-i", "--", "lsipc", "--global", "--bytes", "--raw", "--noheadings", "--output", "RESOURCE,LIMIT,USED").CombinedOutput()
	if err != nil {
		t.Fatalf("lsipc --global: %v\n%s", err, out)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		res := f[0]
		limit, _ := strconv.ParseFloat(f[1], 64)
		if got := m[`ipc_limit{`+n+`,resource="`+res+`"}`]; got != limit {
			t.Errorf("ipc_limit %s = %v, lsipc says %s", res, got, f[1])
		}
		if res == "MSGMNI" || res == "SHMMNI" || res == "SEMMNI" {
			used, _ := strconv.ParseFloat(f[2], 64)
			if got := m[`ipc_limit_used{`+n+`,resource="`+res+`"}`]; got != used {
				t.Errorf("ipc_limit_used %s = %v, lsipc says %s", res, got, f[2])
			}
			if got, w := m[`ipc_limit_use_ratio{`+n+`,resource="`+res+`"}`], used/limit; got != w {
				t.Errorf("ipc_limit_use_ratio %s = %v, want %v", res, got, w)
			}
			checked++
		}
	}
	if checked != 3 {
		t.Errorf("lsipc --global gave %d of the counted limits:\n%s", checked, out)
	}
	ns.must(t, "rm", "-Q", "0x6301", "-M", "0x6302", "-S", "0x6303", "-M", "0x6304")
}
