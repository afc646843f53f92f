package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The four differences from util-linux 2.38.1 that running its own suite
// and fuzzed command lines once found, each compared with util-linux
// itself.

// timesFixture makes a queue with a message sent and one received, a
// segment attached and detached, and a set operated on, so that every time
// column has a value.
func timesFixture(t *testing.T) (q, seg, set int) {
	m := maker{fail: t.Fatalf, cleanup: t.Cleanup}
	q = m.queue(0x7a0001, 0o600)
	m.send(q, 10)
	m.send(q, 20)
	once(t, "msgrcv", strconv.Itoa(q))
	seg = m.segment(0x7a0002, 4096, 0o640)
	once(t, "touch", strconv.Itoa(seg))
	set = m.set(0x7a0003, 2, 0o600)
	once(t, "semop", strconv.Itoa(set), "1", "2")
	return q, seg, set
}

// Every TZ glibc understands gives glibc's times: POSIX TZ strings (with
// and without daylight saving rules, angle-bracket names, fractional
// offsets), zone names, ":name", and a right/ zone whose leap seconds
// glibc takes away.
func TestTimeZones(t *testing.T) {
	b := build(t)
	q, seg, set := timesFixture(t)
	zones := []string{"JST-9", "CET-1CEST,M3.5.0,M10.5.0/3", "<+0530>-5:30", "EST+5", "EST5EDT",
		"<-03>3", "NZST-12NZDT,M9.5.0,M4.1.0/3", "right/UTC", "Europe/Berlin", ":America/New_York", "UTC", ""}
	if _, err := os.Stat("/usr/share/zoneinfo/right/UTC"); err != nil {
		t.Log("no right/UTC zone file here (tzdata's right/ zones): that form is not compared")
		zones = append(zones[:7], zones[8:]...)
	}
	for _, tz := range zones {
		o := runOpts{env: []string{"TZ=" + tz}}
		for _, c := range []string{"-t", "-q -t", "-m -t", "-s -t"} {
			b.same(t, o, "ipcs", args(c)...)
		}
		b.same(t, o, "ipcs", "-q", "-i", strconv.Itoa(q))
		b.same(t, o, "ipcs", "-m", "-i", strconv.Itoa(seg))
		b.same(t, o, "ipcs", "-s", "-i", strconv.Itoa(set))
		for _, c := range []string{"-q -t", "-m -t --time-format=full", "-s -t --time-format=iso", "-q -t --time-format=iso -J", "-m -t --time-format=iso"} {
			b.same(t, o, "lsipc", args(c)...)
		}
		b.same(t, o, "lsipc", "-q", "-i", strconv.Itoa(q))
		b.same(t, o, "lsipc", "-s", "-i", strconv.Itoa(set))

		// ipc ls --json's RFC 3339 times are lsipc's ISO times.
		iso := run(t, first(b.argv(real, "lsipc", "-q", "--time-format=iso", "-J", "-o", "ID,SEND,RECV,CTIME")),
			second(b.argv(real, "lsipc", "-q", "--time-format=iso", "-J", "-o", "ID,SEND,RECV,CTIME")), o)
		var want struct {
			Messages []map[string]*string `json:"messages"`
		}
		if err := json.Unmarshal([]byte(iso.stdout), &want); err != nil || len(want.Messages) == 0 {
			t.Fatalf("lsipc -J: %v\n%s", err, iso)
		}
		got := run(t, b.ipc, []string{"ipc", "ls", "-q", "--json"}, o)
		var doc struct {
			Messages []map[string]any `json:"messages"`
		}
		if err := json.Unmarshal([]byte(got.stdout), &doc); err != nil {
			t.Fatalf("ipc ls --json: %v\n%s", err, got)
		}
		for i, w := range want.Messages {
			for _, field := range []string{"send", "recv", "ctime"} {
				g, _ := doc.Messages[i][field].(string)
				if w[field] == nil || strings.Replace(g, "Z", "+00:00", 1) != *w[field] {
					t.Errorf("TZ=%q: ipc ls --json %s %q, lsipc --time-format=iso %v", tz, field, g, *w[field])
				}
			}
		}
	}
}

// -y/--shell names the columns as shell variables in every output mode
// (USE% is USE_PCT, and use_pct in JSON), not only with --export.
func TestLsipcShellNames(t *testing.T) {
	b := build(t)
	timesFixture(t)
	for _, c := range []string{"-g -y", "-g -y -r", "-g -y -l", "-g -y -J", "-g -y -e", "-g -y -n", "-g -y --noheadings",
		"-q -g -y", "-m -y", "-s -y -r", "-q -y -J", "-q -y -e", "-q -i 0 -y", "-g --shell -J -b", "-y -m -o KEY,SIZE -r"} {
		b.same(t, runOpts{}, "lsipc", args(c)...)
	}
}

// An empty key argument is reported with the errno the calls before it
// left, as ipcrm 2.38.1 does: none after a successful removal or a parsed
// number, the reason of the last failure otherwise, ENOENT at the start.
func TestIpcrmStaleErrno(t *testing.T) {
	b := build(t)
	s := scenario{setup: "errors", cmds: cmds(
		"ipcrm -q 0 -Q ''", "ipcrm -q 99 -Q ''", "ipcrm -Q ''", "ipcrm -Q 0x999 -Q ''", "ipcrm -s 0 -Q ''",
		"ipcrm -v -m 99 -M ''", "ipcrm -S 0 -Q ''", "ipcrm -a -Q ''", "ipcrm -q 1 -q 1 -S ''",
		"nobody ipcrm -q 2 -Q ''",
	)}
	b.compare(t, s, linked, subcmd)
}

// lsipc -i pads values by bytes, as C's printf does, so a multibyte user
// or group name gets fewer spaces than it has characters. The names come
// from a passwd and group file bind-mounted over the system's in a
// private mount namespace, for util-linux and ipc alike.
func TestMultibyteNames(t *testing.T) {
	b := build(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare")
	}
	dir := t.TempDir()
	files := map[string]string{"passwd": "jörg:x:4244:4244::/nonexistent:/usr/sbin/nologin\n", "group": "grüppe:x:4244:\n"}
	for name, extra := range files {
		data, err := os.ReadFile("/etc/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), append(data, extra...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	probe := exec.Command("unshare", "--mount", "sh", "-c", `mount --bind "$0" /etc/passwd && getent passwd 4244`, filepath.Join(dir, "passwd"))
	if out, err := probe.CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "jörg:") {
		t.Skipf("cannot bind-mount a passwd file in a private mount namespace: %v %s", err, out)
	}
	m := maker{fail: t.Fatalf, cleanup: t.Cleanup}
	var q, seg int
	m.as(4244, 4244, func() {
		q = m.queue(0x7a0010, 0o640)
		seg = m.segment(0x7a0011, 8192, 0o600)
	})
	wrap := func(path string, argv []string) (string, []string) {
		script := `mount --bind "$0" /etc/passwd && mount --bind "$1" /etc/group && shift && exec "$@"`
		return "/usr/bin/unshare", append([]string{"unshare", "--mount", "sh", "-c", script,
			filepath.Join(dir, "passwd"), filepath.Join(dir, "group"), path}, argv[1:]...)
	}
	for _, c := range [][]string{
		{"lsipc", "-q", "-i", strconv.Itoa(q)}, {"lsipc", "-m", "-i", strconv.Itoa(seg)}, {"lsipc", "-q", "-i", strconv.Itoa(q), "-c"},
		{"lsipc", "-q"}, {"lsipc", "-q", "-c", "-o", "ID,OWNER,CUSER,CGROUP,USER,GROUP"}, {"lsipc", "-m", "-e"},
		{"ipcs", "-q"}, {"ipcs", "-q", "-c"}, {"ipcs", "-m", "-t"}, {"ipcs", "-m", "-p"},
	} {
		want := run(t, first(wrap(b.argv(real, c[0], c[1:]...))), second(wrap(b.argv(real, c[0], c[1:]...))), runOpts{})
		got := run(t, first(wrap(b.argv(linked, c[0], c[1:]...))), second(wrap(b.argv(linked, c[0], c[1:]...))), runOpts{})
		if !strings.Contains(want.stdout, "jörg") && !strings.Contains(want.stdout, `j\xc3\xb6rg`) {
			t.Fatalf("%q: util-linux does not show the multibyte name:\n%s", c, want)
		}
		if got.String() != want.String() {
			t.Errorf("%q:\n--- util-linux\n%s--- ipc\n%s%s", c, want, got, diffLines(want.String(), got.String()))
		}
	}
}
