package ipc

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strconv"

	"github.com/ipctoolkit/ipc/internal/ipcobj"
	"golang.org/x/sys/unix"
)

// Kind is the family of a System V IPC object.
type Kind int

// The three families.
const (
	Semaphore Kind = iota + 1
	Queue
	Segment
)

// String names the kind as error messages do: "semaphore set", "queue",
// "segment".
func (k Kind) String() string {
	switch k {
	case Semaphore:
		return "semaphore set"
	case Queue:
		return "queue"
	case Segment:
		return "segment"
	}
	return "object"
}

// Sentinels for the outcomes callers branch on. Errors returned by this
// module match them with errors.Is; they also match the errno they came
// from (unix.EIDRM, ...) and, where one applies, fs.ErrExist,
// fs.ErrNotExist, fs.ErrPermission or os.ErrDeadlineExceeded.
var (
	// ErrRemoved: the object was removed, while the caller waited on it
	// (EIDRM), or before the call: its id names no object any more. The
	// kernel says EINVAL for the latter, which the error still matches, as
	// it matches fs.ErrNotExist; an id that never named an object cannot be
	// told from a removed one.
	ErrRemoved = errors.New("removed")
	// ErrWouldBlock: a call asked not to wait could not complete at once
	// (EAGAIN with IPC_NOWAIT, and ENOMSG).
	ErrWouldBlock = errors.New("would block")
	// ErrNoMessage: no message of the requested type is queued (ENOMSG).
	ErrNoMessage = errors.New("no message of the requested type")
	// ErrTooBig: a message does not fit the buffer or the queue's limits, or
	// a semop has more operations than SEMOPM (E2BIG).
	ErrTooBig = errors.New("too big")
	// ErrTimeout: the call's timeout or its context's deadline passed. It
	// matches os.ErrDeadlineExceeded and context.DeadlineExceeded.
	ErrTimeout error = timeoutError{}
	// ErrInvalidHandle: the handle was not made by one of its package's
	// constructors (Create, Open, OpenOrCreate, Get, FromID, Attach,
	// NewMutex, NewSemaphore): a zero value such as sem.Set{}, or a nil
	// pointer. Every method of every package refuses such a handle with
	// this error rather than act on whatever object has id 0. It also
	// matches os.ErrInvalid, what package os and package pipe return for a
	// nil or zero *os.File or pipe.Handoff.
	ErrInvalidHandle error = invalidHandle{}
)

type invalidHandle struct{}

func (invalidHandle) Error() string        { return "invalid handle: not made by a constructor" }
func (invalidHandle) Is(target error) bool { return target == os.ErrInvalid }

type timeoutError struct{}

func (timeoutError) Error() string { return "timed out" }
func (timeoutError) Timeout() bool { return true }
func (timeoutError) Is(target error) bool {
	return target == os.ErrDeadlineExceeded || target == context.DeadlineExceeded
}
func (timeoutError) Unwrap() error { return nil }

// AllObjects in Error.ID marks an operation on a whole family, such as
// listing every queue or reading the limits, rather than on one object.
const AllObjects = -2

// Error is the error every operation of this module returns: which package
// and operation failed, on which object, through which system call, and why.
// Its text reads "msgq: send to queue 32769: message too large (8193 > msgmax
// 8192)".
type Error struct {
	Pkg    string // reporting package: "sem", "msgq", "shm", "ipc"
	Op     string // the operation, in words: "open", "send to", "remove"
	Kind   Kind   // the family of the object
	ID     int    // the object's id, -1 when it was addressed by key, or AllObjects
	Key    Key    // the key, when ID is -1
	Call   string // the system call that failed ("msgsnd"), if one did
	Err    error  // the cause: a unix.Errno, ErrTimeout or a context error
	Detail string // what the errno alone does not say, or ""
}

// Error formats the error on one line.
func (e *Error) Error() string {
	s := e.Pkg + ": " + e.Op + " " + e.Kind.String()
	if e.ID == AllObjects {
		s += "s"
	} else if e.ID >= 0 {
		s += " " + strconv.Itoa(e.ID)
	} else if e.Err == ErrInvalidHandle {
		// A handle no constructor made names no object.
	} else if e.Key == Private {
		s += " (private)"
	} else {
		s += " with key " + e.Key.String()
	}
	s += ": " + Describe(e.Err)
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// Unwrap returns the cause, so errors.Is and errors.As see the errno.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the package's sentinels against the errno behind e.
func (e *Error) Is(target error) bool {
	var errno unix.Errno
	errors.As(e.Err, &errno)
	var gone ipcobj.Gone
	isGone := errors.As(e.Err, &gone)
	switch target {
	case fs.ErrNotExist:
		return isGone
	case ErrRemoved:
		return errno == unix.EIDRM || isGone
	case ErrWouldBlock:
		return errno == unix.EAGAIN || errno == unix.ENOMSG
	case ErrNoMessage:
		return errno == unix.ENOMSG
	case ErrTooBig:
		return errno == unix.E2BIG
	}
	return false
}

// Timeout reports whether the error is a timeout, as net.Error does.
func (e *Error) Timeout() bool { return errors.Is(e.Err, ErrTimeout) }

// Describe words an errno as it reads for System V IPC, where the C library's
// file-system wording ("no such file or directory") would mislead; other
// errors keep their own text.
func Describe(err error) string {
	if g, ok := err.(ipcobj.Gone); ok {
		return g.Error()
	}
	errno, ok := err.(unix.Errno)
	if !ok {
		if err == nil {
			return "unknown error"
		}
		return err.Error()
	}
	switch errno {
	case unix.ENOENT:
		return "does not exist"
	case unix.EEXIST:
		return "already exists"
	case unix.EACCES:
		return "permission denied"
	case unix.EPERM:
		return "operation not permitted"
	case unix.EIDRM:
		return "removed"
	case unix.EAGAIN:
		return "would block"
	case unix.ENOMSG:
		return "no message of the requested type"
	case unix.E2BIG:
		return "too big"
	case unix.ERANGE:
		return "value out of range"
	case unix.EFBIG:
		return "semaphore number out of range"
	case unix.ENOSPC:
		return "system limit reached"
	case unix.EINVAL:
		return "invalid argument or no such id"
	}
	return errno.Error()
}
