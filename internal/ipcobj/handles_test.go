package ipcobj_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/msgq"
	"github.com/ipctoolkit/ipc/pipe"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/ipctoolkit/ipc/shm"
)

// TestInvalidHandles calls every method of every handle type, on its zero
// value and on a nil pointer, with zero arguments: none may panic or reach
// an object (id 0 is a valid id), and every method that returns an error
// returns the same one, matching ipc.ErrInvalidHandle (os.ErrInvalid for
// pipe.Handoff, which speaks as package os does), worded
// "<pkg>: <op> <kind>: invalid handle: not made by a constructor".
func TestInvalidHandles(t *testing.T) {
	// Objects with id 0 exist, so that acting on id 0 would succeed: the
	// next id of each family is set to 0 where the kernel lets us (a private
	// namespace, CONFIG_CHECKPOINT_RESTORE).
	for _, f := range []string{"sem_next_id", "msg_next_id", "shm_next_id"} {
		if ipctest.PrivateNamespace() {
			os.WriteFile("/proc/sys/kernel/"+f, []byte("0"), 0)
		}
	}
	set, err := sem.Create(ipc.Private, 1, 0o600)
	mustNil(t, err)
	t.Cleanup(func() { set.Remove() })
	q, err := msgq.Create(ipc.Private, 0o600)
	mustNil(t, err)
	t.Cleanup(func() { q.Remove() })
	seg, err := shm.Create(ipc.Private, 4096, 0o600)
	mustNil(t, err)
	t.Cleanup(func() { seg.Remove() })
	t.Logf("ids: set %d, queue %d, segment %d", set.ID(), q.ID(), seg.ID())

	for _, h := range []any{
		&sem.Set{}, (*sem.Set)(nil), &sem.Mutex{}, (*sem.Mutex)(nil), &sem.Semaphore{}, (*sem.Semaphore)(nil),
		&msgq.Queue{}, (*msgq.Queue)(nil),
		&shm.Segment{}, (*shm.Segment)(nil), &shm.Mapping{}, (*shm.Mapping)(nil),
		&pipe.Handoff{}, (*pipe.Handoff)(nil),
	} {
		v := reflect.ValueOf(h)
		for i := range v.NumMethod() {
			name := fmt.Sprintf("%T.%s", h, v.Type().Method(i).Name)
			if reflect.ValueOf(h).IsNil() {
				name = "nil " + name
			}
			var out []reflect.Value
			var panicked any
			done := make(chan struct{})
			go func() { out, panicked = call(v.Method(i)); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				// It waits on a real object (removing them at the end
				// wakes it).
				t.Errorf("%s blocks: it acts on an object", name)
				continue
			}
			if panicked != nil {
				t.Errorf("%s panics: %v", name, panicked)
				continue
			}
			for _, r := range out {
				err, ok := r.Interface().(error)
				if !ok || r.Type() != reflect.TypeFor[error]() {
					continue
				}
				want := ipc.ErrInvalidHandle
				if _, isPipe := h.(*pipe.Handoff); isPipe {
					want = os.ErrInvalid
				}
				switch {
				case !errors.Is(err, want):
					t.Errorf("%s = %v, want an error matching %v", name, err, want)
				case want == ipc.ErrInvalidHandle && !strings.HasSuffix(err.Error(), ": invalid handle: not made by a constructor"):
					t.Errorf("%s: text %q", name, err)
				case !errors.Is(err, os.ErrInvalid):
					t.Errorf("%s = %v, which does not match os.ErrInvalid", name, err)
				}
			}
		}
	}
	// The objects with id 0 (or any id) are untouched.
	if info, err := set.Stat(); err != nil || !info.OTime.IsZero() {
		t.Errorf("set: %+v, %v", info, err)
	}
	if info, err := q.Stat(); err != nil || info.QNum != 0 {
		t.Errorf("queue: %+v, %v", info, err)
	}
	if info, err := seg.Stat(); err != nil || info.NAttch != 0 {
		t.Errorf("segment: %+v, %v", info, err)
	}
}

// call calls m with a zero value for each argument (a live context and a
// small buffer where those are wanted), and reports a panic.
func call(m reflect.Value) (out []reflect.Value, panicked any) {
	defer func() { panicked = recover() }()
	mt := m.Type()
	n := mt.NumIn()
	if mt.IsVariadic() {
		n-- // no variadic arguments
	}
	args := make([]reflect.Value, n)
	for i := range n {
		switch in := mt.In(i); {
		case in == reflect.TypeFor[context.Context]():
			args[i] = reflect.ValueOf(context.Background())
		case in == reflect.TypeFor[[]byte]():
			args[i] = reflect.ValueOf(make([]byte, 8))
		default:
			args[i] = reflect.Zero(in)
		}
	}
	return m.Call(args), nil
}
