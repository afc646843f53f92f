package shm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { ipctest.Main(m) }

// newSegment creates a private segment that the test removes at the end.
func newSegment(t testing.TB, size int, mode ipc.Mode) *Segment {
	t.Helper()
	s, err := Create(ipc.Private, size, mode)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Remove() })
	return s
}

// newKeyed creates a segment with a fresh random key.
func newKeyed(t testing.TB, size int, mode ipc.Mode) *Segment {
	t.Helper()
	for range 100 {
		k := ipc.Key(int32(rand.Uint32()))
		if k == ipc.Private {
			continue
		}
		s, err := Create(k, size, mode)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Remove() })
		return s
	}
	t.Fatal("no free key in 100 tries")
	return nil
}

// freshKey returns a key no segment has.
func freshKey(t testing.TB) ipc.Key {
	t.Helper()
	for range 100 {
		k := ipc.Key(int32(rand.Uint32()))
		if _, err := unix.SysvShmGet(int(k), 0, 0); k != ipc.Private && err == unix.ENOENT {
			return k
		}
	}
	t.Fatal("no free key in 100 tries")
	return 0
}

func attach(t testing.TB, s *Segment, flags Flags) *Mapping {
	t.Helper()
	m, err := s.Attach(flags)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Detach() })
	return m
}

func stat(t testing.TB, s *Segment) Info {
	t.Helper()
	info, err := s.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// wantErrno checks that err is an *ipc.Error from package shm wrapping errno.
func wantErrno(t testing.TB, err error, errno unix.Errno) *ipc.Error {
	t.Helper()
	var e *ipc.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *ipc.Error", err, err)
	}
	if e.Pkg != "shm" {
		t.Errorf("error %q: Pkg %q, want shm", err, e.Pkg)
	}
	if !errors.Is(err, errno) {
		t.Fatalf("error %q: want errno %d (%v)", err, int(errno), errno)
	}
	return e
}

// report prints the outcome of an operation in a child for the parent:
// "ok" or "err|<errno>|<text>".
func report(err error) {
	if err == nil {
		fmt.Println("ok")
		return
	}
	var errno unix.Errno
	errors.As(err, &errno)
	fmt.Printf("err|%d|%s\n", int(errno), err)
}

func arg(args []string, i int) int {
	if i >= len(args) {
		return 0
	}
	n, _ := strconv.Atoi(args[i])
	return n
}

func init() {
	// "op" runs one operation of this package and reports it on stdout.
	ipctest.Register("op", func(args []string) int {
		id := arg(args, 1)
		seg := func() *Segment { return &Segment{id: id, made: true} }
		switch args[0] {
		case "get": // key mode [size]
			k, _ := ipc.ParseKey(args[1])
			mode, _ := ipc.ParseMode(args[2])
			_, err := Get(k, arg(args, 3), 0, mode)
			report(err)
		case "fromid":
			s, err := FromID(id)
			if err == nil {
				fmt.Println("ok", s.Size(), s.Key())
				return 0
			}
			report(err)
		case "attach", "attach-ro":
			var flags Flags
			if args[0] == "attach-ro" {
				flags = ReadOnly
			}
			m, err := seg().Attach(flags)
			if err == nil {
				err = m.Detach()
			}
			report(err)
		case "stat":
			_, err := seg().Stat()
			report(err)
		case "remove":
			report(seg().Remove())
		case "setmode":
			report(seg().SetMode(0o600))
		case "setowner":
			report(seg().SetOwner(ipctest.Nobody, ipctest.Nobody))
		case "lock":
			report(seg().LockMemory())
		case "unlock":
			report(seg().UnlockMemory())
		case "hugetlb":
			s, err := Get(ipc.Private, 2<<20, ipc.Create|HugeTLB, 0o600)
			if err == nil {
				s.Remove()
			}
			report(err)
		default:
			return 2
		}
		return 0
	})

	// "fault" attaches a segment and writes where it may not: through a
	// read-only attachment ("ro") or after detaching ("detached"). With
	// "recover" a fault becomes a panic that is recovered and reported;
	// without, the write kills the process as it would any Go program.
	ipctest.Register("fault", func(args []string) int {
		s := &Segment{id: arg(args, 1), made: true}
		var flags Flags
		if args[0] == "ro" {
			flags = ReadOnly
		}
		m, err := s.Attach(flags)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		b := m.Bytes()
		if args[0] == "detached" {
			if err := m.Detach(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 3
			}
		}
		if len(args) > 2 && args[2] == "recover" {
			debug.SetPanicOnFault(true)
			defer func() {
				r := recover()
				addr := uintptr(0)
				if re, ok := r.(interface{ Addr() uintptr }); ok {
					addr = re.Addr()
				}
				fmt.Printf("fault at segment start: %t\n", addr == uintptr(unsafe.Pointer(unsafe.SliceData(b))))
			}()
		}
		b[0] = 1
		fmt.Println("no fault")
		return 0
	})

	// "hold" attaches a segment, says so, and detaches when its stdin ends.
	ipctest.Register("hold", func(args []string) int {
		m, err := (&Segment{id: arg(args, 0), made: true}).Attach(0)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		fmt.Println("attached")
		io.Copy(io.Discard, os.Stdin)
		if err := m.Detach(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		return 0
	})

	// "count" adds 1 to the counter at offset 0, n times.
	ipctest.Register("count", func(args []string) int {
		m, err := (&Segment{id: arg(args, 0), made: true}).Attach(0)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		c, err := m.Uint64(0)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		for range arg(args, 1) {
			c.Add(1)
		}
		m.Detach()
		return 0
	})
}

// child returns a command for role with the race runtime's exit delay off.
func child(t testing.TB, role string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := ipctest.Command(t, role, args...)
	cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	return cmd
}

// runOp runs the "op" role (as nobody if asNobody) and returns its report.
func runOp(t *testing.T, asNobody bool, args ...string) string {
	t.Helper()
	cmd := child(t, "op", args...)
	if asNobody {
		ipctest.AsNobody(t, cmd)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	if code := ipctest.RunChild(t, cmd); code != 0 {
		t.Fatalf("child %v exited %d; stdout %q", args, code, out.String())
	}
	return strings.TrimSuffix(out.String(), "\n")
}

// wantReport checks a child's report: "ok", or the errno it failed with.
func wantReport(t *testing.T, got string, errno unix.Errno) {
	t.Helper()
	if errno == 0 {
		if got != "ok" {
			t.Errorf("child: %q, want ok", got)
		}
		return
	}
	prefix := "err|" + strconv.Itoa(int(errno)) + "|"
	if !strings.HasPrefix(got, prefix) {
		t.Errorf("child: %q, want errno %d (%v)", got, int(errno), errno)
	}
}

// holder is a child process that keeps a segment attached until released.
type holder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

func startHolder(t *testing.T, id int) *holder {
	t.Helper()
	cmd := child(t, "hold", strconv.Itoa(id))
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
	h := &holder{cmd: cmd, stdin: stdin}
	t.Cleanup(func() { h.release(t) })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "attached\n" {
		t.Fatalf("holder: %q, %v", line, err)
	}
	return h
}

// release makes the holder detach and waits for it to exit.
func (h *holder) release(t *testing.T) {
	if h.cmd.ProcessState != nil {
		return
	}
	h.stdin.Close()
	if err := h.cmd.Wait(); err != nil {
		t.Errorf("holder: %v", err)
	}
}

// withSysctl sets /proc/sys/kernel/<name> for the test, in the tests' own
// IPC namespace only, where the shm limits are private.
func withSysctl(t *testing.T, name, value string) {
	t.Helper()
	if !ipctest.PrivateNamespace() {
		t.Skip("changes an IPC limit: only in a private IPC namespace")
	}
	path := "/proc/sys/kernel/" + name
	old, err := os.ReadFile(path)
	if err != nil {
		t.Skip(err)
	}
	if err := os.WriteFile(path, []byte(value), 0); err != nil {
		t.Skipf("set %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(path, old, 0); err != nil {
			t.Errorf("restore %s: %v", name, err)
		}
	})
}
