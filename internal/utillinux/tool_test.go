package utillinux

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The parsers and formatters of the util-linux personalities, on the values
// util-linux 2.38.1 prints for them (ipcs --human, ipcmk -M, ipcrm's
// parsers). tests/ compares whole outputs with
// util-linux; these pin the pieces.

func TestHumanSize(t *testing.T) {
	for n, want := range map[uint64]string{
		0: "0B", 1: "1B", 1023: "1023B", 1024: "1K", 1025: "1K", 1536: "1.5K", 5000: "4.9K", 5200: "5.1K",
		10239: "10K", 16383: "16K", 1048575: "1024K", 1100000: "1M", 12345678901: "11.5G",
		18446744073692774399: "16E", 1<<60 + 1<<59: "1.5E", 1<<64 - 1: "16E",
	} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q; want %q", n, got, want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for s, want := range map[string]any{
		"4096": uint64(4096), "1K": uint64(1024), "1MiB": uint64(1 << 20), "2KB": uint64(2000), "1kb": uint64(1000),
		"1Kib": uint64(1024), "1.5K": uint64(1536), "1.05K": uint64(1075), "1.0K": uint64(1024), "1.K": uint64(1024),
		"0x10K": uint64(16384), "010": uint64(8), " 12": uint64(12), "1.000000000000000000000005K": uint64(1024),
		"1e": uint64(1 << 60), "15E": uint64(15 << 60), "0": uint64(0),
		"abc": unix.EINVAL, "": unix.EINVAL, "1.0": unix.EINVAL, "1.": unix.EINVAL, "2.5": unix.EINVAL,
		"1.5.5K": unix.EINVAL, "12 ": unix.EINVAL, "-1": unix.EINVAL, " -1": unix.EINVAL, "1X": unix.EINVAL,
		"1.99999999999999999999999K": unix.ERANGE, "99999999999999999999": unix.ERANGE, "16E": unix.ERANGE,
		"20E": unix.ERANGE, "1Z": unix.ERANGE,
	} {
		got, err := parseSize(s)
		switch w := want.(type) {
		case uint64:
			if err != nil || got != w {
				t.Errorf("parseSize(%q) = %d, %v; want %d", s, got, err, w)
			}
		case unix.Errno:
			if !errors.Is(err, w) {
				t.Errorf("parseSize(%q) = %d, %v; want %v", s, got, err, w)
			}
		}
	}
}

func TestStrtoul(t *testing.T) {
	for _, c := range []struct {
		s        string
		base     int
		v        uint64
		rest     string
		overflow bool
	}{
		{"0x1234", 0, 0x1234, "", false},
		{"0X1234", 0, 0x1234, "", false},
		{"020", 0, 16, "", false},
		{"4660", 0, 4660, "", false},
		{"-1", 0, 1<<64 - 1, "", false},
		{"  +7z", 0, 7, "z", false},
		{"0x", 0, 0, "x", false},
		{"08", 0, 0, "8", false},
		{"xyz", 0, 0, "xyz", false},
		{"", 10, 0, "", false},
		{"99999999999999999999999", 0, 1<<64 - 1, "", true},
		{"0x10", 10, 0, "x10", false},
		{"777", 8, 0o777, "", false},
		{"999", 8, 0, "999", false},
	} {
		v, rest, of := strtoul(c.s, c.base)
		if v != c.v || rest != c.rest || of != c.overflow {
			t.Errorf("strtoul(%q, %d) = %d, %q, %t; want %d, %q, %t", c.s, c.base, v, rest, of, c.v, c.rest, c.overflow)
		}
	}
}

func TestStrtos32(t *testing.T) {
	for s, want := range map[string]any{
		"0": int32(0), "010": int32(10), "+2": int32(2), " 3": int32(3), "-5": int32(-5),
		"2147483647": int32(1<<31 - 1), "-2147483648": int32(-1 << 31),
		"": errBadNumber, "abc": errBadNumber, "1x": errBadNumber, "0x1": errBadNumber, "3 ": errBadNumber,
		"2147483648": unix.ERANGE, "99999999999": unix.ERANGE, "-99999999999999999999999": unix.ERANGE,
	} {
		got, err := strtos32(s)
		switch w := want.(type) {
		case int32:
			if err != nil || got != w {
				t.Errorf("strtos32(%q) = %d, %v; want %d", s, got, err, w)
			}
		case error:
			if !errors.Is(err, w) {
				t.Errorf("strtos32(%q) = %d, %v; want %v", s, got, err, w)
			}
		}
	}
}

func TestStrerror(t *testing.T) {
	for e, want := range map[unix.Errno]string{
		0: "Success", unix.EACCES: "Permission denied", unix.EINVAL: "Invalid argument",
		unix.ENOENT: "No such file or directory", unix.ERANGE: "Numerical result out of range",
		unix.ENOMEM: "Cannot allocate memory", unix.ENOSPC: "No space left on device",
	} {
		if got := strerror(e); got != want {
			t.Errorf("strerror(%d) = %q; want %q", e, got, want)
		}
	}
}

// getoptRun parses args and returns what getopt_long would hand the
// program, one option per element ("q", "i=1", "a", "a=shm"), then "|" and
// the arguments that were not options, and what it printed.
func getoptRun(args ...string) (string, string) {
	var errb bytes.Buffer
	longs := []longOpt{
		{"id", requiredArg, 'i'}, {"queues", noArg, 'q'}, {"all", optionalArg, 'a'},
		{"semaphores", noArg, 's'}, {"summary", noArg, 'u'}, {"sem-alias", noArg, 's'},
	}
	g := newGetopt("prog", args, "i:qa::su", longs, &errb)
	var out []string
	for {
		opt, arg, has, done := g.next()
		if done {
			break
		}
		o := string(rune(opt))
		if has {
			o += "=" + arg
		}
		out = append(out, o)
	}
	return strings.Join(out, " ") + " | " + strings.Join(g.rest, " "), errb.String()
}

// unsetenv removes an environment variable for the test: getopt, like
// glibc, treats even an empty POSIXLY_CORRECT as set.
func unsetenv(t *testing.T, name string) {
	t.Setenv(name, "")
	os.Unsetenv(name)
}

func TestGetopt(t *testing.T) {
	unsetenv(t, "POSIXLY_CORRECT")
	for _, c := range []struct {
		args      []string
		want, msg string
	}{
		{[]string{"-qa"}, "q a | ", ""},
		{[]string{"-qashm", "x"}, "q a=shm | x", ""},
		{[]string{"-a", "shm"}, "a | shm", ""},
		{[]string{"--all=shm", "--all", "msg"}, "a=shm a | msg", ""},
		{[]string{"-i1", "-i", "2", "--id=3", "--id", "4", "--i=5"}, "i=1 i=2 i=3 i=4 i=5 | ", ""},
		{[]string{"x", "-q", "y", "--", "-s", "z"}, "q | x y -s z", ""},
		{[]string{"-", "-q"}, "q | -", ""},
		{[]string{"-i", "--", "-q"}, "i=-- q | ", ""},
		{[]string{"--que", "--sem"}, "q s | ", ""}, // --sem: two names for the same option
		{[]string{"-x", "-q"}, "? q | ", "prog: invalid option -- 'x'\n"},
		{[]string{"-q", "-i"}, "q ? | ", "prog: option requires an argument -- 'i'\n"},
		{[]string{"--s"}, "? | ", "prog: option '--s' is ambiguous; possibilities: '--semaphores' '--summary'\n"},
		{[]string{"--foo=1"}, "? | ", "prog: unrecognized option '--foo=1'\n"},
		{[]string{"--queues=1"}, "? | ", "prog: option '--queues' doesn't allow an argument\n"},
		{[]string{"--i"}, "? | ", "prog: option '--id' requires an argument\n"},
	} {
		got, msg := getoptRun(c.args...)
		if got != c.want || msg != c.msg {
			t.Errorf("getopt %q = %q, %q; want %q, %q", c.args, got, msg, c.want, c.msg)
		}
	}
}

func TestGetoptPosixlyCorrect(t *testing.T) {
	t.Setenv("POSIXLY_CORRECT", "1")
	if got, _ := getoptRun("-q", "x", "-s"); got != "q | x -s" {
		t.Errorf("POSIXLY_CORRECT: %q", got)
	}
}
