package proc

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Self is the file a child executes: the parent's own program as the kernel
// holds it open, which stays the same binary after a deploy has replaced (or
// deleted) the file at its old path. os.Executable would name the new one.
const Self = "/proc/self/exe"

// Cmd is a child to be started by executing this binary again to run a
// registered role. Set its fields before Start; after Start, use it from any
// goroutine.
type Cmd struct {
	// Role is the registered function the child runs, and Args its
	// arguments (the child's os.Args[1:]).
	Role string
	Args []string

	// Stdin is the child's standard input; nil reads from /dev/null.
	Stdin io.Reader
	// Stdout and Stderr are the child's standard output and error. Nil
	// means this process's own os.Stdout and os.Stderr (as they are when
	// Start is called), so a child's lines reach the terminal like its
	// parent's; use io.Discard to drop them. An *os.File is passed to the
	// child as it is; any other writer is fed through a pipe, and Wait then
	// also waits until the child and everything it passed that pipe to have
	// closed it.
	Stdout, Stderr io.Writer

	// ExtraFiles are passed to the child as descriptors 3, 4, ... (entry i
	// is descriptor 3+i); the child gets them with InheritedFile(i, name).
	// The caller may close its copies once Start has returned.
	ExtraFiles []*os.File

	// Env is added to this process's environment for the child; a variable
	// set here overrides the inherited one.
	Env []string

	// Dir is the child's working directory; "" keeps this process's.
	Dir string

	// Pdeathsig is the signal the child gets when this process dies; 0
	// means SIGKILL, so that no child outlives a parent killed with -9. Make
	// it SIGTERM for a child that must clean up (and have its role use
	// WatchParent as well, for the moment before signal.Notify). The kernel
	// sends it when the thread that started the child ends, not the process
	// (golang/go#27505); this package starts every child from one thread
	// that lives as long as the process, so here it does mean the process.
	// It is not passed on to the child's own children, and a set-user-ID
	// binary clears it.
	Pdeathsig syscall.Signal
	// NoPdeathsig lets the child outlive this process (Pdeathsig is then
	// ignored), and run its role even if this process is gone by the time
	// the child starts.
	NoPdeathsig bool

	// SysProcAttr holds other attributes of the new process (Setpgid,
	// Setsid, Credential, Cloneflags, ...). Start copies it and sets the
	// copy's Pdeathsig and PidFD itself. Note that the child is started from
	// the package's own thread: per-thread state of the goroutine calling
	// Start (a locked thread's namespaces or credentials) does not carry
	// over. A child given another Credential must be able to execute this
	// binary, and to reach the directory it sits in.
	SysProcAttr *syscall.SysProcAttr

	cmd     *exec.Cmd
	pid     int
	started atomic.Bool

	// pidfd is this package's own handle on the child (os.Process holds a
	// duplicate), used by WaitEvent; -1 where the kernel has none, and
	// after Wait closed it. fdMu keeps it from being closed, and its number
	// reused, while a WaitEvent is using it.
	fdMu   sync.RWMutex
	pidfd  int
	reaped bool

	eventMu sync.Mutex

	waitOnce    sync.Once
	waitStarted atomic.Bool
	waitDone    chan struct{}
	status      Status
	waitErr     error
}

// Command returns a Cmd that runs the role registered as role with args.
func Command(role string, args ...string) *Cmd {
	return &Cmd{Role: role, Args: args}
}

// Causes of the errors a Cmd's methods return, each wrapped in an *Error
// (errors.Is finds them).
var (
	ErrUnknownRole     = errors.New("no such role is registered")
	ErrNoDispatch      = errors.New("proc.Dispatch was not called first in main, so the child would run main again")
	ErrStarted         = errors.New("already started")
	ErrNotStarted      = errors.New("not started")
	ErrReapedElsewhere = errors.New("reaped by someone else (a wait4(-1) reaper?)")
)

// Error is the error every operation on a child returns: what was being
// done, to which child, and why it failed. Its text reads
// `proc: wait for child 1234 ("worker"): waitid: no child processes`.
type Error struct {
	Op   string // "start", "wait for", "signal", "wait for an event of"
	Role string // the child's role
	Pid  int    // the child's pid, 0 if it never started
	Err  error  // the cause
}

// Error formats the error on one line.
func (e *Error) Error() string {
	s := "proc: " + e.Op + " child "
	if e.Pid > 0 {
		s += strconv.Itoa(e.Pid) + " (" + strconv.Quote(e.Role) + ")"
	} else {
		s += strconv.Quote(e.Role)
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause, so errors.Is sees the errno and the sentinels.
func (e *Error) Unwrap() error { return e.Err }

// because is an outcome and the error it was recognised by, on one line:
// "reaped by someone else (...): waitid: no child processes". errors.Is
// sees both.
type because struct{ what, cause error }

func (b because) Error() string   { return b.what.Error() + ": " + b.cause.Error() }
func (b because) Unwrap() []error { return []error{b.what, b.cause} }

func (c *Cmd) err(op string, err error) error {
	return &Error{Op: op, Role: c.Role, Pid: c.pid, Err: err}
}

// Start starts the child and returns without waiting for it. Every started
// child must be waited for with Wait (or be started by a Group, which does
// it), or it stays a zombie until this process ends.
func (c *Cmd) Start() error {
	if !dispatched.Load() {
		return c.err("start", ErrNoDispatch)
	}
	if lookupRole(c.Role) == nil {
		return c.err("start", ErrUnknownRole)
	}
	if !c.started.CompareAndSwap(false, true) {
		return c.err("start", ErrStarted)
	}
	life, err := lifePipe()
	if err != nil {
		c.started.Store(false)
		return c.err("start", err)
	}

	argv0 := Self
	if len(os.Args) > 0 {
		argv0 = os.Args[0]
	}
	cmd := &exec.Cmd{
		Path:       Self,
		Args:       append([]string{argv0}, c.Args...),
		Dir:        c.Dir,
		Stdin:      c.Stdin,
		Stdout:     c.Stdout,
		Stderr:     c.Stderr,
		ExtraFiles: append(c.ExtraFiles[:len(c.ExtraFiles):len(c.ExtraFiles)], life),
	}
	if cmd.Stdout == nil && os.Stdout != nil {
		cmd.Stdout = os.Stdout
	}
	if cmd.Stderr == nil && os.Stderr != nil {
		cmd.Stderr = os.Stderr
	}
	env := os.Environ()
	env = append(env, c.Env...)
	cmd.Env = append(env, formatChildEnv(os.Getpid(), 3+len(c.ExtraFiles), c.NoPdeathsig, c.Role))

	attr := syscall.SysProcAttr{}
	if c.SysProcAttr != nil {
		attr = *c.SysProcAttr
	}
	attr.Pdeathsig = 0
	if !c.NoPdeathsig {
		attr.Pdeathsig = c.Pdeathsig
		if attr.Pdeathsig == 0 {
			attr.Pdeathsig = syscall.SIGKILL
		}
	}
	pidfd := -1
	attr.PidFD = &pidfd
	cmd.SysProcAttr = &attr

	onSpawner(func() { err = cmd.Start() })
	if err != nil {
		c.started.Store(false)
		return c.err("start", err)
	}
	c.cmd = cmd
	c.pid = cmd.Process.Pid
	c.pidfd = pidfd
	c.waitDone = make(chan struct{})
	return nil
}

// Pid is the child's process id, also after Wait; 0 before Start.
func (c *Cmd) Pid() int { return c.pid }

// Signal sends sig to the child. Once Wait has reaped it, Signal fails with
// os.ErrProcessDone, never reaching a process that reused the pid.
func (c *Cmd) Signal(sig os.Signal) error {
	if !c.started.Load() || c.cmd == nil {
		return c.err("signal", ErrNotStarted)
	}
	if err := c.cmd.Process.Signal(sig); err != nil {
		return c.err("signal", err)
	}
	return nil
}

// Wait waits for the child to end, reaps it, and returns how it ended. A
// child that exited non-zero or was killed is not an error: the Status says
// so. The error is for waiting itself failing (ECHILD when something else
// reaped the child, or a failed copy of its output). The child is reaped
// once; every call, concurrent or later, returns the same result.
func (c *Cmd) Wait() (Status, error) {
	if !c.started.Load() || c.cmd == nil {
		return Status{}, c.err("wait for", ErrNotStarted)
	}
	c.waitOnce.Do(func() {
		c.waitStarted.Store(true)
		c.status, c.waitErr = c.reap()
		close(c.waitDone)
	})
	return c.status, c.waitErr
}

func (c *Cmd) reap() (Status, error) {
	err := c.cmd.Wait()
	c.fdMu.Lock()
	if c.pidfd >= 0 {
		unix.Close(c.pidfd)
		c.pidfd = -1
	}
	c.reaped = true
	c.fdMu.Unlock()

	var st Status
	ps := c.cmd.ProcessState
	if ps != nil {
		st = Status{pid: ps.Pid(), ws: ps.Sys().(syscall.WaitStatus)}
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		err = nil // the status says it
	}
	if err != nil {
		if errors.Is(err, syscall.ECHILD) {
			err = because{ErrReapedElsewhere, err}
		}
		return st, c.err("wait for", err)
	}
	return st, nil
}

// Run starts the child and waits for it.
func (c *Cmd) Run() (Status, error) {
	if err := c.Start(); err != nil {
		return Status{}, err
	}
	return c.Wait()
}

// WaitEvent waits for the child's next change of state and returns it: a
// stop (SIGSTOP, SIGTSTP, ...), a continue (SIGCONT), or its end. Stops and
// continues are consumed, each reported once; the end is only looked at,
// never reaped, so Wait still returns it (and WaitEvent keeps returning it).
// A typical loop:
//
//	for {
//		ev, err := c.WaitEvent()
//		if err != nil || ev.Final() {
//			break
//		}
//		log.Printf("child %d %s", ev.Pid(), ev)
//	}
//	st, err := c.Wait()
//
// Concurrent calls are served one at a time; each event goes to one of them.
func (c *Cmd) WaitEvent() (Status, error) {
	if !c.started.Load() || c.cmd == nil {
		return Status{}, c.err("wait for an event of", ErrNotStarted)
	}
	c.eventMu.Lock()
	defer c.eventMu.Unlock()
	for {
		st, errno, done := c.peekEvent()
		if done {
			<-c.waitDone
			return c.status, c.waitErr
		}
		switch {
		case errno == unix.ECHILD:
			if c.waitStarted.Load() {
				// Wait reaped it between our look and its close of the pidfd.
				<-c.waitDone
				return c.status, c.waitErr
			}
			return Status{}, c.err("wait for an event of", because{ErrReapedElsewhere, os.NewSyscallError("waitid", errno)})
		case errno != 0:
			return Status{}, c.err("wait for an event of", os.NewSyscallError("waitid", errno))
		case st.Final():
			return st, nil
		}
		// A stop or continue: take it, so the next call sees the one after.
		// Without WEXITED this can never reap the child. It may find a newer
		// state than the one peeked (continued after the stop), or nothing
		// if the child just ended: then look again.
		if got, errno := c.waitid(unix.WSTOPPED | unix.WCONTINUED | unix.WNOHANG); errno == 0 && got.pid != 0 {
			return got, nil
		}
	}
}

// peekEvent looks at the child's current state change without consuming it;
// done means Wait has already reaped the child.
func (c *Cmd) peekEvent() (Status, unix.Errno, bool) {
	c.fdMu.RLock()
	defer c.fdMu.RUnlock()
	if c.reaped {
		return Status{}, 0, true
	}
	st, errno := c.waitidLocked(unix.WEXITED | unix.WSTOPPED | unix.WCONTINUED | unix.WNOWAIT)
	return st, errno, false
}

func (c *Cmd) waitid(options int) (Status, unix.Errno) {
	c.fdMu.RLock()
	defer c.fdMu.RUnlock()
	if c.reaped {
		return Status{}, unix.ECHILD
	}
	return c.waitidLocked(options)
}

// waitidLocked waits through the pidfd, which names this child and no other
// even after its pid is reused. Without one (kernels before 5.4, or a
// seccomp filter) it falls back to the pid, which has a window: if Wait
// reaps the child just before the call and a new child of this process gets
// the same pid, the call is about that one.
func (c *Cmd) waitidLocked(options int) (Status, unix.Errno) {
	idtype, id := unix.P_PIDFD, c.pidfd
	if id < 0 {
		idtype, id = unix.P_PID, c.pid
	}
	for {
		pid, ws, errno := waitid(idtype, id, options)
		if errno != unix.EINTR {
			return Status{pid: pid, ws: ws}, errno
		}
	}
}

// lifePipe is the pipe whose read end every child inherits and whose write
// end only this process holds (close-on-exec, never written), so that a
// child sees end of file when this process is gone. One serves every child.
var life struct {
	once sync.Once
	r, w *os.File
	err  error
}

func lifePipe() (*os.File, error) {
	life.once.Do(func() {
		life.r, life.w, life.err = os.Pipe()
	})
	return life.r, life.err
}

// The spawner is the goroutine every child is started from. It locks its
// thread and never returns, so the thread that the kernel records as each
// child's parent lives as long as the process, and Pdeathsig fires only when
// the process dies (golang/go#27505: any other thread may end, for instance
// when a goroutine exits while locked to it).
var spawner struct {
	once sync.Once
	reqs chan func()
}

func onSpawner(f func()) {
	spawner.once.Do(func() {
		spawner.reqs = make(chan func())
		go func() {
			runtime.LockOSThread()
			for f := range spawner.reqs {
				f()
			}
		}()
	})
	done := make(chan struct{})
	spawner.reqs <- func() {
		defer close(done)
		f()
	}
	<-done
}
