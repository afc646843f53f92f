package proc

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// childEnv is the marker Command puts in a child's environment:
// "<parent pid>:<life pipe fd>:<role>", the fd followed by "+" for a child
// started with NoPdeathsig, which is meant to outlive its parent. The role
// comes last so that it may contain anything, colons included.
const childEnv = "IPC_PROC_CHILD"

// Exit statuses of a child that never ran its role.
const (
	// ExitOrphaned: the process that started the child is no longer its
	// parent (it died before the child got going, or the marker was
	// inherited by a process Command did not start).
	ExitOrphaned = 125
	// ExitUnknownRole: the binary has no role of that name. Start checks the
	// name in the parent, so this happens only to a child started by hand.
	ExitUnknownRole = 127
)

var (
	rolesMu sync.Mutex
	roles   = map[string]func(args []string) int{}

	dispatched atomic.Bool

	// Set from the environment by init, before any main runs.
	isChild   bool
	role      string
	parentPID int
	lifeFD    = -1
	// outlives: started with NoPdeathsig, so a parent already gone is no
	// reason not to run (a janitor started just before its supervisor was
	// killed has its whole job to do).
	outlives bool

	inheritedMu sync.Mutex
	inherited   = map[int]*os.File{}
)

func init() { parseChildEnv(os.Getenv(childEnv)) }

func parseChildEnv(v string) bool {
	ppid, rest, ok1 := strings.Cut(v, ":")
	fd, r, ok2 := strings.Cut(rest, ":")
	fd, out := strings.CutSuffix(fd, "+")
	p, err1 := strconv.Atoi(ppid)
	f, err2 := strconv.Atoi(fd)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || p <= 0 || f < 3 {
		return false
	}
	isChild, role, parentPID, lifeFD, outlives = true, r, p, f, out
	return true
}

func formatChildEnv(ppid, fd int, outlives bool, role string) string {
	mark := ""
	if outlives {
		mark = "+"
	}
	return childEnv + "=" + strconv.Itoa(ppid) + ":" + strconv.Itoa(fd) + mark + ":" + role
}

// Register names a function that a child started with Command(role, ...)
// runs instead of main. Its result is the child's exit status; a panic ends
// the child with status 2 and the panic on its stderr, as in any Go program.
// Register from init, so that the parent and every child (the same binary)
// know the same roles before main runs; registering a name twice panics.
func Register(role string, main func(args []string) int) {
	if main == nil {
		panic("proc: Register " + strconv.Quote(role) + " with a nil function")
	}
	rolesMu.Lock()
	defer rolesMu.Unlock()
	if _, dup := roles[role]; dup {
		panic("proc: role " + strconv.Quote(role) + " registered twice")
	}
	roles[role] = main
}

func lookupRole(name string) func([]string) int {
	rolesMu.Lock()
	defer rolesMu.Unlock()
	return roles[name]
}

// Dispatch must be the first thing main does (and TestMain, in tests that
// start children). In a process that Command started, it checks that the
// process that started it is still its parent, by pid and by the life pipe
// (else it exits at once with ExitOrphaned; not a child started with
// NoPdeathsig, which may outlive its parent from the start), runs the role with the arguments given to Command, and
// exits with the role's result; it never returns there. Anywhere else it
// returns at once.
//
// Dispatch also removes the marker from the environment, so that programs
// the role runs do not take themselves for children; and Start refuses to
// run in a program that never called Dispatch, whose children would run its
// main again instead of their role.
func Dispatch() {
	dispatched.Store(true)
	if !isChild {
		return
	}
	os.Unsetenv(childEnv)
	if ppid := os.Getppid(); !outlives && ((ppid != parentPID && ppid != 0) || lifePipeHungUp()) {
		// getppid is 0 when the parent is outside this process's pid
		// namespace (Cloneflags CLONE_NEWPID); the life pipe still tells.
		fmt.Fprintf(os.Stderr, "proc: child %q: started by pid %d, whose child it no longer is (parent is now %d); exiting\n", role, parentPID, ppid)
		os.Exit(ExitOrphaned)
	}
	// The inherited descriptors must not leak into what the role starts:
	// they were passed to this process, and it passes them on explicitly
	// (ExtraFiles) if it wants to.
	for fd := 3; fd <= lifeFD; fd++ {
		unix.CloseOnExec(fd)
	}
	fn := lookupRole(role)
	if fn == nil {
		fmt.Fprintf(os.Stderr, "proc: this binary has no role %q\n", role)
		os.Exit(ExitUnknownRole)
	}
	os.Exit(fn(os.Args[1:]))
}

// lifePipeHungUp reports whether the parent's end of the life pipe is
// closed: the parent is gone (or exec'd another program).
func lifePipeHungUp() bool {
	fds := []unix.PollFd{{Fd: int32(lifeFD), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0 && fds[0].Revents&unix.POLLHUP != 0
}

// IsChild reports whether this process was started by Command.
func IsChild() bool { return isChild }

// Role is the role this process was started to run, or "" in a process that
// Command did not start.
func Role() string { return role }

// ParentPID is the pid of the process that started this one with Command, or
// 0 in a process that Command did not start. Unlike os.Getppid, it does not
// change when the parent dies and the child is reparented.
func ParentPID() int { return parentPID }

// InheritedFile returns the parent's Cmd.ExtraFiles[i] (descriptor 3+i in
// this process) as a file called name, or nil if the parent passed fewer
// files. Asking twice for the same i returns the same *os.File, so that two
// owners never close one descriptor. Like every inherited descriptor it is
// close-on-exec once Dispatch has run: pass it on to a child of this one
// through that child's ExtraFiles.
func InheritedFile(i int, name string) *os.File {
	if !isChild || i < 0 || 3+i >= lifeFD {
		return nil
	}
	inheritedMu.Lock()
	defer inheritedMu.Unlock()
	if f, ok := inherited[i]; ok {
		return f
	}
	fd := 3 + i
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		return nil // closed by the role before asking
	}
	f := os.NewFile(uintptr(fd), name)
	inherited[i] = f
	return f
}

// parentPollInterval bounds how late WatchParent notices a parent that died
// when the life pipe cannot tell: the role closed it, so that getppid is
// all that is left to look at (or no eventfd could be made, and then it
// also bounds how late the watch notices ctx).
const parentPollInterval = 200 * time.Millisecond

// WatchParent returns a channel that is closed when the process that started
// this one is gone, for a role that must notice even when its parent-death
// signal is caught, ignored or turned off (Cmd.NoPdeathsig). The signal is
// the life pipe that every child inherits: only the parent holds its write
// end, so it reports end of file the moment the parent's last thread is gone;
// getppid is checked as well, in case the role closed the pipe. When ctx is
// done first the watch stops and the channel stays open. In a process that
// Command did not start, the channel is never closed.
//
// The watch sleeps in poll(2) on the pipe and, for ctx, on an eventfd, with
// no timeout: an idle process is not woken for it.
func WatchParent(ctx context.Context) <-chan struct{} {
	gone := make(chan struct{})
	if !isChild {
		return gone
	}
	go watchParent(ctx, gone)
	return gone
}

func watchParent(ctx context.Context, gone chan struct{}) {
	fds := []unix.PollFd{{Fd: int32(lifeFD), Events: unix.POLLIN}}
	timeout := -1
	if ctx.Done() != nil {
		if wake, err := sys.NewWake(); err == nil {
			// The eventfd is closed under mu, so that the write never
			// reaches a descriptor number the process has since reused.
			var mu sync.Mutex
			closed := false
			stop := context.AfterFunc(ctx, func() {
				mu.Lock()
				defer mu.Unlock()
				if !closed {
					sys.Wake(wake)
				}
			})
			defer func() {
				stop()
				mu.Lock()
				closed = true
				unix.Close(wake)
				mu.Unlock()
			}()
			fds = append(fds, unix.PollFd{Fd: int32(wake), Events: unix.POLLIN})
		} else {
			timeout = int(parentPollInterval / time.Millisecond)
		}
	}
	for ctx.Err() == nil {
		if ppid := os.Getppid(); ppid != parentPID && ppid != 0 {
			close(gone)
			return
		}
		fds[0].Revents = 0
		n, err := unix.Poll(fds, timeout)
		// The parent never writes: any event on the read end (hang-up,
		// or POLLNVAL if the role closed the descriptor, which the
		// getppid check then covers) means its writer is gone.
		if err == nil && n > 0 && fds[0].Revents&(unix.POLLHUP|unix.POLLIN|unix.POLLERR) != 0 {
			close(gone)
			return
		}
		if err == nil && n > 0 && fds[0].Revents&unix.POLLNVAL != 0 {
			// poll ignores it from now on; getppid is looked at every
			// parentPollInterval instead.
			fds[0].Fd = -1
			timeout = int(parentPollInterval / time.Millisecond)
		}
	}
}
