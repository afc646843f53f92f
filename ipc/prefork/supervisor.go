package prefork

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/ipc/proc"
	"github.com/ipctoolkit/ipc/msgq"
	"golang.org/x/sys/unix"
)

// The supervisor is an event loop over five inputs: commands (Shutdown,
// Close, Reload, Scale: lifecycle.go), children's ends (and stops), its
// inbox, and a tick. Every decision about the pool is
// taken by reconcile (slots.go), which reads what the scoreboard says and
// compares it with what the supervisor wants; messages only make it look
// sooner. Files by concern: slots.go (the per-slot state machine),
// lockwatch.go (the accept lock's holder), objects.go (the IPC objects and
// their signature), janitor.go (the process that removes them when the
// supervisor is killed), inbox.go (messages and the queue's backlog).

const (
	// killGrace is how long the supervisor waits past a worker's own
	// graceful deadline (or after SIGQUIT to a hung worker) before SIGKILL.
	killGrace = 500 * time.Millisecond
	tick      = 100 * time.Millisecond
)

type supervisor struct {
	cfg config
	log *slog.Logger

	ln   *os.File
	addr net.Addr
	dep  deployment
	objects
	state State

	group   proc.Group
	slots   []*slot
	byCmd   map[*proc.Cmd]*child
	want    int
	gen     uint64
	janitor *proc.Cmd
	// janitorAt paces the janitor's restarts.
	janitorAt time.Time

	stopping  bool
	announced bool
	fatal     error

	inbox     chan message
	inboxDone chan struct{}
	quit      chan struct{}
	events    chan childEvent

	ctl chan command
	// up is the upgrade under way (upgrade.go); readyPipe, in a
	// supervisor an upgrade started, is where it says it serves.
	up        *upgrade
	readyPipe *os.File
	holder    holderWatch
	backlog   backlogLog
	// lastTotal is the connections served, read before the scoreboard
	// goes, for the last line of the log.
	lastTotal uint64
	// pool sizes a dynamic or ondemand pool (pool.go); crash is the
	// crash breaker's record (crash.go).
	pool  poolManager
	crash crashBreaker
	// ops: request timeouts, the slow log, counters (reqtimeout.go).
	ops opsState
}

// childEvent is a stop or continue of a child, from the group's reaper.
type childEvent struct {
	cmd *proc.Cmd
	ev  proc.Status
}

func runSupervisor(ctx context.Context, s *Server) (err error) {
	l := s.lc()
	ctl, err := l.start()
	if err != nil {
		return err
	}
	defer l.finish()
	cfg, err := s.config()
	if err != nil {
		return err
	}
	sv := &supervisor{
		ctl:    ctl,
		cfg:    cfg,
		log:    s.logger(),
		slots:  make([]*slot, cfg.slots),
		byCmd:  map[*proc.Cmd]*child{},
		want:   cfg.workers,
		gen:    1,
		inbox:  make(chan message, 64),
		quit:   make(chan struct{}),
		events: make(chan childEvent, 64),
	}
	for i := range sv.slots {
		sv.slots[i] = &slot{i: i}
	}
	sv.readyPipe = upgradeReadyFile()
	defer func() {
		l.mu.Lock()
		closed := l.closed
		l.mu.Unlock()
		if err == nil && closed {
			err = ErrServerClosed
		}
	}()
	sv.group.OnEvent = func(c *proc.Cmd, ev proc.Status) {
		select {
		case sv.events <- childEvent{c, ev}:
		default: // a flood of stops and continues: the log loses some
		}
	}
	err = sv.run(ctx)
	return err
}

func (sv *supervisor) run(ctx context.Context) (err error) {
	if err := sv.openSlowLog(); err != nil {
		return err
	}
	defer sv.closeSlowLog()
	if err := sv.dep.start(sv); err != nil {
		return err
	}
	defer sv.dep.stop()
	dir := sv.cfg.StateDir
	if err := ensureStateDir(dir); err != nil {
		return err
	}
	if err := sv.dep.runAs.shareStateDir(dir); err != nil {
		return err
	}
	cleaned, err := CleanStale(dir)
	for _, c := range cleaned {
		sv.log.Warn("removed what a dead server left behind",
			"dead_pid", c.State.PID, "why", c.Why, "removed", strings.Join(c.Removed, ", "),
			"already_gone", strings.Join(c.Gone, ", "), "refused", strings.Join(c.Refused, "; "), "state_file", c.State.Path)
	}
	if err != nil {
		return err
	}

	if sv.ln, err = sv.dep.listen(sv); err != nil {
		return err
	}
	defer sv.closeListener()
	if err := sv.createIPC(sv.cfg.slots); err != nil {
		sv.logLimits(err)
		return err
	}
	defer sv.removeIPC("the supervisor stops")
	if err := sv.dep.runAs.shareIPC(sv.set, sv.q, sv.m.ID()); err != nil {
		return serverErr("start", err, "hand the IPC objects to user "+sv.cfg.User)
	}
	sv.board.hdr[hGeneration].Store(sv.gen)
	sv.board.hdr[hWant].Store(uint64(sv.want))

	ticks, _ := startTicks(os.Getpid())
	sv.state = State{
		PID: os.Getpid(), StartTicks: ticks, Addr: sv.addr.String(), Started: time.Now().UTC().Truncate(time.Second),
		Semaphore: sv.set.ID(), Queue: sv.q.ID(), Segment: sv.m.ID(), Signature: sv.sig,
		IPCNamespace: ipcNamespace(os.Getpid()),
		Path:         statePath(dir, os.Getpid()),
	}
	if info, err := sv.set.Stat(); err == nil {
		sv.state.SemaphoreCTime = info.CTime.Unix()
	}
	if info, err := sv.q.Stat(); err == nil {
		sv.state.QueueCTime = info.CTime.Unix()
	}
	if err := sv.state.write(); err != nil {
		return err
	}
	defer os.Remove(sv.state.Path)

	sv.inboxDone = make(chan struct{})
	go sv.readInbox()
	defer close(sv.quit) // runs before removeIPC, which ends readInbox

	sv.log.Info("server starting", "addr", sv.addr.String(), "workers", sv.want, "slots", sv.cfg.slots,
		"accept", sv.cfg.Accept.String(), "pid", os.Getpid(), "state_file", sv.state.Path,
		"semaphore", sv.set.ID(), "queue", sv.q.ID(), "segment", sv.m.ID())
	if err := sv.startPool(); err != nil {
		return err
	}
	sv.startJanitor(time.Now())
	sv.reconcile(time.Now())

	t := time.NewTicker(tick)
	defer t.Stop()
	done := ctx.Done()
	exits := sv.group.Exits()
	for !sv.stopping || len(sv.byCmd) > 0 {
		var upReady <-chan struct{}
		var upExited <-chan error
		var upTimeout <-chan time.Time
		if up := sv.up; up != nil && !up.done {
			upReady, upExited, upTimeout = up.ready, up.exited, up.timeout
		}
		select {
		case <-upReady:
			sv.upgradeReady()
		case err := <-upExited:
			why := "the new supervisor exited before it was ready"
			if err != nil {
				why += ": " + err.Error()
			}
			sv.up.exited <- err // for upgradeFailed's wait
			sv.upgradeFailed(why)
		case <-upTimeout:
			sv.upgradeFailed("the new supervisor was not ready within " + sv.cfg.upgradeTimeout().String())
		case <-done:
			done = nil
			sv.beginStop("the context is done")
		case c := <-sv.ctl:
			sv.onCommand(c)
		case e := <-exits:
			sv.onExit(e)
		case ev := <-sv.events:
			sv.onEvent(ev)
		case m := <-sv.inbox:
			sv.onMessage(m)
		case <-sv.pool.waiting():
			sv.onWaiting(time.Now())
		case now := <-t.C:
			sv.onTick(now)
		}
		sv.dep.observe(sv, time.Now())
	}
	if sv.up != nil && !sv.up.done {
		sv.upgradeFailed("the old supervisor stopped first")
	}
	// Every worker is gone: remove the objects now, which ends the
	// janitor's wait, and reap the janitor.
	sv.lastTotal = sv.board.snapshot().Total.Connections
	sv.removeIPC("the server stopped")
	sv.awaitJanitor(exits)
	sv.group.Close()
	if sv.fatal != nil {
		sv.log.Error("server stopped", "err", sv.fatal)
	} else {
		sv.log.Info("server stopped", "connections", sv.lastTotal)
	}
	return sv.fatal
}

// closeListener closes the supervisor's copy of the listener: once every
// worker has closed its own, the kernel refuses new connections instead
// of completing handshakes nobody will accept.
func (sv *supervisor) closeListener() {
	sv.stopWatch()
	if sv.ln != nil {
		sv.ln.Close()
		sv.ln = nil
	}
	sv.dep.closeSockets()
}

func (sv *supervisor) logLimits(err error) {
	if errors.Is(err, unix.ENOSPC) {
		sv.log.Error("the System V IPC limits are reached: are objects leaked? see `ipc ls` and `ipc status --clean`, or kernel.sem, kernel.msgmni, kernel.shmmni")
	}
}

func (sv *supervisor) readInbox() {
	defer close(sv.inboxDone)
	buf := make([]byte, msgBufSize)
	q := sv.q
	for {
		_, n, err := q.Receive(buf, msgq.Type(supervisorType), msgq.Truncate)
		if err != nil {
			if errors.Is(err, ipc.ErrRemoved) || errors.Is(err, unix.EINVAL) {
				return
			}
			sv.log.Error("cannot read the queue", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		m, ok := decode(buf[:n])
		if !ok {
			continue
		}
		m.text = bytes.Clone(m.text)
		select {
		case sv.inbox <- m:
		case <-sv.quit:
			return
		}
	}
}

func (sv *supervisor) fail(err error) {
	if sv.fatal == nil {
		sv.fatal = err
	}
	sv.beginStop("a worker cannot start")
}

func (sv *supervisor) beginStop(why string) {
	if sv.stopping {
		return
	}
	sv.stopping = true
	sv.closeListener()
	sv.board.hdr[hWant].Store(0)
	sv.log.Info("stopping gracefully", "why", why, "graceful_timeout", sv.cfg.GracefulTimeout, "workers", len(sv.byCmd))
	now := time.Now()
	for _, s := range sv.slots {
		if s.c != nil {
			sv.stop(s.c, "the server is stopping", now)
		}
		if s.phase == slotBackoff {
			s.phase = slotFree
		}
	}
}

func (sv *supervisor) stopNow(why string) {
	sv.stopping = true
	sv.closeListener()
	sv.board.hdr[hWant].Store(0)
	sv.log.Info("stopping at once", "why", why, "workers", len(sv.byCmd))
	for _, s := range sv.slots {
		if s.c != nil {
			s.c.draining = true
			s.phase = slotDraining
			sv.kill(s.c, "the server is stopping at once")
		}
	}
}

// onEvent logs a worker's stop or continue, as the textbook's server does.
func (sv *supervisor) onEvent(e childEvent) {
	c := sv.byCmd[e.cmd]
	if c == nil {
		return
	}
	msg := "worker stopped"
	if e.ev.Continued() {
		msg = "worker continued"
	}
	c.stopped = e.ev.Stopped()
	sv.log.Warn(msg, "slot", c.slot.i, "pid", c.pid, "generation", c.gen, "status", e.ev.String())
}

// logCounters logs every worker's counters (the textbook's per-child
// connection counts) and asks each worker for its own report.
func (sv *supervisor) logCounters() {
	st := sv.board.snapshot()
	for _, w := range st.Workers {
		sv.log.Info("worker counters", "slot", w.Slot, "pid", w.PID, "generation", w.Generation, "state", w.State,
			"connections", w.Connections, "active", w.Active, "requests", w.Requests,
			"bytes_in", w.BytesIn, "bytes_out", w.BytesOut, "wakeups", w.Wakeups, "futile_wakeups", w.Futile,
			"panics", w.Panics, "uptime", time.Since(w.Started).Round(time.Millisecond))
	}
	sv.log.Info("server counters", "workers", len(st.Workers), "connections", st.Total.Connections,
		"requests", st.Total.Requests, "bytes_in", st.Total.BytesIn, "bytes_out", st.Total.BytesOut,
		"by_exited_workers", st.Exited.Connections)
	var buf [msgHeader]byte
	for _, s := range sv.slots {
		if c := s.c; c != nil && !c.draining {
			m := message{kind: kindReport, slot: s.i, pid: c.pid, gen: c.gen}
			sv.sendTo(s, m.encode(buf[:]))
		}
	}
}

func (sv *supervisor) onTick(now time.Time) {
	sv.watchLock(now)
	sv.checkRequests()
	for _, s := range sv.slots {
		c := s.c
		if c == nil {
			continue
		}
		if c.draining {
			if !c.killed && now.After(c.deadline) {
				why := "it outlived its graceful timeout"
				if c.hung {
					why = "hung: still no heartbeat after SIGQUIT"
				}
				sv.kill(c, why)
			}
			continue
		}
		beat := time.Unix(0, int64(sv.board.slots[s.i][wHeartbeat].Load()))
		if beat.Before(c.started) {
			beat = c.started
		}
		if quiet := now.Sub(beat); quiet > sv.cfg.Timeout {
			c.draining, c.hung = true, true
			s.phase = slotDraining
			c.reason = "hung: no heartbeat for " + quiet.Round(time.Millisecond).String()
			c.deadline = now.Add(killGrace)
			sv.log.Warn("worker hung; sending SIGQUIT for a stack dump, then SIGKILL", "slot", s.i, "pid", c.pid,
				"generation", c.gen, "no_heartbeat_for", quiet.Round(time.Millisecond), "timeout", sv.cfg.Timeout)
			c.cmd.Signal(syscall.SIGQUIT)
		}
	}
	if !sv.stopping && sv.janitor == nil {
		sv.startJanitor(now)
	}
	sv.poolTick(now)
	sv.reconcile(now)
}

func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return string(b[i:])
}
