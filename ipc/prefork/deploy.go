package prefork

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// deployment is the supervisor's part in how the server is deployed: its
// pid file, its listeners (bound, Unix-domain or socket-activated), the
// user its workers run as, and what it tells systemd. The supervisor's
// loop calls it at a few points (start, listen, spawn, after every event,
// stop), and it keeps everything else to itself, so that it reads the
// supervisor's state and never steers it.
type deployment struct {
	pid    *pidFile
	lns    []*listener
	runAs  *runAs
	notify *notifier

	// What observe has told systemd so far.
	toldReady, toldStopping bool
	gen                     uint64
}

// start checks the deployment fields, resolves the user and takes the pid
// file, before the supervisor touches anything else: of two servers started
// at once, the loser stops here.
func (d *deployment) start(sv *supervisor) error {
	if m := sv.cfg.SocketMode; m&^0o777 != 0 {
		return serverErr("configure", errors.New("SocketMode 0"+strconv.FormatUint(uint64(m), 8)+" has bits other than permissions"), "")
	}
	var err error
	if d.runAs, err = lookupRunAs(sv.cfg.User, sv.cfg.Group); err != nil {
		return err
	}
	if d.pid, err = takePIDFile(sv.cfg.PIDFile); err != nil {
		return err
	}
	d.notify = newNotifier(sv.log)
	d.notify.children = sv.cfg.Mode == ModeFork
	d.gen = sv.gen
	return nil
}

// stop closes the listeners, removes the socket files and the pid file that
// are still this server's.
func (d *deployment) stop() {
	closeListeners(d.lns)
	d.lns = nil
	d.pid.release()
	d.pid = nil
}

// closeSockets closes the supervisor's copies of the listeners (see
// closeListener) and keeps what stop needs to remove the socket files.
func (d *deployment) closeSockets() {
	for _, l := range d.lns {
		l.file.Close()
	}
}

// listen makes the listeners and returns the first, which the logs, the
// state file and Ready name.
func (d *deployment) listen(sv *supervisor) (*os.File, error) {
	ls, fromSystemd, err := listenAll(&sv.cfg)
	if err != nil {
		return nil, err
	}
	d.lns = ls
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = l.addr.String()
	}
	sv.addr = ls[0].addr
	if fromSystemd {
		sv.log.Info("serving the sockets systemd passed", "sockets", strings.Join(names, " "))
	} else if len(ls) > 1 {
		sv.log.Info("listening", "addrs", strings.Join(names, " "))
	}
	return ls[0].file, nil
}

// files are the listeners as a worker inherits them, descriptor 3 on.
func (d *deployment) files() []*os.File {
	fs := make([]*os.File, len(d.lns))
	for i, l := range d.lns {
		fs[i] = l.file
	}
	return fs
}

// observe tells systemd what changed since the last call: ready (the
// first workers all serve), reloading (a new generation) and ready again
// (it alone remains, all serving), stopping; and pets the watchdog. The
// supervisor calls it after every event of its loop, which includes a tick
// every 100 ms.
func (d *deployment) observe(sv *supervisor, now time.Time) {
	n := d.notify
	if n == nil || !n.on {
		return
	}
	switch {
	case sv.stopping:
		if !d.toldStopping {
			d.toldStopping = true
			n.stopping()
		}
	case !d.toldReady:
		if sv.announced && sv.handedOver.Load() {
			d.toldReady = true
			d.gen = sv.gen
			n.ready(sv.want)
		}
	case sv.gen != d.gen:
		d.gen = sv.gen
		n.reload()
	case n.reloading && sv.cfg.Mode == ModeFork:
		// Fork mode's children start one per connection, so no number
		// of them ends a reload (or a crash breaker's restart): it is
		// over once every child of an older generation has finished its
		// connection.
		if sv.olderChildren() == 0 {
			n.reloaded(sv.want) // as ready at the start says: the bound
		}
	case n.reloading:
		// From the scoreboard, which is the state: done when every worker
		// there is of the new generation and serving.
		serving, others := 0, 0
		for _, w := range sv.board.snapshot().Workers {
			if w.Generation != sv.gen || w.State == "starting" || w.State == "stopping" {
				others++
			} else {
				serving++
			}
		}
		if others == 0 && serving >= sv.want {
			n.reloaded(serving)
		}
	}
	n.tick(now)
}

// pollFDs is what a worker's accept loop polls: its listeners (descriptor
// 3 on), then its wake descriptor.
func pollFDs(listeners, wakeFD int) []unix.PollFd {
	fds := make([]unix.PollFd, 0, listeners+1)
	for i := range max(listeners, 1) {
		fds = append(fds, unix.PollFd{Fd: int32(listenFD + i), Events: unix.POLLIN})
	}
	return append(fds, unix.PollFd{Fd: int32(wakeFD), Events: unix.POLLIN})
}

// readyListener returns a listener of fds (the wake descriptor excluded)
// that has a connection waiting, and -1 with the revents when one reports
// an error instead. It looks first at the one after last (the listener the
// previous turn took from), so that a flood on one address cannot starve
// the others.
func readyListener(fds []unix.PollFd, last int) (fd int, revents int16) {
	n := len(fds)
	start := (last - listenFD + 1) % n
	if start < 0 {
		start = 0
	}
	fd = -1
	for k := range n {
		i := (start + k) % n
		switch r := fds[i].Revents; {
		case r&^unix.POLLIN != 0:
			return -1, r
		case r&unix.POLLIN != 0 && fd < 0:
			fd = int(fds[i].Fd)
		}
	}
	return fd, 0
}

// closeListenerFDs closes a worker's n listeners.
func closeListenerFDs(n int) {
	for i := range max(n, 1) {
		unix.Close(listenFD + i)
	}
}

// checkListeners is the worker's check of what it inherited: n listening
// sockets from descriptor 3.
func checkListeners(n int) error {
	for i := range max(n, 1) {
		if !sys.IsListener(listenFD + i) {
			return &os.SyscallError{Syscall: "descriptor " + strconv.Itoa(listenFD+i) + " is not a listening socket", Err: unix.ENOTSOCK}
		}
	}
	return nil
}
