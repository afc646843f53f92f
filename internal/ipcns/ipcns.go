// Package ipcns enters other IPC namespaces (a container's) to list, use
// or remove the objects there, as "nsenter -t PID -i" does for a whole
// command.
//
// A namespace is opened from a process id (its /proc/PID/ns/ipc) or from a
// path (a bind-mounted namespace file, or /proc/PID/ns/ipc itself), and the
// file is checked to be an IPC namespace with the NS_GET_NSTYPE ioctl.
//
// setns(CLONE_NEWIPC) moves only the calling thread, and a Go program runs
// its goroutines on many threads, so work in another namespace must be done
// by one goroutine locked to one thread:
//
//   - Do runs a function on a fresh thread that entered the namespace. Every
//     System V call the function makes, and every /proc/sysvipc file it
//     opens (the kernel picks the namespace of the thread that opens the
//     file), sees that namespace. Goroutines the function starts run on
//     other threads and do not. The thread is never handed back to the
//     runtime: the goroutine exits locked, and the runtime ends the thread.
//     (The runtime also never clones new threads from a locked thread, so
//     the namespace cannot leak into the rest of the process.)
//   - Exec replaces the whole process with a program started from such a
//     thread: execve keeps the calling thread's namespaces, so every thread
//     of the new program is inside. It is for work that cannot be kept on
//     one goroutine (a command with timers, signals and helper goroutines).
//
// Entering needs CAP_SYS_ADMIN (in the user namespace that owns the target),
// and opening another user's /proc/PID/ns/ipc needs ptrace access to it.
package ipcns

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	// Nothing of it is used here: importing it gives an unsupported system
	// internal/sys's one clear build error instead of a list of undefined
	// names from this file.
	_ "github.com/ipctoolkit/ipc/internal/sys"
)

// nsGetNstype is NS_GET_NSTYPE, _IO(0xb7, 0x3) (linux/nsfs.h, Linux 4.11):
// it returns the CLONE_NEW* flag of the namespace a nsfs file refers to.
// x/sys/unix does not define it.
const nsGetNstype = 0xb703

// ErrNotNamespace is matched (errors.Is) by the error of Open when the file
// exists but is not an IPC namespace file.
var ErrNotNamespace = errors.New("not an IPC namespace file")

// Namespace is an open IPC namespace file. Its methods may be called from
// several goroutines; Close must come after every Do has returned.
type Namespace struct {
	f *os.File
	// Path is the file it was opened from (/proc/PID/ns/ipc for a pid).
	Path string
	// PID is the process it was opened through, 0 for a path.
	PID int
	// Inode identifies the namespace: it is the number in
	// "ipc:[4026531839]" that /proc/PID/ns/ipc links to.
	Inode uint64
}

// Error is what Open, Do and Exec return: which namespace, what failed, and
// the cause, which errors.Is matches against fs.ErrNotExist (no such
// process or file), fs.ErrPermission (no CAP_SYS_ADMIN, or no ptrace
// access) and ErrNotNamespace.
type Error struct {
	Op   string // "open", "enter"
	Spec string // the pid or path as given
	Err  error
	Hint string // what to do about it, if anything
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s IPC namespace %s: %v", e.Op, e.Spec, e.Err)
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// noProcess is the cause when a pid names no process: ESRCH's words, and a
// match for fs.ErrNotExist.
type noProcess struct{}

func (noProcess) Error() string        { return "no such process" }
func (noProcess) Is(target error) bool { return target == fs.ErrNotExist }

// Open opens the IPC namespace that spec names: a decimal process id means
// that process's namespace (/proc/PID/ns/ipc), anything else is a path.
func Open(spec string) (*Namespace, error) {
	if pid, err := strconv.Atoi(spec); err == nil {
		return OpenPID(pid)
	}
	return OpenPath(spec)
}

// OpenPID opens the IPC namespace of process pid.
func OpenPID(pid int) (*Namespace, error) {
	spec := "of pid " + strconv.Itoa(pid)
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); pid <= 0 || err != nil {
		return nil, &Error{Op: "open", Spec: spec, Err: noProcess{}}
	}
	ns, err := open("/proc/"+strconv.Itoa(pid)+"/ns/ipc", spec)
	if ns != nil {
		ns.PID = pid
	}
	return ns, err
}

// OpenPath opens the IPC namespace file at path.
func OpenPath(path string) (*Namespace, error) { return open(path, path) }

func open(path, spec string) (*Namespace, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is in the message already
		}
		e := &Error{Op: "open", Spec: spec, Err: err}
		if errors.Is(err, fs.ErrPermission) {
			e.Hint = "needs CAP_SYS_ADMIN, or ptrace access to the process"
		}
		return nil, e
	}
	typ, err := unix.IoctlRetInt(int(f.Fd()), nsGetNstype)
	if err != nil || typ != unix.CLONE_NEWIPC {
		f.Close()
		why := ErrNotNamespace
		if err == nil {
			return nil, &Error{Op: "open", Spec: spec, Err: fmt.Errorf("%w: it is a %s namespace", why, nsKind(typ))}
		}
		return nil, &Error{Op: "open", Spec: spec, Err: why}
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, &Error{Op: "open", Spec: spec, Err: err}
	}
	return &Namespace{f: f, Path: path, Inode: st.Ino}, nil
}

func nsKind(flag int) string {
	switch flag {
	case unix.CLONE_NEWNS:
		return "mount"
	case unix.CLONE_NEWUTS:
		return "uts"
	case unix.CLONE_NEWPID:
		return "pid"
	case unix.CLONE_NEWNET:
		return "network"
	case unix.CLONE_NEWUSER:
		return "user"
	case unix.CLONE_NEWCGROUP:
		return "cgroup"
	case unix.CLONE_NEWTIME:
		return "time"
	}
	return "different"
}

// Close closes the namespace file.
func (n *Namespace) Close() error { return n.f.Close() }

// Current returns the inode of the calling thread's IPC namespace.
func Current() (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/ipc", &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// Do runs fn on a new OS thread that has entered the namespace, and returns
// its error. See the package documentation for what fn may and may not do:
// everything it does must happen on its own goroutine.
func (n *Namespace) Do(fn func() error) error {
	done := make(chan error, 1)
	go n.run(fn, done)
	return <-done
}

func (n *Namespace) run(fn func() error, done chan<- error) {
	// Locked and never unlocked: when this goroutine ends, the runtime ends
	// the thread instead of reusing it in the wrong namespace.
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		// The main thread is never ended but parked for good, and
		// /proc/PID/ns/ipc shows its namespace as the whole process's. Hand
		// the work to another goroutine: with this thread locked here it
		// cannot run there. This one has changed nothing, so its thread may
		// go back to the runtime.
		inner := make(chan error, 1)
		go n.run(fn, inner)
		err := <-inner
		runtime.UnlockOSThread()
		done <- err
		return
	}
	if err := n.enter(); err != nil {
		done <- err
		return
	}
	done <- fn()
}

// Exec replaces the process with argv (execve of path, with env) started
// from a thread inside the namespace, so that all of the new program runs
// there. It returns only on failure. The namespace file's descriptor is
// closed on exec.
func (n *Namespace) Exec(path string, argv, env []string) error {
	return n.Do(func() error {
		err := syscall.Exec(path, argv, env)
		return &Error{Op: "enter", Spec: n.spec(), Err: fmt.Errorf("exec %s: %w", path, err)}
	})
}

func (n *Namespace) enter() error {
	if err := unix.Setns(int(n.f.Fd()), unix.CLONE_NEWIPC); err != nil {
		e := &Error{Op: "enter", Spec: n.spec(), Err: err}
		if errors.Is(err, unix.EPERM) {
			e.Hint = "needs CAP_SYS_ADMIN"
		}
		return e
	}
	return nil
}

func (n *Namespace) spec() string {
	if n.PID != 0 {
		return "of pid " + strconv.Itoa(n.PID)
	}
	return n.Path
}
