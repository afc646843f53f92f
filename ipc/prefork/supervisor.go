package prefork

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/ipc/proc"
	"github.com/ipctoolkit/ipc/msgq"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/ipctoolkit/ipc/shm"
	"golang.org/x/sys/unix"
)

// Respawn pacing: a worker that dies before it is ready, or within
// crashWindow of starting, is a start crash. Each one in a row doubles the
// pause before the next start, from crashPauseMin up to crashPauseMax, and
// only one worker is started at a time until one survives crashWindow.
const (
	crashWindow   = 2 * time.Second
	crashPauseMin = 100 * time.Millisecond
	crashPauseMax = 30 * time.Second
	// killGrace is how long the supervisor waits past a worker's own
	// graceful deadline (or after SIGQUIT to a hung worker) before SIGKILL.
	killGrace = 500 * time.Millisecond
	tick      = 100 * time.Millisecond
)

type child struct {
	slot     int
	gen      uint64
	cmd      *proc.Cmd
	pid      int
	started  time.Time
	ready    bool
	readyAt  time.Time
	draining bool      // told to stop (or stopping by itself)
	deadline time.Time // when draining: SIGKILL after this
	killed   bool      // SIGKILL sent
	reason   string    // why it is stopping, in words
}

type supervisor struct {
	cfg config
	log *slog.Logger

	ln    *os.File
	addr  net.Addr
	dep   deployment
	set   *sem.Set
	q     *msgq.Queue
	m     *shm.Mapping
	board *board
	state State

	group    proc.Group
	slots    []*child
	children map[*proc.Cmd]*child
	want     int
	gen      uint64
	crashes  int
	pauseEnd time.Time

	stopping  bool
	announced bool
	fatal     error

	inbox     chan message
	inboxDone chan struct{}
	quit      chan struct{}
	dropped   int
	droppedAt time.Time
}

func runSupervisor(ctx context.Context, s *Server) error {
	cfg, err := s.config()
	if err != nil {
		return err
	}
	sv := &supervisor{
		cfg:      cfg,
		log:      s.logger(),
		slots:    make([]*child, cfg.slots),
		children: map[*proc.Cmd]*child{},
		want:     cfg.workers,
		gen:      1,
		inbox:    make(chan message, 64),
		quit:     make(chan struct{}),
	}
	return sv.run(ctx)
}

func (sv *supervisor) run(ctx context.Context) (err error) {
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
			"dead_pid", c.State.PID, "removed", strings.Join(c.Removed, ", "), "already_gone", strings.Join(c.Gone, ", "), "state_file", c.State.Path)
	}
	if err != nil {
		return err
	}

	if sv.ln, err = sv.dep.listen(sv); err != nil {
		return err
	}
	if err := sv.createIPC(); err != nil {
		return err
	}
	defer sv.removeIPC()
	if err := sv.dep.runAs.shareIPC(sv.set, sv.q, sv.m.ID()); err != nil {
		return serverErr("start", err, "hand the IPC objects to user "+sv.cfg.User)
	}

	ticks, _ := startTicks(os.Getpid())
	sv.state = State{
		PID: os.Getpid(), StartTicks: ticks, Addr: sv.addr.String(), Started: time.Now().UTC().Truncate(time.Second),
		Semaphore: sv.set.ID(), Queue: sv.q.ID(), Segment: sv.m.ID(),
		Path: statePath(dir, os.Getpid()),
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

	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP,
		syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGUSR1)
	defer signal.Stop(sigs)

	sv.inboxDone = make(chan struct{})
	go sv.readInbox()
	defer close(sv.quit) // runs before removeIPC, which ends readInbox

	sv.log.Info("server starting", "addr", sv.addr.String(), "workers", sv.want, "slots", sv.cfg.slots,
		"accept", sv.cfg.Accept.String(), "pid", os.Getpid(), "state_file", sv.state.Path,
		"semaphore", sv.set.ID(), "queue", sv.q.ID(), "segment", sv.m.ID())
	sv.reconcile(time.Now())

	t := time.NewTicker(tick)
	defer t.Stop()
	done := ctx.Done()
	exits := sv.group.Exits()
	for !sv.stopping || len(sv.children) > 0 {
		select {
		case <-done:
			done = nil
			sv.beginStop("the context is done")
		case sig := <-sigs:
			sv.onSignal(sig.(syscall.Signal))
		case e := <-exits:
			sv.onExit(e)
		case m := <-sv.inbox:
			sv.onMessage(m)
		case now := <-t.C:
			sv.onTick(now)
		}
		sv.dep.observe(sv, time.Now())
	}
	sv.group.Close()
	if sv.fatal != nil {
		sv.log.Error("server stopped", "err", sv.fatal)
	} else {
		sv.log.Info("server stopped", "connections", sv.board.snapshot().Total.Connections)
	}
	return sv.fatal
}

// listen binds addr and returns the listening socket as a file for the
// workers to inherit, non-blocking, and registered with no poller: the Go
// listener that made it is closed, and the file is made while the
// descriptor is briefly blocking, because os.NewFile would otherwise add it
// to this process's epoll set (waking the supervisor for every connection)
// and exec.Cmd's Fd call would then make it blocking for every process.
func listen(addr string) (*os.File, net.Addr, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, serverErr("start", err, "")
	}
	bound := l.Addr()
	rc, err := l.(*net.TCPListener).SyscallConn()
	if err != nil {
		l.Close()
		return nil, nil, serverErr("start", err, "")
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 3) }); err != nil {
		derr = err
	}
	l.Close()
	if derr != nil {
		return nil, nil, serverErr("start", derr, "dup the listener")
	}
	// Accepted sockets inherit TCP_NODELAY from the listener: set it once
	// here, as Go does on every connection it accepts itself.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		unix.Close(fd)
		return nil, nil, serverErr("start", err, "set TCP_NODELAY")
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, nil, serverErr("start", err, "")
	}
	f := os.NewFile(uintptr(fd), "listener "+bound.String())
	if err := unix.SetNonblock(fd, true); err != nil {
		f.Close()
		return nil, nil, serverErr("start", err, "")
	}
	return f, bound, nil
}

func (sv *supervisor) createIPC() error {
	fail := func(err error) error {
		if errors.Is(err, unix.ENOSPC) {
			sv.log.Error("the System V IPC limits are reached: are objects leaked? see `ipc ls` and `ipc rm`, or kernel.sem, kernel.msgmni, kernel.shmmni")
		}
		sv.removeIPC()
		return err
	}
	set, err := sem.Create(ipc.Private, 1, 0o600)
	if err != nil {
		return fail(err)
	}
	sv.set = set
	if err := set.SetValue(0, 1); err != nil {
		return fail(err)
	}
	if sv.q, err = msgq.Create(ipc.Private, 0o600); err != nil {
		return fail(err)
	}
	seg, err := shm.Create(ipc.Private, boardSize(sv.cfg.slots), 0o600)
	if err != nil {
		return fail(err)
	}
	m, err := seg.Attach()
	if err != nil {
		seg.Remove()
		return fail(err)
	}
	sv.m = m
	// Removed at once: it lives as long as someone has it attached, and
	// never longer, whatever kills whom.
	if err := seg.Remove(); err != nil {
		return fail(err)
	}
	if sv.board, err = newBoard(m, sv.cfg.slots); err != nil {
		return fail(err)
	}
	h := &sv.board.hdr
	h[hVersion].Store(boardVersion)
	h[hSlots].Store(uint64(sv.cfg.slots))
	h[hPID].Store(uint64(os.Getpid()))
	h[hGeneration].Store(sv.gen)
	h[hStarted].Store(now())
	h[hWant].Store(uint64(sv.want))
	h[hMagic].Store(boardMagic)
	return nil
}

// removeIPC removes the semaphore set and the queue (which wakes every
// process still waiting on them) and detaches the scoreboard.
func (sv *supervisor) removeIPC() {
	if sv.q != nil {
		if err := sv.q.Remove(); err != nil {
			sv.log.Error("cannot remove the queue", "err", err)
		}
		if sv.inboxDone != nil {
			<-sv.inboxDone
		}
		sv.q = nil
	}
	if sv.set != nil {
		if err := sv.set.Remove(); err != nil {
			sv.log.Error("cannot remove the semaphore set", "err", err)
		}
		sv.set = nil
	}
	if sv.m != nil {
		sv.m.Detach()
		sv.m = nil
	}
}

func (sv *supervisor) readInbox() {
	defer close(sv.inboxDone)
	buf := make([]byte, msgBufSize)
	for {
		_, n, err := sv.q.Receive(buf, msgq.Type(supervisorType), msgq.Truncate)
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

func (sv *supervisor) spawn(slot int) error {
	limit := uint64(sv.cfg.MaxRequests)
	if limit > 0 && sv.cfg.MaxRequestsJitter > 0 {
		limit += uint64(rand.IntN(sv.cfg.MaxRequestsJitter + 1))
	}
	b := boot{
		slot: slot, slots: sv.cfg.slots, gen: sv.gen,
		semID: sv.set.ID(), queueID: sv.q.ID(), segID: sv.m.ID(), supervisor: os.Getpid(),
		maxRequests: limit, graceful: sv.cfg.GracefulTimeout, timeout: sv.cfg.Timeout, accept: sv.cfg.Accept,
		listeners: len(sv.dep.lns),
	}
	cmd := proc.Command(sv.cfg.Role, sv.cfg.WorkerArgs...)
	cmd.ExtraFiles = sv.dep.files()
	cmd.Env = []string{b.encode()}
	// SIGTERM when the supervisor dies: the worker stops gracefully on its
	// own (and WatchParent covers the moment before signal.Notify).
	cmd.Pdeathsig = syscall.SIGTERM
	// Its own process group: a terminal's ^C reaches the supervisor alone,
	// which then stops the workers in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	sv.dep.runAs.apply(cmd.SysProcAttr)

	t := time.Now()
	w := &sv.board.slots[slot]
	sv.board.clear(slot)
	w[wGeneration].Store(sv.gen)
	w[wStarted].Store(uint64(t.UnixNano()))
	w[wHeartbeat].Store(uint64(t.UnixNano()))
	w[wState].Store(stateStarting)
	if err := sv.group.Start(cmd); err != nil {
		sv.board.clear(slot)
		return err
	}
	w[wPID].Store(uint64(cmd.Pid()))
	c := &child{slot: slot, gen: sv.gen, cmd: cmd, pid: cmd.Pid(), started: t}
	sv.slots[slot] = c
	sv.children[cmd] = c
	sv.log.Info("worker started", "slot", slot, "pid", c.pid, "generation", c.gen)
	return nil
}

func (sv *supervisor) freeSlot() int {
	for i, c := range sv.slots {
		if c == nil {
			return i
		}
	}
	return -1
}

// reconcile keeps the pool at size: starts workers of the current
// generation up to want (paced after start crashes), stops the surplus, and
// retires workers of older generations as new ones become ready, so that
// the number serving never drops during a reload.
func (sv *supervisor) reconcile(now time.Time) {
	if sv.stopping {
		return
	}
	var cur, old []*child
	starting := false
	for _, c := range sv.slots {
		switch {
		case c == nil || c.draining:
		case c.gen == sv.gen:
			cur = append(cur, c)
			if !c.ready {
				starting = true
			}
			if sv.crashes > 0 && c.ready && now.Sub(c.started) >= crashWindow {
				sv.crashes = 0
			}
		default:
			old = append(old, c)
		}
	}
	if n := sv.want - len(cur); n > 0 && !now.Before(sv.pauseEnd) {
		if sv.crashes > 0 {
			n = 1 // one at a time until one survives
			if starting {
				n = 0
			}
		}
		for ; n > 0; n-- {
			slot := sv.freeSlot()
			if slot < 0 {
				break
			}
			if err := sv.spawn(slot); err != nil {
				if errors.Is(err, proc.ErrUnknownRole) || errors.Is(err, proc.ErrNoDispatch) {
					sv.fail(serverErr("start a worker of", err, "role "+sv.cfg.Role))
					return
				}
				pause := sv.crashed(now)
				sv.log.Error("cannot start a worker", "err", err, "retry_in", pause)
				break
			}
			cur = append(cur, sv.slots[slot])
		}
	}
	if n := len(cur) - sv.want; n > 0 {
		// Stop the ones not serving yet first, then the youngest.
		sort.Slice(cur, func(i, j int) bool {
			if cur[i].ready != cur[j].ready {
				return !cur[i].ready
			}
			return cur[i].started.After(cur[j].started)
		})
		for _, c := range cur[:n] {
			sv.stop(c, "the pool shrinks", now)
		}
		cur = cur[n:]
	}
	ready := 0
	for _, c := range cur {
		if c.ready {
			ready++
		}
	}
	if n := len(old) - max(0, sv.want-ready); n > 0 {
		sort.Slice(old, func(i, j int) bool {
			if old[i].gen != old[j].gen {
				return old[i].gen < old[j].gen
			}
			return old[i].started.Before(old[j].started)
		})
		for _, c := range old[:n] {
			sv.stop(c, "replaced by generation "+itoa(sv.gen), now)
		}
	}
}

// crashed counts a start crash and returns the pause before the next start.
func (sv *supervisor) crashed(now time.Time) time.Duration {
	sv.crashes++
	pause := crashPauseMin << min(sv.crashes-1, 20)
	pause = min(pause, crashPauseMax)
	sv.pauseEnd = now.Add(pause)
	return pause
}

// stop asks c to stop gracefully through its inbox (SIGTERM if the queue
// has no room), and gives it the graceful timeout.
func (sv *supervisor) stop(c *child, why string, now time.Time) {
	if c.draining {
		return
	}
	c.draining = true
	c.reason = why
	c.deadline = now.Add(sv.cfg.GracefulTimeout + killGrace)
	var buf [msgBufSize]byte
	m := message{kind: kindStop, slot: c.slot, pid: c.pid, gen: c.gen, text: []byte(why)}
	if err := sv.q.SendNoWait(workerType(c.slot), m.encode(buf[:])); err != nil {
		sv.log.Warn("cannot queue a stop message; sending SIGTERM", "slot", c.slot, "pid", c.pid, "err", err)
		c.cmd.Signal(syscall.SIGTERM)
	}
}

func (sv *supervisor) kill(c *child, why string) {
	if c.killed {
		return
	}
	c.killed = true
	if c.reason == "" {
		c.reason = why
	}
	sv.log.Warn("killing worker", "slot", c.slot, "pid", c.pid, "generation", c.gen, "why", why)
	c.cmd.Signal(syscall.SIGKILL)
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
	sv.board.hdr[hWant].Store(0)
	sv.log.Info("stopping gracefully", "why", why, "graceful_timeout", sv.cfg.GracefulTimeout, "workers", len(sv.children))
	now := time.Now()
	for _, c := range sv.slots {
		if c != nil {
			sv.stop(c, "the server is stopping", now)
		}
	}
}

func (sv *supervisor) stopNow(why string) {
	sv.stopping = true
	sv.board.hdr[hWant].Store(0)
	sv.log.Info("stopping at once", "why", why, "workers", len(sv.children))
	for _, c := range sv.slots {
		if c != nil {
			c.draining = true
			sv.kill(c, "the server is stopping at once")
		}
	}
}

func (sv *supervisor) onSignal(sig syscall.Signal) {
	name := unix.SignalName(sig)
	now := time.Now()
	switch sig {
	case syscall.SIGTERM, syscall.SIGINT:
		if sv.stopping && sig == syscall.SIGINT {
			sv.stopNow("a second SIGINT")
		} else {
			sv.beginStop(name)
		}
	case syscall.SIGQUIT:
		sv.stopNow(name)
	case syscall.SIGHUP:
		if sv.stopping {
			return
		}
		sv.gen++
		sv.board.hdr[hGeneration].Store(sv.gen)
		sv.log.Info("reloading: replacing every worker", "signal", name, "generation", sv.gen)
	case syscall.SIGTTIN:
		if sv.want < sv.cfg.slots {
			sv.want++
		}
		sv.board.hdr[hWant].Store(uint64(sv.want))
		sv.log.Info("one worker more", "signal", name, "workers", sv.want)
	case syscall.SIGTTOU:
		if sv.want > 1 {
			sv.want--
		}
		sv.board.hdr[hWant].Store(uint64(sv.want))
		sv.log.Info("one worker fewer", "signal", name, "workers", sv.want)
	case syscall.SIGUSR1:
		sv.logCounters()
	}
	sv.reconcile(now)
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
	for _, c := range sv.slots {
		if c != nil && !c.draining {
			m := message{kind: kindReport, slot: c.slot, pid: c.pid, gen: c.gen}
			sv.q.SendNoWait(workerType(c.slot), m.encode(buf[:]))
		}
	}
}

func (sv *supervisor) onMessage(m message) {
	if m.slot >= len(sv.slots) {
		return
	}
	c := sv.slots[m.slot]
	if c == nil || c.pid != m.pid || c.gen != m.gen {
		return // from a worker already reaped
	}
	now := time.Now()
	switch m.kind {
	case kindReady:
		c.ready, c.readyAt = true, now
		sv.log.Info("worker ready", "slot", c.slot, "pid", c.pid, "generation", c.gen, "start_time", now.Sub(c.started).Round(time.Millisecond))
		sv.announce()
	case kindExiting:
		if !c.draining {
			c.draining = true
			c.reason = string(m.text)
			c.deadline = now.Add(sv.cfg.GracefulTimeout + killGrace)
			sv.log.Info("worker retiring", "slot", c.slot, "pid", c.pid, "generation", c.gen, "why", c.reason)
		}
	case kindFailed:
		sv.log.Error("worker cannot start", "slot", c.slot, "pid", c.pid, "why", string(m.text))
		c.reason = "cannot start: " + string(m.text)
		sv.fail(serverErr("start a worker of", errors.New(string(m.text)), ""))
	case kindReport:
		sv.log.Info("worker report", "slot", c.slot, "pid", c.pid, "generation", c.gen, "report", string(m.text))
	case kindBroadcast:
		sv.relay(m)
	}
	sv.reconcile(now)
}

// announce calls Ready once every worker of the first pool is serving.
func (sv *supervisor) announce() {
	if sv.announced {
		return
	}
	ready := 0
	for _, c := range sv.slots {
		if c != nil && c.ready && !c.draining {
			ready++
		}
	}
	if ready < sv.want {
		return
	}
	sv.announced = true
	sv.log.Info("server ready", "addr", sv.addr.String(), "workers", ready)
	if sv.cfg.Ready != nil {
		sv.cfg.Ready(sv.addr)
	}
}

// relay passes a broadcast on to every other worker, without waiting: a
// full queue drops it for that worker (counted, and logged once a second).
func (sv *supervisor) relay(m message) {
	var buf [msgBufSize]byte
	from := m.slot
	for _, c := range sv.slots {
		if c == nil || c.slot == from {
			continue
		}
		out := message{kind: kindBroadcast, slot: c.slot, pid: c.pid, gen: c.gen, arg: uint64(from), text: m.text}
		if err := sv.q.SendNoWait(workerType(c.slot), out.encode(buf[:])); err != nil {
			sv.dropped++
		}
	}
	if sv.dropped > 0 && time.Since(sv.droppedAt) > time.Second {
		sv.log.Warn("broadcasts dropped: the queue is full", "dropped", sv.dropped)
		sv.dropped, sv.droppedAt = 0, time.Now()
	}
}

func (sv *supervisor) onExit(e proc.Exit) {
	c := sv.children[e.Cmd]
	if c == nil {
		return
	}
	now := time.Now()
	delete(sv.children, e.Cmd)
	sv.slots[c.slot] = nil
	w := &sv.board.slots[c.slot]
	conns := w[wConns].Load()
	if c.reason == "" {
		c.reason = reasonWords(w[wReason].Load(), w[wRequests].Load())
		c.draining = c.draining || c.reason != ""
	}
	sv.board.retire(c.slot)
	sv.purge(c.slot)

	st := e.Status
	uptime := now.Sub(c.started)
	expected := c.draining || c.killed
	attrs := []any{"slot", c.slot, "pid", c.pid, "generation", c.gen, "status", st.String(),
		"uptime", uptime.Round(time.Millisecond), "connections", conns}
	if c.reason != "" {
		attrs = append(attrs, "why", c.reason)
	}
	if e.Err != nil {
		attrs = append(attrs, "wait_error", e.Err.Error())
	}
	level := slog.LevelInfo
	if !expected && !st.Success() {
		level = slog.LevelWarn
	}
	sv.log.Log(context.Background(), level, "worker exited", attrs...)

	switch {
	case st.ExitCode() == ExitFailed && !c.ready:
		sv.fail(serverErr("start a worker of", errors.New("worker exited with status 3 before serving"), c.reason))
	case !expected && !st.Success() && !sv.stopping && (!c.ready || uptime < crashWindow):
		pause := sv.crashed(now)
		sv.log.Warn("worker died at start; pausing before the next", "pause", pause, "in_a_row", sv.crashes)
	}
	sv.reconcile(now)
}

// purge drops what is left in a reaped worker's inbox, so that its
// successor in the slot starts with an empty one.
func (sv *supervisor) purge(slot int) {
	var buf [msgHeader]byte
	for {
		if _, _, err := sv.q.Receive(buf[:], msgq.Type(workerType(slot)), msgq.NoWait|msgq.Truncate); err != nil {
			return
		}
	}
}

func (sv *supervisor) onTick(now time.Time) {
	for _, c := range sv.slots {
		if c == nil {
			continue
		}
		if c.draining {
			if !c.killed && now.After(c.deadline) {
				sv.kill(c, "it outlived its graceful timeout")
			}
			continue
		}
		beat := time.Unix(0, int64(sv.board.slots[c.slot][wHeartbeat].Load()))
		if beat.Before(c.started) {
			beat = c.started
		}
		if quiet := now.Sub(beat); quiet > sv.cfg.Timeout {
			c.draining = true
			c.reason = "hung: no heartbeat for " + quiet.Round(time.Millisecond).String()
			c.deadline = now.Add(killGrace)
			sv.log.Warn("worker timed out; sending SIGQUIT for a stack dump, then SIGKILL", "slot", c.slot, "pid", c.pid,
				"generation", c.gen, "no_heartbeat_for", quiet.Round(time.Millisecond))
			c.cmd.Signal(syscall.SIGQUIT)
		}
	}
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
