package prefork

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// The binary upgrade (nginx's and unicorn's USR2): the supervisor starts a
// new supervisor from the binary now at the path it was started from,
// handing it the listening sockets as inherited descriptors and one end of
// a socket pair, on which the new one writes one byte once its first pool
// serves. Then the old one tells systemd MAINPID=<new> (with NOTIFY_SOCKET
// set), writes one byte back, says nothing more to systemd, drains and
// exits; the new one tells systemd READY=1 only once that byte came (or
// the old one is gone), because systemd (NotifyAccess=main) ignores a
// process that is not yet the main one. If the new one exits or is not
// ready within UpgradeTimeout, it is killed and the old one serves on.
//
// The descriptors are named in the environment as systemd names its own
// (LISTEN_FDS), but under names of the package's: LISTEN_PID would have to
// be the new process's pid before it exists.
const (
	// upgradeFDsEnv: how many listeners, from descriptor 3.
	upgradeFDsEnv = "IPC_PREFORK_UPGRADE_FDS"
	// upgradeReadyEnv: the descriptor to write the ready byte to and
	// read the handed-over byte from.
	upgradeReadyEnv = "IPC_PREFORK_UPGRADE_READY_FD"
	// watchdogEnv: systemd's watchdog interval, which the new supervisor
	// must pet once it is the main process: newNotifier unset it in this
	// one's environment, so it is passed on by hand.
	watchdogEnv = "WATCHDOG_USEC"
)

// DefaultUpgradeTimeout is how long an upgrade waits for the new
// supervisor when Server.UpgradeTimeout is 0.
const DefaultUpgradeTimeout = 30 * time.Second

// errUpgrading: an upgrade is already under way.
var errUpgrading = errors.New("an upgrade is already under way")

// exePath is the binary this process was started from, as a path, resolved
// when the package is initialised: /proc/self/exe names the old file once a
// deploy has replaced it, the path names the new one.
var exePath, exeErr = os.Executable()

// upgrade is an upgrade under way, in the old supervisor.
type upgrade struct {
	cmd     *exec.Cmd
	ready   chan struct{} // closed when the byte came
	exited  chan error    // the new supervisor's Wait
	timeout <-chan time.Time
	started time.Time
	done    bool // handed over: the new supervisor is left running
	// conn is this end of the socket pair (see above).
	conn *os.File
}

// Upgrade starts a new supervisor from the binary now on disk and hands it
// the listeners; once it reports ready this one stops gracefully (Run then
// returns ErrServerClosed), and if it does not within UpgradeTimeout it is
// killed and this one serves on. It returns once the new supervisor is
// started, or why it could not be; one upgrade at a time.
func (s *Server) Upgrade() error { return s.upgrade("Upgrade") }

func (s *Server) upgrade(why string) error {
	reply := make(chan error, 1)
	if _, err := s.lc().send(command{kind: cmdUpgrade, why: why, reply: reply}, false); err != nil {
		return err
	}
	return <-reply
}

func (sv *supervisor) startUpgrade(why string) error {
	switch {
	case sv.stopping:
		return ErrServerClosed
	case sv.up != nil:
		return serverErr("upgrade", errUpgrading, "")
	case exeErr != nil:
		return serverErr("upgrade", exeErr, "find the binary")
	}
	r, w, err := socketPair()
	if err != nil {
		return serverErr("upgrade", err, "")
	}
	defer w.Close()
	files := sv.dep.files()
	env := make([]string, 0, len(os.Environ())+3)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k != upgradeFDsEnv && k != upgradeReadyEnv && k != watchdogEnv && k != "WATCHDOG_PID" {
			env = append(env, kv)
		}
	}
	env = append(env, upgradeFDsEnv+"="+strconv.Itoa(len(files)), upgradeReadyEnv+"="+strconv.Itoa(3+len(files)))
	if n := sv.dep.notify; n != nil && n.watchdogUsec != "" {
		env = append(env, watchdogEnv+"="+n.watchdogUsec)
	}
	cmd := &exec.Cmd{Path: exePath, Args: os.Args, Env: env, Stdin: nil, Stdout: os.Stdout, Stderr: os.Stderr,
		ExtraFiles: append(files, w)}
	// The pid file is the new supervisor's to take: ours becomes .oldbin.
	if err := sv.dep.pid.toOldbin(); err != nil {
		r.Close()
		return serverErr("upgrade", err, "rename the pid file")
	}
	if err := cmd.Start(); err != nil {
		r.Close()
		sv.dep.pid.takeBack(sv.log)
		return serverErr("upgrade", err, "start "+exePath)
	}
	up := &upgrade{cmd: cmd, ready: make(chan struct{}), exited: make(chan error, 1),
		timeout: time.After(sv.cfg.upgradeTimeout()), started: time.Now(), conn: r}
	go func() {
		var b [1]byte
		if n, _ := r.Read(b[:]); n == 1 {
			close(up.ready)
		}
	}()
	go func() { up.exited <- cmd.Wait() }()
	sv.up = up
	sv.log.Info("upgrading: started a new supervisor", "by", why, "binary", exePath, "new_pid", cmd.Process.Pid,
		"timeout", sv.cfg.upgradeTimeout())
	return nil
}

func (c *config) upgradeTimeout() time.Duration {
	if c.UpgradeTimeout == 0 {
		return DefaultUpgradeTimeout
	}
	return c.UpgradeTimeout
}

// upgradeReady: the new supervisor serves; this one hands over and stops.
func (sv *supervisor) upgradeReady() {
	up := sv.up
	pid := up.cmd.Process.Pid
	sv.log.Info("upgraded: the new supervisor serves; stopping gracefully", "new_pid", pid,
		"took", time.Since(up.started).Round(time.Millisecond))
	sv.dep.notify.send("MAINPID=" + strconv.Itoa(pid) + "\nSTATUS=upgraded to pid " + strconv.Itoa(pid))
	// The service is not stopping, its main process changed: this one says
	// nothing more (no STOPPING=1, no WATCHDOG=1), and the new one may
	// say READY=1 now.
	sv.dep.notify.off()
	up.conn.Write([]byte{1})
	up.conn.Close()
	// The socket files are the new supervisor's now: not ours to remove.
	for _, l := range sv.dep.lns {
		l.path = ""
	}
	up.done = true
	sv.beginStop("upgraded to pid " + strconv.Itoa(pid))
}

// upgradeFailed: the new supervisor exited, or was not ready in time.
func (sv *supervisor) upgradeFailed(why string) {
	up := sv.up
	sv.up = nil
	up.conn.Close()
	up.cmd.Process.Signal(syscall.SIGKILL)
	if why != "" {
		<-up.exited
	}
	sv.log.Error("upgrade failed: rolled back, the old supervisor serves on", "why", why,
		"new_pid", up.cmd.Process.Pid, "binary", exePath)
	if !sv.stopping {
		sv.dep.pid.takeBack(sv.log)
	}
}

// upgradeFDCount is how many descriptors, from 3 on, an upgrading
// supervisor handed this one (0: it was not started by an upgrade); the
// variable is unset so that no child sees it.
func upgradeFDCount() (int, error) {
	v := os.Getenv(upgradeFDsEnv)
	if v == "" {
		return 0, nil
	}
	os.Unsetenv(upgradeFDsEnv)
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, serverErr("start", errors.New("malformed "+upgradeFDsEnv), strconv.Quote(v))
	}
	return n, nil
}

// inheritedListeners are the listeners an upgrading supervisor handed
// this one, if it did; the variables are unset so that no child sees them.
func inheritedListeners() ([]*listener, error) {
	n, err := upgradeFDCount()
	if n == 0 || err != nil {
		return nil, err
	}
	var out []*listener
	for i := range n {
		fd := 3 + i
		unix.CloseOnExec(fd)
		if !sys.IsListener(fd) {
			closeListeners(out)
			return nil, serverErr("start", errNotStreamListener, "inherited descriptor "+strconv.Itoa(fd))
		}
		l, err := rawListener(fd, "inherited")
		unix.Close(fd)
		if err != nil {
			closeListeners(out)
			return nil, serverErr("start", err, "inherited descriptor "+strconv.Itoa(fd))
		}
		// A socket file is ours to remove on exit now.
		if p := l.addr.String(); l.addr.Network() == "unix" && p != "" && p[0] != '@' {
			if dev, ino, ok := statIno(p); ok {
				l.path, l.dev, l.ino = p, dev, ino
			}
		}
		out = append(out, l)
	}
	return out, nil
}

// upgradeReadyFile is the socket to the old supervisor, if this one was
// started by an upgrade.
func upgradeReadyFile() *os.File {
	v := os.Getenv(upgradeReadyEnv)
	if v == "" {
		return nil
	}
	os.Unsetenv(upgradeReadyEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil
	}
	unix.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), "upgrade socket")
}

// upgradeAnnounce, in a supervisor an upgrade started, tells the old one
// that this one serves, and waits (on a goroutine) for its answer that it
// has told systemd MAINPID, or for it to be gone; handedOver says when.
// Elsewhere handedOver is true at once.
func (sv *supervisor) upgradeAnnounce() {
	f := sv.readyPipe
	sv.readyPipe = nil
	if f == nil {
		sv.handedOver.Store(true)
		return
	}
	if _, err := f.Write([]byte{1}); err != nil {
		f.Close()
		sv.handedOver.Store(true)
		return
	}
	go func() {
		defer f.Close()
		var b [1]byte
		f.Read(b[:]) // the byte, or EOF: the old supervisor is gone
		sv.handedOver.Store(true)
	}()
}

// socketPair is a connected pair of Unix stream sockets, close-on-exec
// (exec.Cmd's ExtraFiles clears that in the child for its end).
func socketPair() (a, b *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	return os.NewFile(uintptr(fds[0]), "upgrade socket"), os.NewFile(uintptr(fds[1]), "upgrade socket"), nil
}

// Stderr is standard error written through a descriptor of its own (a
// duplicate of descriptor 2), for a daemon's logger: write the log there,
// not to os.Stderr. A new supervisor started by an upgrade inherits the old
// one's standard error; when that is a pipe whose reader goes with the old
// process, a write to it fails with EPIPE, and Go turns EPIPE on
// descriptors 1 and 2 (and on those alone, see os/signal's "SIGPIPE") into
// death by SIGPIPE unless the program asked for the signal, which a library
// must not do. Through Stderr the write fails and the line is lost, as it
// would be anyway, and the server goes on. If the duplicate cannot be made,
// Stderr writes to os.Stderr.
var Stderr io.Writer = new(stderrWriter)

type stderrWriter struct {
	once sync.Once
	f    *os.File
}

func (w *stderrWriter) Write(p []byte) (int, error) {
	w.once.Do(func() {
		w.f = os.Stderr
		if fd, err := unix.FcntlInt(2, unix.F_DUPFD_CLOEXEC, 3); err == nil {
			w.f = os.NewFile(uintptr(fd), "stderr")
		}
	})
	return w.f.Write(p)
}
