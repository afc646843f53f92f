package prefork

import "github.com/ipctoolkit/ipc/ipc"

// Error is the error the server returns about itself as a whole (its
// configuration, listener or state file, or a worker's broadcast), as
// opposed to the *ipc.Error of one of its IPC objects. Its text reads
// "prefork: configure server: Workers must be at least 1".
type Error struct {
	Op     string // the operation, in words: "configure", "start"
	Err    error  // the cause
	Detail string // what Err alone does not say, or ""
}

// Error formats the error on one line.
func (e *Error) Error() string {
	s := "prefork: " + e.Op + " server: " + ipc.Describe(e.Err)
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }
