package pipe

import (
	"io"
	"os"
	"runtime"

	"github.com/ipctoolkit/ipc/internal/rawwait"
	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// Handoff reads and writes a blocking pipe or socket for request/reply
// exchanges with another process, where each read waits only microseconds
// for the other side. Through an *os.File such a read pays for the
// scheduler's system call bookkeeping, which for a wait this short costs
// more than the wait: measured with the two processes on two CPUs, a pipe
// round trip took 1.5 times as long as in C. Handoff makes each call the
// raw way first and falls back to the plain one when the waits turn out
// long (package internal/rawwait has the rule), which brings that to about
// 1.05.
//
// A Handoff is for one reader and one writer at a time. It does not own
// the file: close the file only when no Read or Write is in progress, and
// do not use the Handoff after. A Handoff not made by NewHandoff (the zero
// Handoff, a nil *Handoff) refuses every call with an error matching
// os.ErrInvalid.
type Handoff struct {
	f      *os.File
	fd     int
	reads  rawwait.Hint
	writes rawwait.Hint
}

// NewHandoff wraps f, which must be a blocking descriptor (a Pipe or
// Socketpair end made without NonBlocking): a non-blocking one would make
// every read that waits fail with EAGAIN.
func NewHandoff(f *os.File) (*Handoff, error) {
	h := &Handoff{f: f, fd: -1}
	var flags int
	var ferr error
	err := control(f, func(fd int) {
		h.fd = fd
		flags, ferr = unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	})
	switch {
	case err != nil:
		return nil, fileErr("fcntl", f, err, "")
	case ferr != nil:
		return nil, fileErr("fcntl", f, ferr, "")
	case flags&unix.O_NONBLOCK != 0:
		return nil, fileErr("fcntl", f, unix.EINVAL, "a Handoff needs a blocking descriptor: make it without NonBlocking")
	}
	return h, nil
}

// Read reads up to len(p) bytes, waiting until at least one is there; at
// end of file it returns io.EOF.
func (h *Handoff) Read(p []byte) (int, error) {
	if h == nil || h.f == nil {
		return 0, fileErr("read", nil, os.ErrInvalid, "not made by NewHandoff")
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var e unix.Errno
	if h.reads.UsePlain() {
		n, e = h.plainRead(p)
	} else if n, e = sys.Read(h.fd, p, true); e != unix.EINTR {
		h.reads.RawDone()
	} else {
		h.reads.RawInterrupted()
		runtime.Gosched()
		n, e = h.plainRead(p)
	}
	runtime.KeepAlive(h.f)
	switch {
	case e != 0:
		return 0, fileErr("read", h.f, e, "")
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (h *Handoff) plainRead(p []byte) (int, unix.Errno) {
	for {
		if n, e := sys.Read(h.fd, p, false); e != unix.EINTR {
			return n, e
		}
	}
}

// Write writes all of p, waiting for room as often as it must.
func (h *Handoff) Write(p []byte) (int, error) {
	if h == nil || h.f == nil {
		return 0, fileErr("write", nil, os.ErrInvalid, "not made by NewHandoff")
	}
	done := 0
	for done < len(p) {
		var n int
		var e unix.Errno
		if h.writes.UsePlain() {
			n, e = sys.Write(h.fd, p[done:], false)
		} else if n, e = sys.Write(h.fd, p[done:], true); e != unix.EINTR {
			h.writes.RawDone()
		} else {
			h.writes.RawInterrupted()
			runtime.Gosched()
			continue
		}
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			runtime.KeepAlive(h.f)
			return done, fileErr("write", h.f, e, "")
		}
		done += n
	}
	runtime.KeepAlive(h.f)
	return done, nil
}
