package msgq

import (
	"github.com/ipctoolkit/ipc/internal/ipcobj"
	"github.com/ipctoolkit/ipc/ipc"
	"golang.org/x/sys/unix"
)

const pkg = "msgq"

func (q *Queue) err(op, call string, e error, detail string) error {
	if errno, ok := e.(unix.Errno); ok && call != "" {
		e = ipcobj.Msg.Cause(q.id, errno)
	}
	return &ipc.Error{Pkg: pkg, Op: op, Kind: ipc.Queue, ID: q.ID(), Call: call, Err: e, Detail: detail}
}

// check refuses a handle no constructor made.
func (q *Queue) check(op string) error {
	if q == nil || !q.made {
		return &ipc.Error{Pkg: pkg, Op: op, Kind: ipc.Queue, ID: -1, Err: ipc.ErrInvalidHandle}
	}
	return nil
}

// noQueueDetail says what EINVAL and EIDRM mean for a call on an id, where
// the errno alone reads as "bad argument".
func noQueueDetail(e unix.Errno) string {
	switch e {
	case unix.EINVAL:
		return "no queue with this id"
	case unix.EIDRM:
		return "the queue was removed"
	}
	return ""
}
