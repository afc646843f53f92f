package shm

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/sem"
)

// transfer moves one unit between the two balances of the record at the
// start of m, n times, under lock, and counts the transfers.
func transfer(m *Mapping, lock *sem.Mutex, from, n int) error {
	rec := m.Bytes()
	field := func(i int) []byte { return rec[8*i : 8*i+8] }
	for range n {
		if err := lock.Lock(); err != nil {
			return err
		}
		if src := binary.NativeEndian.Uint64(field(from)); src > 0 {
			binary.NativeEndian.PutUint64(field(from), src-1)
			binary.NativeEndian.PutUint64(field(1-from), binary.NativeEndian.Uint64(field(1-from))+1)
			binary.NativeEndian.PutUint64(field(2), binary.NativeEndian.Uint64(field(2))+1)
		}
		if err := lock.Unlock(); err != nil {
			return err
		}
	}
	return nil
}

func init() {
	// "transfer" runs transfer in a child: args segment id, set id, from, n.
	ipctest.Register("transfer", func(args []string) int {
		m, err := (&Segment{id: arg(args, 0), made: true}).Attach(0)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		defer m.Detach()
		set, err := sem.FromID(arg(args, 1))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		if err := transfer(m, sem.NewMutex(set, 0), arg(args, 2), arg(args, 3)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		return 0
	})
}

// Three processes update one record under a semaphore mutex; the invariant
// holds and no update is lost.
func TestMutexGuardedRecordAcrossProcesses(t *testing.T) {
	s := newSegment(t, 4096, 0o600)
	m := attach(t, s, 0)
	mu, err := sem.CreateMutex(ipc.Private, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mu.Set().Remove() })
	binary.NativeEndian.PutUint64(m.Bytes()[0:], 1<<40)
	binary.NativeEndian.PutUint64(m.Bytes()[8:], 1<<40)
	const n = 3000
	var cmds []interface{ Wait() error }
	for from := range 2 {
		cmd := child(t, "transfer", strconv.Itoa(s.ID()), strconv.Itoa(mu.Set().ID()), strconv.Itoa(from), strconv.Itoa(n))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	if err := transfer(m, mu, 0, n); err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	a, b := binary.NativeEndian.Uint64(m.Bytes()[0:]), binary.NativeEndian.Uint64(m.Bytes()[8:])
	if a+b != 2<<40 || binary.NativeEndian.Uint64(m.Bytes()[16:]) != 3*n {
		t.Errorf("balances %d + %d, %d transfers; want sum %d and %d", a, b, binary.NativeEndian.Uint64(m.Bytes()[16:]), 2<<40, 3*n)
	}
}
