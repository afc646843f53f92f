package tests

import (
	"regexp"
	"strings"
	"testing"
)

// TestLsipc compares lsipc with the lsipc link: on the fixture's objects,
// on none, for --global, and where 2.38.1 is wrong.
func TestLsipc(t *testing.T) {
	b := build(t)
	t.Run("empty", func(t *testing.T) { lsipcEmpty(t, b) })
	t.Run("global", func(t *testing.T) { lsipcGlobal(t, b) })
	t.Run("fixed bugs", func(t *testing.T) { lsipcFixedBugs(t, b) })
	f := newFixture(t, b)
	t.Run("objects", func(t *testing.T) { lsipcObjects(t, b, f) })
}

func lsipcObjects(t *testing.T, b *bin, f *fixture) {
	o := runOpts{}
	for _, c := range []string{
		"-q", "-m", "-s", "-q -J", "-m -J", "-s -J", "-q -b", "-m -b", "-s -b", "-m -J -b",
		"-q -c", "-m -c", "-s -c", "-s -J -c -t", "-q -t", "-m -t", "-s -t", "-m -t -c",
		"-q -t --time-format=iso", "-m -t --time-format=full", "-s -t --time-format=short", "-q -t --time-format=iso -J",
		"-m -P", "-s -P", "-q -r", "-m -r", "-s -r", "-q -e", "-m -e", "-s -n", "-q -e -y", "-m --noheadings",
		"-q --noheadings", "-q -l", "-m -r --notruncate",
		"-q -o KEY,ID,PERMS,OWNER,CUID,CUSER,CGID,CGROUP,UID,USER,GID,GROUP,CTIME,USEDBYTES,MSGS,SEND,RECV,LSPID,LRPID",
		"-m -o KEY,ID,SIZE,NATTCH,STATUS,ATTACH,DETACH,COMMAND,CPID,LPID,CUSER,CGROUP,USER,GROUP",
		"-s -o KEY,ID,NSEMS,OTIME,CTIME,USER,GROUP", "-m -o +CUID,CGID", "-q -o +key,id", "-m -o ID,SIZE,STATUS",
		"-m -o KEY,ID,SIZE,NATTCH,STATUS -b --noheadings", "-s -o KEY,ID,NSEMS,OTIME -r",
		// Errors and the quirks of the option checks.
		"-q -i 999", "-i 1", "-q -m", "-m -s -q", "-q -o FOO", "-q -o SIZE", "-c", "-t", "-q -J -r", "-q -e -n",
		"--time-format=bad -q -t", "-q -o KEY -t", "-q -t -o KEY", "-q -c -t", "-q -o FOO,KEY", "-q -o ,KEY",
		"-q -o ''", "-q -o KEY,", "-q -o +", "-q -i abc", "-x", "--qu", "--s", "-q -i",
	} {
		b.same(t, o, "lsipc", args(c)...)
	}
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
		b.same(t, o, "lsipc", opt, "-i", f.id(name))
	}
	for _, name := range []string{"Q1", "M6", "S4"} {
		opt := map[byte]string{'Q': "-q", 'M': "-m", 'S': "-s"}[name[0]]
		for _, extra := range []string{"-J", "-l", "-b", "-r", "-n", "-t", "-o KEY,ID"} {
			b.same(t, o, "lsipc", args(opt+" -i "+f.id(name)+" "+extra)...)
		}
	}
	b.same(t, o, "lsipc", "-h")
	b.same(t, runOpts{nobody: true}, "lsipc", "-s", "-i", f.id("S2"))
	b.same(t, runOpts{env: []string{"TZ=America/New_York"}}, "lsipc", "-q", "-t", "--time-format=iso")
}

// lsipc's empty tables: nothing at all, or 2.38.1's JSON with an empty
// table name for queues and segments.
func lsipcEmpty(t *testing.T, b *bin) {
	b.compare(t, scenario{setup: "empty", cmds: cmds(
		"lsipc -q", "lsipc -m", "lsipc -s", "lsipc -q -J", "lsipc -m -J", "lsipc -s -J", "lsipc -s -r",
		"lsipc -q -i 0", "lsipc -m -i 0 -J", "lsipc -s -i 0", "lsipc", "lsipc -J",
	)}, linked)
}

func lsipcGlobal(t *testing.T, b *bin) {
	b.compare(t, scenario{setup: "global", cmds: cmds(
		"lsipc", "lsipc -g", "lsipc -b", "lsipc -g -b", "lsipc -J", "lsipc -g -J -b", "lsipc -g -q",
		"lsipc -g -m -J", "lsipc -g -s", "lsipc -e", "lsipc -r", "lsipc -n -b", "lsipc --noheadings",
		"lsipc -o RESOURCE,LIMIT", "lsipc -o KEY", "lsipc -e -y", "lsipc -g -o +KEY",
	)}, linked)
}

// Where lsipc 2.38.1 is wrong, ipc prints what the later versions print.
func lsipcFixedBugs(t *testing.T, b *bin) {
	// SEMMNS USED: the sum of the sets' sizes (3+2+1), not 3 sets x 3.
	steps := b.play(t, scenario{setup: "semmns", cmds: cmds("lsipc -s -g")}, linked)
	if want := "SEMMNS   Total number of semaphores"; !strings.Contains(steps[0].Result.stdout, want) ||
		!strings.Contains(lineWith(steps[0].Result.stdout, "SEMMNS"), " 6 ") {
		t.Errorf("SEMMNS:\n%s", steps[0].Result.stdout)
	}
	ul := b.play(t, scenario{setup: "semmns", cmds: cmds("lsipc -s -g")}, real)
	if !strings.Contains(lineWith(ul[0].Result.stdout, "SEMMNS"), " 9 ") {
		t.Logf("util-linux's SEMMNS is no longer 3x3: %s", lineWith(ul[0].Result.stdout, "SEMMNS"))
	}
	// CGID of queues and segments is the creator's group (4343), not its
	// uid (4242).
	steps = b.play(t, scenario{setup: "cgid", cmds: cmds("lsipc -q -c", "lsipc -m -c", "lsipc -s -c")}, linked)
	for _, s := range steps {
		if !regexp.MustCompile(`4242 +4343 +4242 +4343\n`).MatchString(s.Result.stdout) {
			t.Errorf("%s:\n%s", s.Cmd, s.Result.stdout)
		}
	}
	// -P on queues prints the numeric permissions.
	steps = b.play(t, scenario{setup: "errors", cmds: cmds("lsipc -q -P -o ID,PERMS")}, linked)
	if want := "ID PERMS\n0   0600\n1   0644\n2   0600\n3   0600\n4   0600\n"; steps[0].Result.stdout != want {
		t.Errorf("lsipc -q -P:\n%s\nwant\n%s", steps[0].Result.stdout, want)
	}
}

func lineWith(s, word string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			return l
		}
	}
	return ""
}
