package ipc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestErrorText(t *testing.T) {
	for _, c := range []struct {
		err  *Error
		want string
	}{
		{&Error{Pkg: "msgq", Op: "send to", Kind: Queue, ID: 32769, Call: "msgsnd", Err: unix.E2BIG, Detail: "8193 > msgmax 8192"},
			"msgq: send to queue 32769: too big (8193 > msgmax 8192)"},
		{&Error{Pkg: "sem", Op: "open", Kind: Semaphore, ID: -1, Key: 0x1b2c, Call: "semget", Err: unix.ENOENT},
			"sem: open semaphore set with key 0x00001b2c: does not exist"},
		{&Error{Pkg: "shm", Op: "create", Kind: Segment, ID: -1, Key: Private, Call: "shmget", Err: unix.ENOSPC},
			"shm: create segment (private): system limit reached"},
		{&Error{Pkg: "ipc", Op: "remove", Kind: Queue, ID: 0, Call: "msgctl(IPC_RMID)", Err: unix.EPERM},
			"ipc: remove queue 0: operation not permitted"},
		{&Error{Pkg: "ipc", Op: "list", Kind: Segment, ID: AllObjects, Err: unix.EACCES},
			"ipc: list segments: permission denied"},
		{&Error{Pkg: "sem", Op: "wait on", Kind: Semaphore, ID: 5, Err: ErrTimeout},
			"sem: wait on semaphore set 5: timed out"},
		{&Error{Pkg: "msgq", Op: "receive from", Kind: Queue, ID: 7, Err: context.Canceled},
			"msgq: receive from queue 7: context canceled"},
		{&Error{Pkg: "ipc", Op: "x", Kind: Kind(0), ID: 1, Err: nil},
			"ipc: x object 1: unknown error"},
	} {
		if got := c.err.Error(); got != c.want {
			t.Errorf("got  %q\nwant %q", got, c.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	for err, want := range map[error]string{
		unix.ENOENT:              "does not exist",
		unix.EEXIST:              "already exists",
		unix.EACCES:              "permission denied",
		unix.EPERM:               "operation not permitted",
		unix.EIDRM:               "removed",
		unix.EAGAIN:              "would block",
		unix.ENOMSG:              "no message of the requested type",
		unix.E2BIG:               "too big",
		unix.ERANGE:              "value out of range",
		unix.EFBIG:               "semaphore number out of range",
		unix.ENOSPC:              "system limit reached",
		unix.EINVAL:              "invalid argument or no such id",
		unix.EFAULT:              unix.EFAULT.Error(),
		ErrTimeout:               "timed out",
		errors.New("other text"): "other text",
	} {
		if got := Describe(err); got != want {
			t.Errorf("Describe(%v) = %q, want %q", err, got, want)
		}
	}
	if got := Describe(nil); got != "unknown error" {
		t.Errorf("Describe(nil) = %q", got)
	}
}

func TestErrorIs(t *testing.T) {
	mk := func(err error) error {
		return fmt.Errorf("wrapped: %w", &Error{Pkg: "ipc", Op: "test", Kind: Queue, ID: 1, Err: err})
	}
	for _, c := range []struct {
		cause  error
		target error
		want   bool
	}{
		{unix.EEXIST, fs.ErrExist, true},
		{unix.ENOENT, fs.ErrNotExist, true},
		{unix.EACCES, fs.ErrPermission, true},
		{unix.EPERM, fs.ErrPermission, true},
		{unix.EINVAL, fs.ErrNotExist, false},
		{unix.EIDRM, ErrRemoved, true},
		{unix.EIDRM, fs.ErrNotExist, false},
		{unix.EAGAIN, ErrWouldBlock, true},
		{unix.ENOMSG, ErrWouldBlock, true},
		{unix.ENOMSG, ErrNoMessage, true},
		{unix.EAGAIN, ErrNoMessage, false},
		{unix.E2BIG, ErrTooBig, true},
		{unix.E2BIG, ErrWouldBlock, false},
		{ErrTimeout, ErrTimeout, true},
		{ErrTimeout, os.ErrDeadlineExceeded, true},
		{ErrTimeout, ErrWouldBlock, false},
		{unix.EAGAIN, os.ErrDeadlineExceeded, false},
		{context.Canceled, context.Canceled, true},
		{context.DeadlineExceeded, context.DeadlineExceeded, true},
		{unix.EEXIST, unix.EEXIST, true},
		{unix.EEXIST, unix.ENOENT, false},
	} {
		if got := errors.Is(mk(c.cause), c.target); got != c.want {
			t.Errorf("errors.Is(Error{Err: %v}, %v) = %v, want %v", c.cause, c.target, got, c.want)
		}
	}

	var errno unix.Errno
	if !errors.As(mk(unix.EIDRM), &errno) || errno != unix.EIDRM {
		t.Errorf("errors.As to unix.Errno = %v", errno)
	}
	var e *Error
	if !errors.As(mk(unix.EIDRM), &e) || e.ID != 1 || e.Kind != Queue {
		t.Errorf("errors.As to *Error = %+v", e)
	}
	if !(&Error{Err: ErrTimeout}).Timeout() || (&Error{Err: unix.EAGAIN}).Timeout() {
		t.Error("Timeout() wrong")
	}
	if !errors.Is(ErrTimeout, os.ErrDeadlineExceeded) {
		t.Error("ErrTimeout does not match os.ErrDeadlineExceeded")
	}
	// The sentinels are distinct and say what they are.
	for _, s := range []error{ErrRemoved, ErrWouldBlock, ErrNoMessage, ErrTooBig, ErrTimeout} {
		if s.Error() == "" {
			t.Errorf("sentinel %#v has no text", s)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Semaphore: "semaphore set", Queue: "queue", Segment: "segment", 0: "object", 42: "object"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}
