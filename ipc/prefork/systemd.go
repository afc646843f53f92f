package prefork

import (
	"errors"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// The service manager's side of the server (systemd.service(5), Type=notify;
// sd_notify(3), sd_listen_fds(3)), through go-systemd's activation and daemon
// packages. Without NOTIFY_SOCKET, LISTEN_FDS and WATCHDOG_USEC in the
// environment nothing here does anything, so a server run by hand, by a test
// or by another supervisor behaves as before.

// notifier tells the service manager how the supervisor is doing. The zero
// value (and nil) says nothing.
type notifier struct {
	log *slog.Logger
	// on: NOTIFY_SOCKET is set. It stays set (and is inherited by the
	// workers: systemd's default NotifyAccess=main ignores them), so that a
	// new supervisor started by an upgrade can send MAINPID.
	on bool
	// watchdog is how often to send WATCHDOG=1 (half of WATCHDOG_USEC), 0
	// for never; next is when.
	watchdog time.Duration
	next     time.Time
	// watchdogUsec is WATCHDOG_USEC as systemd gave it, for the new
	// supervisor of an upgrade (upgrade.go).
	watchdogUsec string
	// reloading: RELOADING=1 was sent, READY=1 is owed when the reload ends.
	reloading bool
	// children: fork mode, whose number in STATUS= is the bound on
	// children alive at once, not workers serving.
	children bool
}

func newNotifier(log *slog.Logger) *notifier {
	n := &notifier{log: log, on: os.Getenv("NOTIFY_SOCKET") != ""}
	if !n.on {
		return n
	}
	// Unset: the watchdog is the supervisor's alone, and a worker must
	// not take it for its own.
	usec := os.Getenv("WATCHDOG_USEC")
	d, err := daemon.SdWatchdogEnabled(true)
	if err != nil {
		log.Warn("ignoring the watchdog", "err", err)
	}
	if d > 0 {
		n.watchdog = d / 2
		n.next = time.Now()
		n.watchdogUsec = usec
	}
	return n
}

// off: from now on nothing is sent (the old supervisor, after an upgrade
// handed the service to the new one).
func (n *notifier) off() {
	if n != nil {
		n.on = false
		n.watchdog = 0
	}
}

func (n *notifier) send(state string) {
	if n == nil || !n.on {
		return
	}
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.log.Warn("cannot notify the service manager", "state", state, "err", err)
	}
}

// ready: the first workers all serve (fork mode: the supervisor accepts,
// and workers is the bound on its children).
func (n *notifier) ready(workers int) {
	status := "serving with " + strconv.Itoa(workers) + " workers"
	if n.children {
		status = "serving, at most " + strconv.Itoa(workers) + " children at once"
	}
	n.send(daemon.SdNotifyReady + "\nSTATUS=" + status + "\nMAINPID=" + strconv.Itoa(os.Getpid()))
}

// reload: a new generation is starting. MONOTONIC_USEC is what
// Type=notify-reload (systemd 253) requires with RELOADING=1.
func (n *notifier) reload() {
	if n == nil || !n.on {
		return
	}
	n.reloading = true
	n.send(daemon.SdNotifyReloading + "\n" + daemon.SdNotifyMonotonicUsec() + "STATUS=reloading")
}

// reloaded: the reload is over (every worker of the old generation gone,
// the new ones ready): READY=1 again, if a reload was announced.
func (n *notifier) reloaded(workers int) {
	if n == nil || !n.reloading {
		return
	}
	n.reloading = false
	n.ready(workers)
}

// stopping: the supervisor began to stop.
func (n *notifier) stopping() {
	n.send(daemon.SdNotifyStopping + "\nSTATUS=stopping")
}

// tick pets the watchdog when it is due. The supervisor calls it from its
// loop, so a supervisor stuck anywhere stops petting it and is restarted.
func (n *notifier) tick(now time.Time) {
	if n == nil || n.watchdog == 0 || now.Before(n.next) {
		return
	}
	n.next = now.Add(n.watchdog)
	n.send(daemon.SdNotifyWatchdog)
}

var errNotStreamListener = errors.New("not a listening stream socket")

// activated returns the listening sockets the service manager passed
// (LISTEN_PID is this process, LISTEN_FDS how many from descriptor 3), as
// listeners ready for the workers, and unsets those variables so that no
// child takes them for its own. None (nil, nil) when not socket-activated.
// Only stream sockets that listen can be served: anything else is an error,
// not something to skip silently.
func activated() ([]*listener, error) {
	files := activation.Files(true)
	if len(files) == 0 {
		return nil, nil
	}
	var out []*listener
	fail := func(err error, detail string) ([]*listener, error) {
		for _, f := range files {
			f.Close()
		}
		for _, l := range out {
			l.file.Close()
		}
		return nil, serverErr("start", err, detail)
	}
	for i, f := range files {
		fd := int(f.Fd())
		what := "socket-activated descriptor " + strconv.Itoa(fd) + ", " + f.Name()
		typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
		if err != nil || typ != unix.SOCK_STREAM || !sys.IsListener(fd) {
			return fail(errNotStreamListener, what)
		}
		l, err := rawListener(fd, f.Name())
		if err != nil {
			return fail(err, what)
		}
		files[i] = nil
		f.Close() // rawListener made its own copy
		out = append(out, l)
	}
	return out, nil
}
