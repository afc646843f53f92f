// Package tests drives the real ipc binary as a user would, side by side
// with util-linux's ipcs, ipcrm, ipcmk and lsipc on the same kernel objects,
// and requires the same bytes on stdout and stderr and the same exit
// status. Every test runs in a private IPC namespace (ipctest.Main), and
// the removal and creation cases each get a namespace of their own, so
// that ids start at 0 for both tools.
package tests

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
)

// dirEnv passes the directory of the built binary from the process that
// built it to the one ipctest runs the tests in (a private IPC namespace).
const dirEnv = "IPC_TESTS_DIR"

// TestMain builds ipc once (or copies $IPC_TEST_BINARY) into a directory
// every user may enter, since children run it as nobody, links it there as
// ipcs, ipcrm, ipcmk and lsipc, runs the tests, and removes it all.
func TestMain(m *testing.M) {
	if os.Getenv(dirEnv) != "" {
		os.Exit(ipctest.Run(m)) // the tests' own process, or one of their children
	}
	dir, err := os.MkdirTemp("", "ipc-tests-")
	if err == nil {
		err = populate(dir)
	}
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
	} else {
		os.Setenv(dirEnv, dir)
		code = ipctest.Run(m)
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func populate(dir string) error {
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	ipc := filepath.Join(dir, "ipc")
	if prebuilt := os.Getenv("IPC_TEST_BINARY"); prebuilt != "" {
		// An ipc built elsewhere (an installed one, a release build).
		data, err := os.ReadFile(prebuilt)
		if err == nil {
			err = os.WriteFile(ipc, data, 0o755)
		}
		if err != nil {
			return err
		}
	} else {
		cmd := exec.Command("go", "build", "-o", ipc, "github.com/ipctoolkit/ipc/cmd/ipc")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/ipc: %v\n%s", err, out)
		}
	}
	for _, tool := range utilLinux {
		if err := os.Symlink("ipc", filepath.Join(dir, tool)); err != nil {
			return err
		}
	}
	return nil
}

// utilLinux are the tools ipc mirrors; the tests need all of them.
var utilLinux = []string{"ipcs", "ipcrm", "ipcmk", "lsipc"}

// bin is the built ipc binary and its util-linux named links.
type bin struct {
	dir string
	ipc string
}

// build returns the binary TestMain built, skipping the test when
// util-linux's tools are not installed.
func build(t *testing.T) *bin {
	t.Helper()
	for _, tool := range utilLinux {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("util-linux's %s is not installed", tool)
		}
	}
	dir := os.Getenv(dirEnv)
	return &bin{dir: dir, ipc: filepath.Join(dir, "ipc")}
}

// A flavour is one way of running a util-linux command: util-linux itself,
// ipc through a link of the tool's name, or the ipc subcommand.
type flavour int

const (
	real   flavour = iota // /usr/bin/ipcs ...
	linked                // <dir>/ipcs ... (argv[0] "ipcs")
	subcmd                // <dir>/ipc ls ... (argv[0] "ipc")
)

func (f flavour) String() string { return [...]string{"util-linux", "link", "ipc subcommand"}[f] }

var subcommands = map[string]string{"ipcs": "ls", "ipcrm": "rm", "ipcmk": "mk"}

// argv is the command line of tool in flavour f: the path to run and the
// arguments including argv[0].
func (b *bin) argv(f flavour, tool string, args ...string) (string, []string) {
	switch f {
	case linked:
		return filepath.Join(b.dir, tool), append([]string{tool}, args...)
	case subcmd:
		return b.ipc, append([]string{"ipc", subcommands[tool]}, args...)
	}
	path, _ := exec.LookPath(tool)
	return path, append([]string{tool}, args...)
}

// result is what a command printed and how it ended.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("%s[stderr]:\n%s[exit=%d]\n", r.stdout, r.stderr, r.code)
}

// runOpts say how to run a command: as nobody, with extra environment.
type runOpts struct {
	nobody bool
	env    []string
}

func run(t testing.TB, path string, argv []string, o runOpts) result {
	t.Helper()
	cmd := &exec.Cmd{Path: path, Args: argv}
	cmd.Env = append(append(os.Environ(), "TZ=UTC", "LC_ALL=C.UTF-8"), o.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if o.nobody {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}}
	}
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() < 0 {
			t.Fatalf("%v: %v", argv, err)
		}
		code = ee.ExitCode()
	}
	return result{out.String(), errb.String(), code}
}

const nobody = ipctest.Nobody

// asSubcommand rewrites util-linux's output into what the ipc subcommand
// prints: the program name in messages is "ipc", and the help hint names
// "ipc ls" (rm, mk).
func asSubcommand(tool string, r result) result {
	sub := "ipc " + subcommands[tool]
	var b strings.Builder
	for _, line := range strings.SplitAfter(r.stderr, "\n") {
		if rest, ok := strings.CutPrefix(line, tool+": "); ok {
			line = "ipc: " + rest
		}
		line = strings.Replace(line, "Try '"+tool+" --help'", "Try '"+sub+" --help'", 1)
		b.WriteString(line)
	}
	r.stderr = b.String()
	return r
}

// same runs tool with args as util-linux, through the link and as the ipc
// subcommand (for ipcs, ipcrm and ipcmk) on the objects as they are, and
// fails the test if ipc's output differs from util-linux's by one byte.
// Timestamps in the output may differ only if a second passes between the
// runs: util-linux is run before and after ipc, and the comparison is
// repeated when its two outputs differ.
func (b *bin) same(t *testing.T, o runOpts, tool string, args ...string) {
	t.Helper()
	flavours := []flavour{linked}
	if _, ok := subcommands[tool]; ok {
		flavours = append(flavours, subcmd)
	}
	for attempt := 0; ; attempt++ {
		before := run(t, first(b.argv(real, tool, args...)), second(b.argv(real, tool, args...)), o)
		var got []result
		for _, f := range flavours {
			p, a := b.argv(f, tool, args...)
			got = append(got, run(t, p, a, o))
		}
		after := run(t, first(b.argv(real, tool, args...)), second(b.argv(real, tool, args...)), o)
		if before.String() != after.String() {
			if attempt < 3 {
				continue // a second (or a minute) boundary passed
			}
			t.Fatalf("%s %q is not stable:\n%s\n%s", tool, args, before, after)
		}
		for k, f := range flavours {
			want := before
			if f == subcmd {
				want = asSubcommand(tool, before)
			}
			if got[k].String() != want.String() {
				t.Errorf("%s %q (%v):\n--- util-linux\n%s--- ipc\n%s%s", tool, args, f, want, got[k], diffLines(want.String(), got[k].String()))
			}
		}
		return
	}
}

func first(p string, _ []string) string    { return p }
func second(_ string, a []string) []string { return a }

// diffLines points at the first line that differs.
func diffLines(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(la) || i < len(lb); i++ {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			return fmt.Sprintf("--- first difference, line %d:\nwant %q\ngot  %q\n", i+1, x, y)
		}
	}
	return ""
}

// ---- children: processes that hold attachments and wait on semaphores ----

// child starts the test binary in role with args, waits for its "ready"
// line, and stops it (closing its stdin, then killing it) when the test
// ends.
func child(t *testing.T, role string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := ipctest.Command(t, role, args...)
	cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	return startReady(t, cmd, role, args)
}

// startReady starts cmd, a child in role with args, as child does.
func startReady(t *testing.T, cmd *exec.Cmd, role string, args []string) *exec.Cmd {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("child %s %q: %q, %v", role, args, line, err)
	}
	return cmd
}
