package tests

import (
	"fmt"
	"os/user"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// fixture is a namespace full of objects that exercise every cell of the
// listings: several owners (root, nobody, a uid with no name, a name longer
// than ipcs's 10 columns, an owner changed by IPC_SET), keys at the edges
// of key_t, sizes at the edges of --human, messages sent and received,
// segments attached by a live process, marked for removal, locked, both,
// semaphores with values, with last-operation pids and with waiters.
type fixture struct {
	ids map[string]int
}

// longUser is a user whose name is longer than ipcs's 10 columns, or a
// plain uid when the system has none.
func longUser() (uid, gid int) {
	for _, name := range []string{"systemd-network", "systemd-timesync", "systemd-journal"} {
		if u, err := user.Lookup(name); err == nil {
			return atoi(u.Uid), atoi(u.Gid)
		}
	}
	return 4243, 4243
}

func newFixture(t *testing.T, b *bin) *fixture {
	t.Helper()
	f := &fixture{ids: map[string]int{}}
	m := maker{fail: t.Fatalf, cleanup: t.Cleanup}
	lu, lg := longUser()
	mk := func(name string, args ...string) int {
		r := run(t, first(b.argv(real, "ipcmk", args...)), second(b.argv(real, "ipcmk", args...)), runOpts{})
		fields := strings.Fields(r.stdout)
		if r.code != 0 || len(fields) == 0 {
			t.Fatalf("ipcmk %q: %v", args, r)
		}
		id := atoi(fields[len(fields)-1])
		switch args[0] {
		case "-Q":
			t.Cleanup(func() { sys.MsgctlDS(id, unix.IPC_RMID, nil) })
		case "-M":
			t.Cleanup(func() { unix.SysvShmCtl(id, unix.IPC_RMID, nil) })
		case "-S":
			t.Cleanup(func() { sys.SemctlInt(id, 0, unix.IPC_RMID, 0) })
		}
		f.ids[name] = id
		return id
	}

	// Queues.
	mk("Q0", "-Q")
	q := m.queue(0x1234, 0o600)
	f.ids["Q1"] = q
	for range 3 {
		m.send(q, 100)
	}
	once(t, "msgrcv", strconv.Itoa(q)) // 200 bytes in 2 messages left, lrpid a child's
	q = m.queue(0, 0o666)
	f.ids["Q2"] = q
	m.send(q, 5000)
	m.as(nobody, nobody, func() { f.ids["Q3"] = m.queue(0xe5f5442f, 0o600) })
	m.as(4242, 4242, func() { f.ids["Q4"] = m.queue(0x4242, 0o640) })
	m.as(lu, lg, func() { f.ids["Q5"] = m.queue(0x4243, 0o644) })
	q = m.queue(0xffffffff, 0o660)
	m.chownQueue(q, nobody, nobody)
	f.ids["Q6"] = q
	q = m.queue(0x7fffffff, 0o600) // 16383 bytes: --human rounds to "16K"
	m.send(q, 8191)
	m.send(q, 8192)
	f.ids["Q7"] = q
	f.ids["Q8"] = m.queue(0x80000000, 0)

	// Segments.
	s := mk("M0", "-M", "4096", "-p", "0600")
	once(t, "touch", strconv.Itoa(s)) // attach and detach times, lpid
	s = m.segment(0xdeadbeef, 1<<20, 0o640)
	f.ids["M1"] = s
	child(t, "hold", strconv.Itoa(s))
	f.ids["M2"] = m.segment(0, 1, 0o666)
	s = m.segment(0x5555, 8192, 0o644)
	f.ids["M3"] = s
	child(t, "hold", strconv.Itoa(s))
	m.rmid(s) // dest: key cleared, gone when the holder exits
	s = m.segment(0x6666, 65536, 0o600)
	m.lock(s)
	f.ids["M4"] = s
	m.as(nobody, nobody, func() { f.ids["M5"] = m.segment(0x2ed31875, 10240, 0o600) })
	for i, size := range []int{1023, 1024, 1025, 1536, 5000, 10239, 1048575, 1100000, 12345678901} {
		f.ids["size"+strconv.Itoa(i)] = m.segment(0, size, 0o600)
	}
	s = m.segment(0, 4096, 0o600)
	m.lock(s)
	child(t, "hold", strconv.Itoa(s))
	m.rmid(s) // dest and locked
	f.ids["M6"] = s
	m.as(lu, lg, func() { f.ids["M7"] = m.segment(0x80000000, 4096, 0o600) })
	s = m.segment(0x7fffffff, 4096, 0o644)
	m.chownSegment(s, 4242, 4242)
	f.ids["M8"] = s

	// Semaphore sets.
	mk("S0", "-S", "3")
	s = m.set(0x7fffffff, 2, 0o600)
	m.setval(s, 0, 5)
	once(t, "semop", strconv.Itoa(s), "1", "2") // otime, and a child's pid on semaphore 1
	f.ids["S1"] = s
	m.as(nobody, nobody, func() { f.ids["S2"] = m.set(0x104e6eb0, 1, 0o600) })
	f.ids["S3"] = m.set(0x80000000, 1, 0o444)
	s = m.set(0xfffffffe, 3, 0o660)
	m.setval(s, 1, 1)
	m.setval(s, 2, 32767)
	child(t, "semwait", strconv.Itoa(s), "0", "-1") // ncount 1 on semaphore 0
	child(t, "semwait", strconv.Itoa(s), "1", "0")  // zcount 1 on semaphore 1
	waitCount(t, s, 0, sys.GETNCNT)
	waitCount(t, s, 1, sys.GETZCNT)
	f.ids["S4"] = s
	m.as(4242, 4242, func() { f.ids["S5"] = m.set(0x4242, 1, 0o640) })
	s = m.set(0, 1, 0o600)
	m.chownSet(s, uint32(lu), uint32(lg))
	f.ids["S6"] = s
	f.ids["S7"] = m.set(0x12345678, 1, 0)
	return f
}

// waitCount waits until a child is blocked on semaphore num.
func waitCount(t *testing.T, id, num, cmd int) {
	t.Helper()
	for range 500 {
		if n, e := sys.SemctlInt(id, num, cmd, 0); e == 0 && n == 1 {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("no waiter on semaphore %d of set %d", num, id)
}

func (f *fixture) id(name string) string { return strconv.Itoa(f.ids[name]) }

// args splits a command line of a test case on blanks; single quotes
// group words, so ” is an empty argument and ' 7' a blank and a 7.
func args(s string) []string {
	var out []string
	var w strings.Builder
	in, have := false, false
	for _, c := range s {
		switch {
		case c == '\'':
			in, have = !in, true
		case c == ' ' && !in:
			if have {
				out = append(out, w.String())
			}
			w.Reset()
			have = false
		default:
			w.WriteRune(c)
			have = true
		}
	}
	if have {
		out = append(out, w.String())
	}
	return out
}

// TestIpcs compares ipcs with ipc ls and the ipcs link on one namespace
// full of objects (see fixture).
func TestIpcs(t *testing.T) {
	b := build(t)
	f := newFixture(t, b)
	t.Run("listing", func(t *testing.T) { ipcsListing(t, b) })
	t.Run("details", func(t *testing.T) { ipcsDetails(t, b, f) })
	t.Run("errors", func(t *testing.T) { ipcsErrors(t, b) })
	t.Run("as nobody", func(t *testing.T) { ipcsAsNobody(t, b, f) })
	t.Run("time zones", func(t *testing.T) { ipcsTimeZones(t, b, f) })
	t.Run("fixture", func(t *testing.T) { fixtureCoverage(t, b, f) })
	t.Run("json", func(t *testing.T) { lsJSONSchema(t, b, f) })
	t.Run("unknown command", func(t *testing.T) { unknownCommand(t, b) })
}

func ipcsListing(t *testing.T, b *bin) {
	for _, c := range []string{
		"", "-a", "-q", "-m", "-s", "-q -m", "-s -q", "-m -s -q", "-qms", "-qsma",
		"-c", "-p", "-t", "-u", "-l", "-b", "--human",
		"-q -c", "-m -c", "-s -c", "-q -p", "-m -p", "-s -p", "-q -t", "-m -t", "-s -t",
		"-q -u", "-m -u", "-s -u", "-q -l", "-m -l", "-s -l",
		"-l -b", "-l --human", "-u -b", "-u --human", "-m -l -b", "-m -l --human", "-q -l --human",
		"-q --human", "-m --human", "-s --human", "-q -b", "-m -b", "-m --human -b", "-m -b --human",
		"-q -t -p", "-q -p -t", "-c -b", "-t --human", "-p --human", "-l -u", "-u -l",
		"extra", "-q extra -m", "-- -q", "-",
		"--shmems --creator", "--queues --summary", "--bytes --semaphores", "--sha", "--hu", "--que --ti",
		"--all --pid", "--limits", "--time", "--creator",
	} {
		b.same(t, runOpts{}, "ipcs", args(c)...)
	}
}

func ipcsDetails(t *testing.T, b *bin, f *fixture) {
	for name := range f.ids {
		var opt string
		switch name[0] {
		case 'Q':
			opt = "-q"
		case 'M', 's':
			opt = "-m"
		case 'S':
			opt = "-s"
		}
		b.same(t, runOpts{}, "ipcs", opt, "-i", f.id(name))
		b.same(t, runOpts{}, "ipcs", opt, "-i", f.id(name), "--human")
	}
	// util-linux's ipcs -s -i -1 dies of SIGSEGV; ipc shows the first set
	// under the id given, as ipcs does for queues and segments.
	for _, fl := range []flavour{linked, subcmd} {
		p, a := b.argv(fl, "ipcs", "-s", "-i", "-1")
		if r := run(t, p, a, runOpts{}); r.code != 0 || !strings.HasPrefix(r.stdout, "\nSemaphore Array semid=-1\n") {
			t.Errorf("%v: %v", a, r)
		}
	}
	for _, c := range []string{
		"-b -q -i " + f.id("Q2"), "--queues --id=" + f.id("Q1"), "-qi" + f.id("Q1"), "-mi" + f.id("M6") + " -b",
	} {
		b.same(t, runOpts{}, "ipcs", args(c)...)
	}
	for _, c := range []string{
		// A negative id shows the first object under that id (ipcs -s
		// crashes there, so only -q and -m).
		"-q -i -1", "-m -i -3",
		// Ids are decimal; blanks and a sign are allowed.
		"-q -i 010", "-q -i +" + f.id("Q1"), "-m -i 00", "-q -i ' " + f.id("Q2") + "'",
	} {
		b.same(t, runOpts{}, "ipcs", args(c)...)
	}
}

func ipcsErrors(t *testing.T, b *bin) {
	for _, c := range []string{
		"-i 1", "-q -m -i 1", "-a -i 0", "-qa -i 0",
		"-q -i 999", "-m -i 999", "-s -i 999", "-q -i 99999",
		"-q -i abc", "-q -i 0x1", "-q -i ''", "-q -i 99999999999", "-q -i 1x", "-q -i 2147483648", "-q -i -2147483649",
		"-x", "-qx", "-qi", "-i", "--id", "--s", "--s=1", "--human=1", "--foo", "--foo=bar", "-q --i=1", "--q",
		"-q -i abc -x", "-x -q -i abc",
	} {
		b.same(t, runOpts{}, "ipcs", args(c)...)
	}
	// Help only through the link: the subcommand's names itself.
	r := run(t, first(b.argv(real, "ipcs", "-h")), second(b.argv(real, "ipcs", "-h")), runOpts{})
	got := run(t, first(b.argv(linked, "ipcs", "-h")), second(b.argv(linked, "ipcs", "-h")), runOpts{})
	if got.String() != r.String() {
		t.Errorf("ipcs -h:\n%s\nwant\n%s", got, r)
	}
}

func ipcsAsNobody(t *testing.T, b *bin, f *fixture) {
	nb := runOpts{nobody: true}
	for _, c := range []string{
		"", "-c", "-t", "-p", "-u", "-l",
		"-q -i " + f.id("Q1"), // not readable: qbytes=0
		"-q -i " + f.id("Q3"), // nobody's own
		"-s -i " + f.id("S1"), // semctl(GETVAL) failed: Permission denied
		"-s -i " + f.id("S2"), // nobody's own
		"-s -i " + f.id("S3"), // 0444: readable
		"-m -i " + f.id("M0"), // from /proc: no permission needed
		"-m -i " + f.id("M5"),
	} {
		b.same(t, nb, "ipcs", args(c)...)
	}
}

func ipcsTimeZones(t *testing.T, b *bin, f *fixture) {
	for _, tz := range []string{"America/New_York", "Asia/Kolkata", "UTC"} {
		o := runOpts{env: []string{"TZ=" + tz}}
		for _, c := range []string{"-t", "-q -i " + f.id("Q1"), "-m -i " + f.id("M0"), "-s -i " + f.id("S1")} {
			b.same(t, o, "ipcs", args(c)...)
		}
	}
}

// The listing is what util-linux shows whatever the objects: check that the
// fixture did exercise what it claims, so that a broken fixture cannot make
// the comparisons vacuous.
func fixtureCoverage(t *testing.T, b *bin, f *fixture) {
	r := run(t, first(b.argv(real, "ipcs", "--human")), second(b.argv(real, "ipcs", "--human")), runOpts{})
	for _, want := range []string{
		"0x7fffffff", "0x80000000", "0xffffffff", "dest", "locked", "dest   locked",
		" 1023B", "1.5K", "4.9K", "1024K", "11.5G", "16K", " 4242 ", "nobody",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("ipcs --human shows no %q:\n%s", want, r.stdout)
		}
	}
	if lu, _ := longUser(); lu != 4243 {
		if !regexp.MustCompile(`(?m)^0x00004243 \d+ +\S{10} 644`).MatchString(r.stdout) {
			t.Errorf("no owner cut to 10 columns:\n%s", r.stdout)
		}
	}
	r = run(t, first(b.argv(real, "ipcs", "-s", "-i", f.id("S4"))), second(b.argv(real, "ipcs", "-s", "-i", f.id("S4"))), runOpts{})
	if !strings.Contains(r.stdout, fmt.Sprintf("%-10d %-10d %-10d %-10d", 0, 0, 1, 0)) ||
		!strings.Contains(r.stdout, fmt.Sprintf("%-10d %-10d %-10d %-10d", 1, 1, 0, 1)) ||
		!strings.Contains(r.stdout, "32767") {
		t.Errorf("semaphore waiters and values not shown:\n%s", r.stdout)
	}
}
