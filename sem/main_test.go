package sem_test

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/sem"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	ipctest.Register("errno-as-nobody", childErrnoAsNobody)
	ipctest.Register("lock-and-hang", childLockAndHang)
	ipctest.Register("count-under-lock", childCountUnderLock)
	ipctest.Register("pong", childPong)
	ipctest.Main(m)
}

// newSet makes a private set of n semaphores that the test removes.
func newSet(t testing.TB, n int) *sem.Set {
	t.Helper()
	s, err := sem.Create(ipc.Private, n, ipc.DefaultMode)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Remove(); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EIDRM) {
			t.Error(err)
		}
	})
	return s
}

// freshKey returns a key that no set uses now.
func freshKey(t *testing.T) ipc.Key {
	t.Helper()
	for i := range 1000 {
		k := ipc.Key(0x5e000000 + int32(os.Getpid()%4096)<<8 + int32(i))
		if _, err := sem.Open(k); errors.Is(err, fs.ErrNotExist) {
			return k
		}
	}
	t.Fatal("no free key")
	return 0
}

func wantErrno(t *testing.T, err error, want unix.Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want an error matching %v (%d)", err, want, want)
	}
	var e *ipc.Error
	if !errors.As(err, &e) {
		t.Fatalf("%v is a %T, not an *ipc.Error", err, err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("error text has a newline: %q", err)
	}
}

// childErrnoAsNobody runs one operation on a set as nobody and prints the
// errno it got (0 for success).
func childErrnoAsNobody(args []string) int {
	id, _ := strconv.Atoi(args[1])
	s, err := sem.FromID(id)
	if err == nil {
		switch args[0] {
		case "stat":
			_, err = s.Stat()
		case "op":
			err = s.Do(sem.Inc(0, 1, 0))
		case "setmode":
			err = s.SetMode(0o666)
		case "remove":
			err = s.Remove()
		case "getkey":
			k, _ := strconv.ParseInt(args[2], 0, 64)
			// A bare open asks for no permission and always succeeds;
			// asking for read and alter is what is checked.
			_, err = sem.Get(ipc.Key(k), 0, 0, 0o600)
		}
	}
	var errno unix.Errno
	errors.As(err, &errno)
	fmt.Println(int(errno))
	return 0
}

func nobodyErrno(t *testing.T, op string, s *sem.Set, extra ...string) unix.Errno {
	t.Helper()
	cmd := ipctest.AsNobody(t, ipctest.Command(t, "errno-as-nobody", append([]string{op, strconv.Itoa(s.ID())}, extra...)...))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("child printed %q", out)
	}
	return unix.Errno(n)
}

// childLockAndHang takes the mutex of set args[0], says so and waits to be
// killed.
func childLockAndHang(args []string) int {
	id, _ := strconv.Atoi(args[0])
	s, err := sem.FromID(id)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := sem.NewMutex(s, 0).Lock(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("locked")
	time.Sleep(time.Minute)
	return 0
}

// childCountUnderLock increments semaphore 1 by read-modify-write, rounds
// times, under the mutex of semaphore 0: only mutual exclusion keeps the
// count right.
func childCountUnderLock(args []string) int {
	id, _ := strconv.Atoi(args[0])
	rounds, _ := strconv.Atoi(args[1])
	s, err := sem.FromID(id)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	m := sem.NewMutex(s, 0)
	for range rounds {
		if err := m.Lock(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		v, err := s.Value(1)
		if err == nil {
			err = s.SetValue(1, v+1)
		}
		if err == nil {
			err = m.Unlock()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

// startChild starts cmd and returns a reader of its stdout lines; the test
// kills and reaps it at the end.
func startChild(t *testing.T, cmd *exec.Cmd) *bufio.Scanner {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return bufio.NewScanner(out)
}
