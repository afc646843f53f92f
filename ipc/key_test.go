package ipc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseKey(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Key
		ok   bool
	}{
		{"private", Private, true},
		{"PRIVATE", Private, true},
		{"IPC_PRIVATE", Private, true},
		{" private\n", Private, true},
		{"0", 0, true},
		{"0x0", 0, true},
		{"0x1b2c", 0x1b2c, true},
		{"0X1B2C", 0x1b2c, true},
		{"0x00001234", 0x1234, true},
		{"  0x1b2c  ", 0x1b2c, true},
		{"4660", 0x1234, true},
		{"+4660", 0x1234, true},
		{"010", 10, true}, // decimal, not octal: the CLI contract says hex or decimal
		{"0x7fffffff", 0x7fffffff, true},
		{"2147483647", 0x7fffffff, true},
		{"0x80000000", Key(-1 << 31), true},
		{"2147483648", Key(-1 << 31), true},
		{"-2147483648", Key(-1 << 31), true},
		{"0xffffffff", -1, true},
		{"4294967295", -1, true},
		{"-1", -1, true},
		{"-4660", -4660, true},
		// Out of 32 bits.
		{"0x100000000", 0, false},
		{"4294967296", 0, false},
		{"-2147483649", 0, false},
		{"99999999999999999999999", 0, false},
		// Junk.
		{"", 0, false},
		{"   ", 0, false},
		{"0x", 0, false},
		{"0x-1", 0, false},
		{"-0x1", 0, false},
		{"0x1g", 0, false},
		{"12ab", 0, false},
		{"1e3", 0, false},
		{"0o17", 0, false},
		{"0b1", 0, false},
		{"privat", 0, false},
		{"1 2", 0, false},
	} {
		got, err := ParseKey(c.in)
		if c.ok && (err != nil || got != c.want) {
			t.Errorf("ParseKey(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
		if !c.ok && err == nil {
			t.Errorf("ParseKey(%q) = %v, want an error", c.in, got)
		}
		if !c.ok && err != nil && !strings.Contains(err.Error(), strconv.Quote(c.in)) {
			t.Errorf("ParseKey(%q) error %q does not quote the input", c.in, err)
		}
	}
}

func TestKeyString(t *testing.T) {
	for k, want := range map[Key]string{
		Private:    "0x00000000",
		0x1b2c:     "0x00001b2c",
		0x7fffffff: "0x7fffffff",
		-1 << 31:   "0x80000000",
		-1:         "0xffffffff",
		-27060831:  "0xfe6315a1", // a key as /proc/sysvipc prints it, and as ipcs shows it
	} {
		if got := k.String(); got != want {
			t.Errorf("Key(%d).String() = %q, want %q", int32(k), got, want)
		}
		if back, err := ParseKey(want); err != nil || back != k {
			t.Errorf("ParseKey(%q) = %v, %v; want %d back", want, back, err, int32(k))
		}
	}
}

// TestFtokMatchesGlibc compares Ftok with the C library's ftok(3) for
// files on several file systems and project ids whose low byte matters.
func TestFtokMatchesGlibc(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found: Ftok not compared with glibc")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "ftok.c")
	bin := filepath.Join(dir, "ftok")
	err = os.WriteFile(src, []byte(`#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
int main(int argc, char **argv) {
	for (int i = 1; i+1 < argc; i += 2) {
		key_t k = ftok(argv[i], atoi(argv[i+1]));
		printf("%d\n", (int)k);
	}
	return 0;
}
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gcc, "-Wall", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}

	paths := []string{"/", "/etc/passwd", "/dev/null", "/proc/version", dir, src}
	for i := range 5 {
		p := filepath.Join(dir, fmt.Sprintf("f%d", i))
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	projs := []int{1, 'a', 'z', 0x7f, 0x80, 0xff, 0x101, 0x1ff, -1, -255, 1<<20 + 3}
	var args []string
	for _, p := range paths {
		for _, proj := range projs {
			args = append(args, p, strconv.Itoa(proj))
		}
	}
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatalf("ftok program: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	n := 0
	for i := 0; i < len(args); i += 2 {
		if !sc.Scan() {
			t.Fatalf("ftok program printed %d lines, want %d", n, len(args)/2)
		}
		n++
		c, _ := strconv.ParseInt(sc.Text(), 10, 32)
		proj, _ := strconv.Atoi(args[i+1])
		got, err := Ftok(args[i], proj)
		if err != nil {
			t.Errorf("Ftok(%q, %d): %v", args[i], proj, err)
			continue
		}
		if got != Key(c) {
			t.Errorf("Ftok(%q, %#x) = %v, glibc says %v", args[i], proj, got, Key(c))
		}
	}
}

func TestFtokErrors(t *testing.T) {
	if _, err := Ftok("/nonexistent/file", 1); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Ftok of a missing file = %v, want an error matching fs.ErrNotExist", err)
	}
	for _, proj := range []int{0, 0x100, -256} {
		if _, err := Ftok("/", proj); err == nil {
			t.Errorf("Ftok(\"/\", %#x) succeeded; a zero low byte must be refused", proj)
		}
	}
	// The same file and project give the same key; another project another.
	a, _ := Ftok("/", 1)
	b, _ := Ftok("/", 1)
	c, _ := Ftok("/", 2)
	if a != b || a == c {
		t.Errorf("Ftok(/, 1) twice = %v, %v; with 2 = %v", a, b, c)
	}
}

func TestMode(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Mode
		ok   bool
	}{
		{"0600", 0o600, true},
		{"600", 0o600, true},
		{"0o640", 0o640, true},
		{" 0640 ", 0o640, true},
		{"0", 0, true},
		{"0666", 0o666, true},
		{"0444", 0o444, true},
		{"0777", 0, false}, // execute bits mean nothing to System V IPC
		{"0700", 0, false},
		{"01600", 0, false},
		{"8", 0, false},
		{"0x1ff", 0, false},
		{"", 0, false},
		{"rw-------", 0, false},
		{"-600", 0, false},
	} {
		got, err := ParseMode(c.in)
		if c.ok && (err != nil || got != c.want) {
			t.Errorf("ParseMode(%q) = %o, %v; want %o", c.in, got, err, c.want)
		}
		if !c.ok && err == nil {
			t.Errorf("ParseMode(%q) = %o, want an error", c.in, got)
		}
	}
	for m, want := range map[Mode]string{
		0:     "---------",
		0o600: "rw-------",
		0o640: "rw-r-----",
		0o644: "rw-r--r--",
		0o666: "rw-rw-rw-",
		0o444: "r--r--r--",
		0o777: "rwxrwxrwx", // ipcmk -p 0777 makes such objects; lsipc shows them so
	} {
		if got := m.String(); got != want {
			t.Errorf("Mode(%o).String() = %q, want %q", m, got, want)
		}
	}
	if DefaultMode != 0o600 || !DefaultMode.Valid() || Mode(0o700).Valid() {
		t.Errorf("DefaultMode %o, Valid wrong", DefaultMode)
	}
}

// CreateRandom retries with another key while create says the key is taken,
// never uses Private, and stops at the first other outcome.
func TestCreateRandom(t *testing.T) {
	var tried []Key
	v, k, err := CreateRandom(func(k Key) (int, error) {
		tried = append(tried, k)
		if len(tried) < 3 {
			return 0, &Error{Pkg: "ipc", Op: "create", Kind: Queue, ID: -1, Key: k, Err: unix.EEXIST}
		}
		return 7, nil
	})
	if err != nil || v != 7 || len(tried) != 3 || k != tried[2] || slices.Contains(tried, Private) {
		t.Errorf("CreateRandom = %d, %v, %v after keys %v", v, k, err, tried)
	}
	boom := errors.New("boom")
	if _, _, err := CreateRandom(func(Key) (int, error) { return 0, boom }); err != boom {
		t.Errorf("CreateRandom passed on %v, want the create error", err)
	}
	n := 0
	if _, k, err := CreateRandom(func(k Key) (int, error) { n++; return 0, &Error{Err: unix.EEXIST} }); !errors.Is(err, fs.ErrExist) || k != Private || n != randomTries {
		t.Errorf("every key taken: %v, %v after %d tries", k, err, n)
	}
}
