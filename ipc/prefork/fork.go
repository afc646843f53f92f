package prefork

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ipctoolkit/ipc/internal/sys"
	"github.com/ipctoolkit/ipc/ipc/proc"
	"golang.org/x/sys/unix"
)

// Fork mode: the supervisor accepts; each connection is given to a child
// started for it (a re-executed worker, the connection its descriptor 3),
// which serves that one client and exits. The supervisor keeps a child's
// slot on the scoreboard while it lives, so that `ipc status` lists the
// children; the pool's size (want, SIGTTIN/SIGTTOU) is the bound on live
// children, MaxChildren at start.

// forkState is the supervisor's fork mode: the acceptor hands each
// connection to the event loop, which starts its child.
type forkState struct {
	conns chan int      // accepted connections, for the loop
	freed chan struct{} // a child ended: the acceptor may accept again
	live  atomic.Int64  // children alive or being started
}

func (sv *supervisor) startFork() error {
	a, err := newAcceptor(sv.ln)
	if err != nil {
		return serverErr("start", err, "the fork acceptor")
	}
	sv.mode.acc = a
	sv.fork = &forkState{conns: make(chan int), freed: make(chan struct{}, 1)}
	go sv.forkAccept(a, sv.fork)
	return nil
}

// forkConns is the channel of accepted connections in fork mode (nil,
// which blocks for ever, in the others).
func (sv *supervisor) forkConns() <-chan int {
	if sv.fork == nil {
		return nil
	}
	return sv.fork.conns
}

// forkAccept accepts while fewer than want children live: at the bound it
// waits for one to end, and the connections wait in the backlog.
func (sv *supervisor) forkAccept(a *acceptor, f *forkState) {
	defer close(a.done)
	defer unix.Close(a.fd)
	fds := []unix.PollFd{{Fd: int32(a.fd), Events: unix.POLLIN}, {Fd: int32(a.wake), Events: unix.POLLIN}}
	for !a.stopped() {
		if f.live.Load() >= int64(sv.board.hdr[hWant].Load()) {
			select {
			case <-f.freed:
			case <-a.stop:
				return
			case <-time.After(tick):
			}
			continue
		}
		cfd, ok := acceptFrom(a, fds)
		if !ok {
			continue
		}
		f.live.Add(1)
		// Handed over even when told to stop: stopModeAccept, the only
		// one to stop this loop, takes connections until it has ended.
		f.conns <- cfd
	}
}

// acceptFrom waits up to lockWait for a connection on a's listener and
// accepts it, blocking (a child or worker sets it as it needs) and
// close-on-exec; false if none came, the wait was cut, or accept failed
// (short of descriptors it pauses, as a worker does).
func acceptFrom(a *acceptor, fds []unix.PollFd) (int, bool) {
	fds[0].Revents, fds[1].Revents = 0, 0
	n, e := sys.Ppoll(fds, lockWait)
	if e != 0 || n == 0 || fds[1].Revents != 0 || fds[0].Revents&unix.POLLIN == 0 {
		return -1, false
	}
	r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(a.fd), 0, 0, unix.SOCK_CLOEXEC, 0, 0)
	switch e {
	case 0:
		return int(r), true
	case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
		time.Sleep(50 * time.Millisecond)
	}
	return -1, false
}

// forkOne starts the child that serves cfd.
func (sv *supervisor) forkOne(cfd int, now time.Time) {
	s := sv.freeSlot()
	if s == nil {
		// The acceptor keeps live below want, and want is at most the
		// slots: a Scale down, with every slot still taken.
		unix.Close(cfd)
		sv.forkEnded()
		return
	}
	s.conn = os.NewFile(uintptr(cfd), "connection")
	if err := sv.spawn(s, now); err != nil {
		sv.log.Error("cannot fork a child for a connection; closing it", "err", err)
		sv.forkEnded()
		return
	}
	sv.board.slots[s.i][sChild].Store(1)
	sv.board.hdr[hForked].Add(1)
}

// forkEnded counts a child (or a connection that got none) out.
func (sv *supervisor) forkEnded() {
	sv.fork.live.Add(-1)
	select {
	case sv.fork.freed <- struct{}{}:
	default:
	}
}

// forkExited reaps a fork child: its end logged in the textbook's words,
// its slot freed, the acceptor told.
func (sv *supervisor) forkExited(c *child, e proc.Exit) {
	s := c.slot
	delete(sv.byCmd, e.Cmd)
	uptime := time.Since(c.started)
	sv.board.retire(s.i)
	sv.purge(s.i)
	s.c, s.phase = nil, slotFree
	sv.forkEnded()
	level := slog.LevelInfo
	if !e.Status.Success() {
		level = slog.LevelWarn
	}
	attrs := []any{"slot", s.i, "pid", c.pid, "generation", c.gen, "uptime", uptime.Round(time.Millisecond)}
	if c.reason != "" {
		attrs = append(attrs, "why", c.reason)
	}
	sv.log.Log(context.Background(), level, "child "+strconv.Itoa(c.pid)+" "+TextbookWords(e.Status), attrs...)
	ex := c.exitRecord(e.Status, uptime)
	// A child that crashes counts toward the breaker as a worker does: a
	// handler that kills every child it serves is the fork server's crash
	// loop, though nothing is respawned for it.
	sv.noteCrash(c, ex, time.Now())
	if sv.cfg.OnWorkerExit != nil {
		sv.cfg.OnWorkerExit(ex)
	}
}

// olderChildren counts the live children of a generation before the
// current one: after a Reload or a crash breaker's restart, those still
// finishing their connection.
func (sv *supervisor) olderChildren() int {
	n := 0
	for _, s := range sv.slots {
		if s.c != nil && s.c.gen != sv.gen {
			n++
		}
	}
	return n
}

// forkEvent logs a child's stop or continue.
func (sv *supervisor) forkEvent(c *child, ev proc.Status) {
	c.stopped = ev.Stopped()
	sv.log.Warn("child "+strconv.Itoa(c.pid)+" "+TextbookWords(ev), "slot", c.slot.i, "pid", c.pid, "generation", c.gen)
}

// TextbookWords says how a child ended (or stopped, or went on) as the
// textbooks' reaping servers print it (APUE's pr_exit): "exited with code
// 0", "killed by signal 11 (core dumped)", "killed by signal 9", "stopped
// by signal 19", "continued".
func TextbookWords(st proc.Status) string {
	switch {
	case st.Exited():
		return "exited with code " + strconv.Itoa(st.ExitCode())
	case st.Signaled():
		w := "killed by signal " + strconv.Itoa(int(st.Signal()))
		if st.CoreDump() {
			w += " (core dumped)"
		}
		return w
	case st.Stopped():
		return "stopped by signal " + strconv.Itoa(int(st.StopSignal()))
	case st.Continued():
		return "continued"
	}
	return st.String()
}

// runForkChild hands the one connection a fork child was started with
// (descriptor 3) to its server, before the child takes orders (a stop that
// came first would otherwise end it with its client unanswered), and
// drains the child once the connection is closed.
func (w *worker) runForkChild() {
	if err := unix.SetNonblock(listenFD, true); err != nil {
		close(w.acceptDone)
		go w.drain(reasonForkDone, "the connection: "+err.Error())
		return
	}
	done := w.deliver(listenFD)
	go func() {
		defer close(w.acceptDone)
		if w.waitServed(done) {
			w.drain(reasonForkDone, "served its connection")
		}
	}()
}
