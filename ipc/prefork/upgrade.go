package prefork

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// The binary upgrade (nginx's and unicorn's USR2): the supervisor starts a
// new supervisor from the binary now at the path it was started from,
// handing it the listening sockets as inherited descriptors and a pipe on
// which the new one writes one byte once its first pool serves. Then the
// old one drains and exits; if the new one exits or is not ready within
// UpgradeTimeout, it is killed and the old one serves on.
//
// The descriptors are named in the environment as systemd names its own
// (LISTEN_FDS), but under names of the package's: LISTEN_PID would have to
// be the new process's pid before it exists.
const (
	// upgradeFDsEnv: how many listeners, from descriptor 3.
	upgradeFDsEnv = "IPC_PREFORK_UPGRADE_FDS"
	// upgradeReadyEnv: the descriptor to write the ready byte to.
	upgradeReadyEnv = "IPC_PREFORK_UPGRADE_READY_FD"
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
	r, w, err := os.Pipe()
	if err != nil {
		return serverErr("upgrade", err, "")
	}
	defer w.Close()
	files := sv.dep.files()
	env := make([]string, 0, len(os.Environ())+2)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, upgradeFDsEnv+"=") && !strings.HasPrefix(kv, upgradeReadyEnv+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, upgradeFDsEnv+"="+strconv.Itoa(len(files)), upgradeReadyEnv+"="+strconv.Itoa(3+len(files)))
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
		timeout: time.After(sv.cfg.upgradeTimeout()), started: time.Now()}
	go func() {
		defer r.Close()
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
	// The service is not stopping: its main process changed.
	sv.dep.toldStopping = true
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

// inheritedListeners are the listeners an upgrading supervisor handed
// this one, if it did; the variables are unset so that no child sees them.
func inheritedListeners() ([]*listener, error) {
	v := os.Getenv(upgradeFDsEnv)
	if v == "" {
		return nil, nil
	}
	os.Unsetenv(upgradeFDsEnv)
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return nil, serverErr("start", errors.New("malformed "+upgradeFDsEnv), strconv.Quote(v))
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

// upgradeReadyFile is the pipe to the old supervisor, if this one was
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
	return os.NewFile(uintptr(fd), "upgrade ready pipe")
}
