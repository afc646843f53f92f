package ipc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { ipctest.Main(m) }

// The objects of these tests are made with the raw calls, so that the
// package under test is only the one that lists and removes them.

// withFreshKey calls get with random keys until one is unused.
func withFreshKey(t *testing.T, get func(k Key) (int, error)) (int, Key) {
	t.Helper()
	for range 100 {
		k := Key(int32(rand.Uint32()))
		if k == Private {
			continue
		}
		id, err := get(k)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			t.Fatalf("create with key %v: %v", k, err)
		}
		return id, k
	}
	t.Fatal("no free key in 100 tries")
	return 0, 0
}

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func newSemSet(t *testing.T, nsems int, mode Mode) (int, Key) {
	t.Helper()
	id, k := withFreshKey(t, func(k Key) (int, error) {
		id, e := sys.Semget(int32(k), nsems, unix.IPC_CREAT|unix.IPC_EXCL|int(mode))
		return id, errnoErr(e)
	})
	t.Cleanup(func() { sys.SemctlInt(id, 0, unix.IPC_RMID, 0) })
	return id, k
}

func newQueue(t *testing.T, mode Mode) (int, Key) {
	t.Helper()
	id, k := withFreshKey(t, func(k Key) (int, error) {
		id, e := sys.Msgget(int32(k), unix.IPC_CREAT|unix.IPC_EXCL|int(mode))
		return id, errnoErr(e)
	})
	t.Cleanup(func() { sys.MsgctlDS(id, unix.IPC_RMID, nil) })
	return id, k
}

func newSegment(t *testing.T, size int, mode Mode) (int, Key) {
	t.Helper()
	id, k := withFreshKey(t, func(k Key) (int, error) {
		return unix.SysvShmGet(int(k), size, unix.IPC_CREAT|unix.IPC_EXCL|int(mode))
	})
	t.Cleanup(func() { unix.SysvShmCtl(id, unix.IPC_RMID, nil) })
	return id, k
}

func sendMsg(t *testing.T, id int, typ int64, n int) {
	t.Helper()
	buf := make([]byte, sys.LongSize+n)
	binary.NativeEndian.PutUint64(buf, uint64(typ))
	if e := sys.Msgsnd(id, buf, n, unix.IPC_NOWAIT); e != 0 {
		t.Fatalf("msgsnd: %v", e)
	}
}

func kindArg(k Kind) string { return strconv.Itoa(int(k)) }

// The role a child runs, often as nobody: one operation of this package,
// reported on stdout for the parent to check.
func init() {
	ipctest.Register("op", func(args []string) int {
		kind := Kind(atoiOr(args, 1))
		report := func(err error) {
			if err == nil {
				fmt.Println("ok")
				return
			}
			var e *Error
			var errno unix.Errno
			errors.As(err, &e)
			errors.As(err, &errno)
			fmt.Printf("err|%d|%s|%d|%s|%t|%s\n", int(errno), e.Call, e.ID, e.Key, errors.Is(err, fs.ErrPermission), err)
		}
		switch args[0] {
		case "remove":
			report(Remove(kind, atoiOr(args, 2)))
		case "removekey":
			k, err := ParseKey(args[2])
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			report(RemoveKey(kind, k))
		case "readable":
			ids, err := ReadableIDs(kind)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			var words []string
			for _, id := range ids {
				words = append(words, strconv.Itoa(id))
			}
			fmt.Println(strings.Join(words, " "))
		default:
			return 2
		}
		return 0
	})
}

func atoiOr(args []string, i int) int {
	if i >= len(args) {
		return 0
	}
	n, _ := strconv.Atoi(args[i])
	return n
}

// runOp runs the "op" role, as nobody when asNobody, and returns its stdout.
func runOp(t *testing.T, asNobody bool, args ...string) string {
	t.Helper()
	return ipctest.Output(t, asNobody, "op", args...)
}
