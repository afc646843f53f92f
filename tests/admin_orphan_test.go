package tests

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
)

// TestAdminOrphanVerdicts makes objects used by live processes and
// objects whose users all died, in a namespace of its own, and checks the
// verdict on each, then that rm --orphaned removes exactly the orphans.
func TestAdminOrphanVerdicts(t *testing.T) {
	ns := newNS(t)

	// Segments.
	segHeld := ns.must(t, "shm", "create", "--key", "0x5101", "--size", "4096")
	ns.child(t, "hold", segHeld) // attached by a live process
	ns.must(t, "shm", "create", "--key", "0x5102", "--size", "4096")
	segTouched := ns.must(t, "shm", "create", "--key", "0x5103", "--size", "4096")
	ns.once(t, "once", "touch", segTouched)   // attached and detached by a process that exited
	creator := ns.child(t, "mkshm", "0x5104") // made by a process still alive, never attached

	// Semaphore sets.
	semWaited := ns.must(t, "sem", "create", "--key", "0x5201", "--nsems", "1")
	ns.must(t, "sem", "op", semWaited, "0:+1")  // last operator: an ipc that exited
	ns.child(t, "semwait", semWaited, "0", "0") // waits for zero
	semDead := ns.must(t, "sem", "create", "--key", "0x5202", "--nsems", "2")
	ns.must(t, "sem", "op", semDead, "1:+1")
	semLive := ns.must(t, "sem", "create", "--key", "0x5203", "--nsems", "1")
	holder := ns.child(t, "semhold", semLive)
	ns.must(t, "sem", "create", "--key", "0x5204", "--nsems", "1") // never operated on

	// Queues.
	qDead := ns.must(t, "msgq", "create", "--key", "0x5301")
	ns.must(t, "msgq", "send", qDead, "--type", "1", "one")
	ns.must(t, "msgq", "send", qDead, "--type", "1", "two")
	ns.once(t, "once", "msgrcv", qDead)
	qLive := ns.must(t, "msgq", "create", "--key", "0x5302")
	ns.must(t, "msgq", "send", qLive, "--type", "1", "one")
	receiver := ns.child(t, "recvhold", qLive)
	ns.must(t, "msgq", "create", "--key", "0x5303") // never used
	qWaited := ns.must(t, "msgq", "create", "--key", "0x5304")
	ns.must(t, "msgq", "send", qWaited, "--type", "1", "not for it")
	waiter := ns.child(t, "recvwait", qWaited, "2") // blocked: no message of type 2

	type want struct {
		orphaned   bool
		confidence string
		reason     string // a regexp one of the reasons must match
	}
	check := func(t *testing.T, got map[string]verdict, wants map[string]want) {
		t.Helper()
		for key, w := range wants {
			v, ok := got[key]
			if !ok {
				t.Errorf("%s: no verdict", key)
				continue
			}
			reasons := strings.Join(v.Reasons, "; ")
			if v.Orphaned != w.orphaned || v.Confidence != w.confidence || !regexp.MustCompile(w.reason).MatchString(reasons) {
				t.Errorf("%s: orphaned %v, %s, %q; want %v, %s, matching %q", key, v.Orphaned, v.Confidence, reasons, w.orphaned, w.confidence, w.reason)
			}
		}
	}
	pid := strconv.Itoa

	// Without --older-than: queues are judged only after a minute of quiet,
	// objects with no recorded process not at all.
	got := parseVerdicts(t, ns.must(t, "ls", "--orphaned", "--explain", "--json"))
	wants := map[string]want{
		"0x00005101": {false, "certain", `^1 attachment$`},
		"0x00005102": {true, "certain", `creator \d+ gone \(last seen .*\); unused for \d+s; no attachments`},
		"0x00005103": {true, "certain", `creator \d+ gone .*; last user \d+ gone .*no attachments`},
		"0x00005104": {false, "certain", `^creator ` + pid(creator) + ` alive \(\S+, started `},
		"0x00005201": {false, "certain", `^1 process waiting \(0 for an increase, 1 for zero\)$`},
		"0x00005202": {true, "certain", `last operator \d+ \(semaphore 1\) gone .*nobody waits`},
		"0x00005203": {false, "certain", `^last operator ` + pid(holder) + ` \(semaphore 0\) alive`},
		"0x00005204": {false, "unsure", `never operated on .*give --older-than`},
		"0x00005301": {false, "unsure", `last sender \d+ gone.*last receiver \d+ gone.*used \d+s ago, less than 1m0s`},
		"0x00005302": {false, "certain", `^last receiver ` + pid(receiver) + ` alive`},
		"0x00005303": {false, "unsure", `never sent to nor received from .*give --older-than`},
		"0x00005304": {false, "certain", `^1 process waiting \(` + pid(waiter) + ` in msgrcv\)$`},
	}
	check(t, got, wants)
	if len(got) != len(wants) {
		t.Errorf("%d verdicts, want %d: %v", len(got), len(wants), got)
	}

	// --older-than 0s lets idleness decide the rest.
	got = parseVerdicts(t, ns.must(t, "ls", "--orphaned", "--explain", "--older-than", "0s", "--json"))
	wants["0x00005204"] = want{true, "unsure", `never operated on .*; unused for \d+s; nobody waits`}
	wants["0x00005301"] = want{true, "certain", `last sender \d+ gone.*last receiver \d+ gone.*unused for \d+s; 1 message \(3 bytes\) left unread`}
	wants["0x00005303"] = want{true, "unsure", `never sent to nor received from`}
	check(t, got, wants)

	// Without --explain only the orphans are listed; an age nothing has
	// reached lists none.
	got = parseVerdicts(t, ns.must(t, "ls", "--orphaned", "--older-than", "0s", "--json"))
	if len(got) != 6 {
		t.Errorf("--orphaned --older-than 0s: %d orphans, want 6: %v", len(got), got)
	}
	got = parseVerdicts(t, ns.must(t, "ls", "--orphaned", "--older-than", "1h", "--json"))
	if len(got) != 0 {
		t.Errorf("--older-than 1h: %v, want none", got)
	}
	got = parseVerdicts(t, ns.must(t, "ls", "--orphaned", "-m", "--json"))
	if len(got) != 2 || got["0x00005102"].Kind != "segment" || got["0x00005103"].Kind != "segment" {
		t.Errorf("--orphaned -m: %v, want the two orphaned segments", got)
	}

	// The text form: a header and one line per orphan, with its reasons.
	text := ns.must(t, "ls", "--orphaned", "-s")
	lines := strings.Split(text, "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "KIND ") || !regexp.MustCompile(`^semaphore_set\s+\d+\s+0x00005202\s+root\s+2 sems\s+\S+\s+certain\s+last operator \d+ \(semaphore 1\) gone`).MatchString(lines[1]) {
		t.Errorf("ls --orphaned -s:\n%s", text)
	}

	// rm --orphaned --dry-run says what it would remove and removes nothing.
	before := ns.must(t, "ls")
	dry := ns.must(t, "rm", "--orphaned", "--dry-run")
	if n := strings.Count(dry, "would remove "); n != 3 || !strings.Contains(dry, "would remove segment "+"") {
		t.Errorf("rm --orphaned --dry-run:\n%s", dry)
	}
	if after := ns.must(t, "ls"); after != before {
		t.Errorf("a dry run removed something:\n%s\n---\n%s", before, after)
	}
	// rm --orphaned removes the three certain orphans, and only them.
	removed := ns.must(t, "rm", "--orphaned")
	for _, key := range []string{"0x00005102", "0x00005103", "0x00005202"} {
		if !regexp.MustCompile(`(?m)^removed \S+( set)? \d+ \(key ` + key + `\): `).MatchString(removed) {
			t.Errorf("rm --orphaned did not report removing %s:\n%s", key, removed)
		}
	}
	got = parseVerdicts(t, ns.must(t, "ls", "--orphaned", "--explain", "--json"))
	for _, key := range []string{"0x00005102", "0x00005103", "0x00005202"} {
		if _, ok := got[key]; ok {
			t.Errorf("%s still there after rm --orphaned", key)
		}
	}
	if len(got) != 9 {
		t.Errorf("after rm --orphaned: %d objects, want 9", len(got))
	}
	// The rest goes with --older-than 0s; the live ones stay.
	ns.must(t, "rm", "--orphaned", "--older-than", "0s")
	got = parseVerdicts(t, ns.must(t, "ls", "--orphaned", "--explain", "--json"))
	for _, key := range []string{"0x00005101", "0x00005104", "0x00005201", "0x00005203", "0x00005302", "0x00005304"} {
		if v, ok := got[key]; !ok || v.Orphaned {
			t.Errorf("%s: %+v after rm --orphaned --older-than 0s; want it kept, in use", key, v)
		}
	}
	if len(got) != 6 {
		t.Errorf("%d objects left, want the 6 in use: %v", len(got), got)
	}
	if r := ns.run(t, "rm", "--orphaned"); r.code != 0 || r.stdout != "no orphaned objects\n" {
		t.Errorf("rm --orphaned with none: %v", r)
	}
	// Tidy up what live processes hold (they end with the test).
	for _, a := range [][]string{{"-M", "0x5101"}, {"-M", "0x5104"}, {"-S", "0x5201"}, {"-S", "0x5203"}, {"-Q", "0x5302"}, {"-Q", "0x5304"}} {
		ns.must(t, append([]string{"rm"}, a...)...)
	}
}

// TestAdminOrphanPIDReuse makes pids be reused on purpose: in a private
// pid namespace, /proc/sys/kernel/ns_last_pid chooses the next pid, so a
// segment's creator can be made to exit and a new process to take its
// pid, once right away (too close to tell: the segment stays in use,
// unsure) and once three seconds later (a reuse: orphaned, likely); a
// third creator's pid stays free (gone: orphaned, certain).
// Forging the pids in the listing instead would not test what the kernel
// reports.
func TestAdminOrphanPIDReuse(t *testing.T) {
	ipc := ipcBinary(t)
	script := `
set -e
next() { echo $(($1 - 1)) > /proc/sys/kernel/ns_last_pid; }
next 200; ` + ipc + ` shm create --key 0x5401 --size 64 >/dev/null
next 200; sleep 60 & early=$!; echo "early $early"
next 300; ` + ipc + ` shm create --key 0x5402 --size 64 >/dev/null
next 400; ` + ipc + ` shm create --key 0x5403 --size 64 >/dev/null
sleep 3
next 300; sleep 60 & late=$!; echo "late $late"
echo BEGIN
` + ipc + ` ls --orphaned --explain --json
echo END
echo NESTED
unshare --pid --fork --mount-proc ` + ipc + ` ls --orphaned --explain -m --json
echo DETSEN
` + ipc + ` ls -m -p
kill $early $late
` + ipc + ` rm -M 0x5401 -M 0x5402 -M 0x5403
`
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "--ipc", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "early 200\n") || !strings.Contains(s, "late 300\n") {
		t.Fatalf("the pids were not reused as planned:\n%s", s)
	}
	for _, want := range []string{`(?m)^0 +root +200 +0 *$`, `(?m)^1 +root +300 +0 *$`, `(?m)^2 +root +400 +0 *$`} {
		if !regexp.MustCompile(want).MatchString(s) {
			t.Errorf("ipc ls -m -p does not show the planned creators (%s):\n%s", want, s)
		}
	}
	begin, end := strings.Index(s, "BEGIN\n"), strings.Index(s, "END\n")
	got := parseVerdicts(t, s[begin+6:end])
	for key, w := range map[string]struct {
		orphaned   bool
		confidence string
		state      string
		reason     string
	}{
		"0x00005401": {false, "unsure", "ambiguous", `^creator 200 may be alive: pid 200 \(sleep\) started .*, within 2s of when it created the segment .* too close to tell a reuse$`},
		"0x00005402": {true, "likely", "reused", `^creator 300 gone: pid 300 is now sleep, started .*, after it created the segment \(by .*\); unused for \d+s; no attachments$`},
		"0x00005403": {true, "certain", "gone", `^creator 400 gone \(last seen .*\); unused for \d+s; no attachments$`},
	} {
		v := got[key]
		reasons := strings.Join(v.Reasons, "; ")
		if v.Orphaned != w.orphaned || v.Confidence != w.confidence || len(v.PIDs) != 1 || v.PIDs[0].State != w.state ||
			!regexp.MustCompile(w.reason).MatchString(reasons) {
			t.Errorf("%s: %+v; want orphaned %v, %s, pid state %s, reasons matching %q", key, v, w.orphaned, w.confidence, w.state, w.reason)
		}
	}
	// From a pid namespace nested inside, the creators are not visible
	// (the kernel shows their pid as 0): only age could judge them.
	begin, end = strings.Index(s, "NESTED\n"), strings.Index(s, "DETSEN\n")
	nested := parseVerdicts(t, s[begin+7:end])
	for _, key := range []string{"0x00005401", "0x00005402", "0x00005403"} {
		v := nested[key]
		if v.Orphaned || v.Confidence != "unsure" || len(v.PIDs) != 0 ||
			strings.Join(v.Reasons, "; ") != "creator not visible in this pid namespace; judged by age only: give --older-than to allow it" {
			t.Errorf("%s from a nested pid namespace: %+v", key, v)
		}
	}
}

// TestAdminOrphanNotYours: rm --orphaned run by a user who may not remove
// an orphan reports it as skipped and fails, and removes only that user's
// own orphan.
func TestAdminOrphanNotYours(t *testing.T) {
	ns := newNS(t)
	ns.must(t, "shm", "create", "--key", "0x5501", "--size", "64") // root's
	pid := strconv.Itoa(ns.pid)
	asNobody := func(args ...string) result {
		argv := append([]string{"nsenter", "-t", pid, "-i", "-S", "65534", "-G", "65534", "--", ns.ipc}, args...)
		path, _ := exec.LookPath("nsenter")
		return run(t, path, argv, runOpts{})
	}
	if r := asNobody("shm", "create", "--key", "0x5502", "--size", "64"); r.code != 0 {
		t.Fatalf("nobody's segment: %v", r)
	}
	r := asNobody("rm", "--orphaned")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 1 || len(lines) != 2 ||
		!regexp.MustCompile(`^skipped segment 0 \(key 0x00005501\): not permitted: not yours \(owner 0, creator 0; you are 65534 without CAP_SYS_ADMIN\)$`).MatchString(lines[0]) ||
		!regexp.MustCompile(`^removed segment 1 \(key 0x00005502\): creator \d+ gone`).MatchString(lines[1]) ||
		r.stderr != "ipc: rm --orphaned: 1 of 2 orphan(s) not removed\n" {
		t.Errorf("rm --orphaned as nobody: %v", r)
	}
	if ls := ns.must(t, "ls", "-m"); !strings.Contains(ls, "0x00005501") || strings.Contains(ls, "0x00005502") {
		t.Errorf("after nobody's rm --orphaned:\n%s", ls)
	}
	ns.must(t, "rm", "-M", "0x5501")
}

// servingRow is a row of ipc status's table for a worker that serves
// (idle or accepting): the summary lines above it say "idle" too.
var servingRow = regexp.MustCompile(`(?m)^\s*\d+\s+\d+\s+\d+\s+(idle|accepting)\s`)

// TestAdminOrphanKilledServer is the classic leak: ipc serve (a semaphore
// set for its accept lock, a control queue and a scoreboard segment)
// killed with -9. While it runs, every object is in use (waiters and
// attachments); after the kill the set and the queue are orphans, and rm
// --orphaned takes them (the scoreboard was removed at start and goes with
// its last detach).
func TestAdminOrphanKilledServer(t *testing.T) {
	ns := newNS(t)
	dir := t.TempDir()
	serve := exec.Command("nsenter", "-t", strconv.Itoa(ns.pid), "-i", "--", ns.ipc, "serve", "--addr", "127.0.0.1:0", "--workers", "2", "--state-dir", dir)
	serve.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { serve.Wait(); close(done) }()
	// Every process of the server at once: the supervisor is stopped first
	// so that it cannot respawn, then its workers (each in a process group
	// of its own) and it get SIGKILL, and none of them can clean up. Killing
	// the supervisor alone leaves nothing: its janitor removes the objects.
	killAll := func() {
		syscall.Kill(serve.Process.Pid, syscall.SIGSTOP)
		for _, pid := range ipctest.Children(serve.Process.Pid, false) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		syscall.Kill(-serve.Process.Pid, syscall.SIGKILL)
		<-done
	}
	defer killAll()
	var vs []verdict
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if r := ns.run(t, "status", "--state-dir", dir); r.code == 0 && len(servingRow.FindAllString(r.stdout, -1)) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ipc serve did not start its two workers")
		}
	}
	vs = verdictList(t, ns.must(t, "ls", "--orphaned", "--older-than", "0s", "--explain", "--json"))
	kinds := map[string]verdict{}
	for _, v := range vs {
		kinds[v.Kind] = v
	}
	// How the server uses each object is its own business (today: every
	// process waits on the queue, attaches the scoreboard, and idle
	// workers wait for the lock); what matters is that each is in use.
	for kind, reason := range map[string]string{
		"queue":         `^\d+ process(es)? waiting \((\d+ in msg(rcv|snd)(, )?)+\)$|last (sender|receiver) \d+ alive`,
		"segment":       `^\d+ attachments?$`,
		"semaphore_set": `^\d+ process(es)? waiting|last operator \d+ \(semaphore 0\) (alive|may be alive)`,
	} {
		v := kinds[kind]
		if v.Orphaned || !regexp.MustCompile(reason).MatchString(strings.Join(v.Reasons, "; ")) {
			t.Errorf("the running server's %s: %+v; want in use, %q", kind, v, reason)
		}
	}
	if len(vs) != 3 {
		t.Errorf("%d objects, want the server's 3: %+v", len(vs), vs)
	}

	killAll()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		vs = verdictList(t, ns.must(t, "ls", "--orphaned", "--older-than", "0s", "--json"))
		if len(vs) == 2 || time.Now().After(deadline) {
			break
		}
	}
	for _, v := range vs {
		if !v.Orphaned || v.Confidence != "certain" || (v.Kind != "queue" && v.Kind != "semaphore_set") {
			t.Errorf("after kill -9: %+v", v)
		}
	}
	if len(vs) != 2 {
		t.Fatalf("after kill -9: %+v, want the set and the queue", vs)
	}
	out := ns.must(t, "rm", "--orphaned", "--older-than", "0s")
	if strings.Count(out, "removed ") != 2 {
		t.Errorf("rm --orphaned:\n%s", out)
	}
	if left := ns.must(t, "ls", "--orphaned", "--explain", "--json"); len(verdictList(t, left)) != 0 {
		t.Errorf("left behind: %s", left)
	}
}
