package sem_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/sem"
	"golang.org/x/sys/unix"
)

// TestOpRanges: a semaphore number or delta that does not fit struct sembuf
// is an error, never an operation on another semaphore or of another size
// (issue 9, defect 1: Inc(65536, 1) used to add to semaphore 0, and a
// decrement of -32768 became one of 32768).
func TestOpRanges(t *testing.T) {
	s := newSet(t, 2)
	if err := s.SetValues([]uint16{5, 5}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		op   sem.Op
		want unix.Errno
	}{
		{"Inc 65536", sem.Inc(65536, 1, 0), unix.EFBIG},
		{"Inc 1<<32", sem.Inc(1<<32, 1, 0), unix.EFBIG},
		{"Inc -1", sem.Inc(-1, 1, 0), unix.EFBIG},
		{"Dec 65537", sem.Dec(65537, 1, 0), unix.EFBIG},
		{"WaitZero 65536", sem.WaitZero(65536, sem.NoWait), unix.EFBIG},
		{"Dec -32768", sem.Dec(0, -32768, 0), unix.ERANGE},
		{"Dec 32768", sem.Dec(0, 32768, 0), unix.ERANGE},
		{"Dec 65541", sem.Dec(0, 65541, 0), unix.ERANGE}, // 65541 as int16 is 5
		{"Inc 32768", sem.Inc(0, 32768, 0), unix.ERANGE},
		{"Inc -1 delta", sem.Inc(0, -1, 0), unix.ERANGE},
		{"Inc 0 delta", sem.Inc(0, 0, 0), unix.ERANGE},
		{"Dec 0 delta", sem.Dec(1, 0, 0), unix.ERANGE},
		{"unknown flag", sem.Inc(0, 1, sem.Flags(0x0100)), unix.EINVAL},
	} {
		// With a valid operation beside it, so that nothing at all may
		// happen.
		err := s.Do(sem.Inc(1, 1, 0), c.op)
		wantErrno(t, err, c.want)
		if err := s.DoTimeout(time.Second, c.op); !isErrno(err, c.want) {
			t.Errorf("%s: DoTimeout: %v", c.name, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := s.DoContext(ctx, c.op); !isErrno(err, c.want) {
			t.Errorf("%s: DoContext: %v", c.name, err)
		}
		cancel()
		if vals, err := s.Values(); err != nil || !slices.Equal(vals, []uint16{5, 5}) {
			t.Fatalf("%s: values %v, %v after a refused operation; want [5 5]", c.name, vals, err)
		}
	}
	// The helpers built on Op check the same way.
	wantErrno(t, sem.NewMutex(s, 65536).Lock(), unix.EFBIG)
	wantErrno(t, sem.NewMutex(s, -1).Unlock(), unix.EFBIG)
	wantErrno(t, sem.NewSemaphore(s, 0, 0).Acquire(40000), unix.ERANGE)
	wantErrno(t, sem.NewSemaphore(s, 0, 0).Release(-1), unix.ERANGE)
	wantErrno(t, sem.NewSemaphore(s, 65536, 0).Release(1), unix.EFBIG)
	if vals, _ := s.Values(); !slices.Equal(vals, []uint16{5, 5}) {
		t.Fatalf("values %v after refused helper calls; want [5 5]", vals)
	}
	// The largest valid ones work.
	if err := s.Do(sem.Inc(1, 32767-5, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Do(sem.Dec(1, 32767, 0)); err != nil {
		t.Fatal(err)
	}
}

func isErrno(err error, want unix.Errno) bool { return errors.Is(err, want) }
