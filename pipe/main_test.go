package pipe

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { ipctest.Main(m) }

func init() {
	// "recvfile" receives a file over the socket at descriptor 3 (as a
	// *net.UnixConn, or with "raw" as a bare descriptor), prints the
	// message, the file's contents and whether the new descriptor is
	// close-on-exec, and answers with its credentials.
	ipctest.Register("recvfile", func(args []string) int {
		buf := make([]byte, 64)
		var (
			n    int
			f    *os.File
			conn *net.UnixConn
			err  error
		)
		if args[0] == "raw" {
			// Before any net.FileConn, which would make the shared socket
			// non-blocking.
			var fds []int
			n, fds, err = ReceiveFDs(3, buf, 1)
			if err == nil && len(fds) == 1 {
				f = os.NewFile(uintptr(fds[0]), "received")
			}
		}
		c, cerr := net.FileConn(os.NewFile(3, "sock"))
		if cerr != nil {
			fmt.Fprintln(os.Stderr, cerr)
			return 3
		}
		conn = c.(*net.UnixConn)
		if args[0] != "raw" {
			var files []*os.File
			n, files, err = ReceiveFiles(conn, buf, 1)
			if err == nil && len(files) == 1 {
				f = files[0]
			}
		}
		if err != nil || f == nil {
			fmt.Fprintln(os.Stderr, "receive:", err)
			return 3
		}
		content, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<20))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		fmt.Printf("%s|%s|cloexec=%t\n", buf[:n], content, cloexec(f))
		if err := SendCredentials(conn, []byte("bye")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		// Wait for the parent to read before exiting.
		io.Copy(io.Discard, conn)
		return 0
	})

	// "setcap" sets the capacity of a new pipe and reports the outcome.
	ipctest.Register("setcap", func(args []string) int {
		r, w, err := Pipe(0)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		defer r.Close()
		defer w.Close()
		n, _ := strconv.Atoi(args[0])
		got, err := SetCapacity(w, n)
		if err != nil {
			var errno unix.Errno
			errors.As(err, &errno)
			fmt.Printf("err|%d|%s\n", int(errno), err)
			return 0
		}
		fmt.Println("ok", got)
		return 0
	})

	// "echo" and "sink" are the benchmark peers, in bench_test.go.
	ipctest.Register("echo", echoRole)
	ipctest.Register("sink", sinkRole)
}

// child returns a command for role with the race runtime's exit delay off.
func child(t testing.TB, role string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := ipctest.Command(t, role, args...)
	cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	return cmd
}

func cloexec(f *os.File) bool {
	var flags int
	control(f, func(fd int) { flags, _ = unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0) })
	return flags&unix.FD_CLOEXEC != 0
}

func statusFlags(t *testing.T, f *os.File) int {
	t.Helper()
	var (
		flags int
		err   error
	)
	control(f, func(fd int) { flags, err = unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0) })
	if err != nil {
		t.Fatal(err)
	}
	return flags
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	runtime.GC() // let finalizers of dropped *os.File run first
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func closeAll(t *testing.T, files ...io.Closer) {
	t.Cleanup(func() {
		for _, f := range files {
			f.Close()
		}
	})
}

func newPipe(t *testing.T, flags Flags) (r, w *os.File) {
	t.Helper()
	r, w, err := Pipe(flags)
	if err != nil {
		t.Fatal(err)
	}
	closeAll(t, r, w)
	return r, w
}

func newConns(t *testing.T, typ Type) (a, b *net.UnixConn) {
	t.Helper()
	a, b, err := SocketpairConn(typ)
	if err != nil {
		t.Fatal(err)
	}
	closeAll(t, a, b)
	return a, b
}

// errInfo is what a test checks of an error beyond its errno.
type errInfo struct{ Detail string }

// wantErrno checks that err is reported as package os reports an error on
// a descriptor (*os.PathError, or *os.SyscallError for a call that made
// none) and matches target, and returns its detail.
func wantErrno(t *testing.T, err error, target error) errInfo {
	t.Helper()
	var pe *os.PathError
	var se *os.SyscallError
	if !errors.As(err, &pe) && !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is neither an *os.PathError nor an *os.SyscallError", err, err)
	}
	if !errors.Is(err, target) {
		t.Fatalf("error %q does not match %v", err, target)
	}
	var d *detailed
	if errors.As(err, &d) {
		return errInfo{Detail: d.detail}
	}
	return errInfo{}
}
