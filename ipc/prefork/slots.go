package prefork

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/ipctoolkit/ipc/ipc/proc"
)

// Every scoreboard slot is a small state machine the supervisor keeps:
//
//	free ──spawn──▶ starting ──board says ready──▶ ready
//	  ▲                │                             │
//	  │      died before ready: backoff              │ stop order (reload,
//	  │                ▼                             │ shrink, stop) or it
//	  ├──retry time── backoff                        │ drains by itself
//	  │                                              ▼
//	  └───────────────────── reaped ◀──────────── draining
//
// Backoff belongs to a slot and to crashes before readiness only: a worker
// that was ready and then died is replaced at once, however young it was
// (an OOM killer's storm of kills must not empty the pool), while a slot
// whose workers cannot get started waits 100 ms, then twice as long after
// each failure in a row, up to 30 s, and logs why.
type slotPhase int

const (
	slotFree slotPhase = iota
	slotBackoff
	slotStarting
	slotReady
	slotDraining
)

const (
	crashPauseMin = 100 * time.Millisecond
	crashPauseMax = 30 * time.Second
)

type slot struct {
	i       int
	phase   slotPhase
	c       *child
	crashes int       // start crashes in a row in this slot
	retryAt time.Time // in slotBackoff: when to start again
	// conn, in fork mode, is the connection the next child of the slot
	// is started with.
	conn *os.File
	// sent and sentBytes count the messages queued for this slot's inbox;
	// with what the worker says it read (wInboxRead, wInboxBytes) they tell
	// who fills the queue.
	sent, sentBytes uint64
}

type child struct {
	slot     *slot
	gen      uint64
	cmd      *proc.Cmd
	pid      int
	started  time.Time
	ready    bool
	draining bool      // told to stop (or stopping by itself)
	deadline time.Time // when draining: SIGKILL after this
	killed   bool      // SIGKILL sent
	hung     bool      // killed (or being killed) for want of a heartbeat
	stopped  bool      // its last event was a stop
	// stopPending: the stop order is in the scoreboard but its doorbell
	// did not fit in the queue; the tick resends it.
	stopPending bool
	reason      string // why it is stopping, in words
}

// exitRecord is what OnWorkerExit and the crash breaker are told of c's
// end: its status and how long it ran. An end the supervisor asked for
// (draining) or caused (killed) is expected.
func (c *child) exitRecord(st proc.Status, uptime time.Duration) WorkerExit {
	return WorkerExit{Slot: c.slot.i, PID: c.pid, Generation: c.gen, Status: st,
		Ready: c.ready, Expected: c.draining || c.killed, Reason: c.reason, Uptime: uptime}
}

func (sv *supervisor) spawn(s *slot, now time.Time) error {
	limit := uint64(sv.cfg.MaxRequests)
	if limit > 0 && sv.cfg.MaxRequestsJitter > 0 {
		limit += uint64(rand.IntN(sv.cfg.MaxRequestsJitter + 1))
	}
	b := boot{
		slot: s.i, slots: sv.cfg.slots, gen: sv.gen,
		semID: sv.set.ID(), queueID: sv.q.ID(), segID: sv.m.ID(), supervisor: os.Getpid(),
		maxRequests: limit, graceful: sv.cfg.GracefulTimeout, timeout: sv.cfg.Timeout, accept: sv.cfg.Accept,
		listeners: len(sv.dep.lns), mode: sv.cfg.Mode,
	}
	files, started, err := sv.modeFiles(s)
	if err != nil {
		return err
	}
	cmd := proc.Command(sv.cfg.Role, sv.cfg.WorkerArgs...)
	cmd.ExtraFiles = files
	cmd.Env = []string{b.encode()}
	// SIGTERM when the supervisor dies: the worker stops gracefully on its
	// own (and WatchParent covers the moment before signal.Notify).
	cmd.Pdeathsig = syscall.SIGTERM
	// Its own process group: a terminal's ^C reaches the supervisor alone,
	// which then stops the workers in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	sv.dep.runAs.apply(cmd.SysProcAttr)

	w := &sv.board.slots[s.i]
	sv.board.clear(s.i)
	w[wGeneration].Store(sv.gen)
	w[wStarted].Store(uint64(now.UnixNano()))
	w[wHeartbeat].Store(uint64(now.UnixNano()))
	w[wState].Store(stateStarting)
	sv.opsCmd(cmd)
	if err := sv.group.Start(cmd); err != nil {
		started(0, err)
		sv.board.clear(s.i)
		return err
	}
	started(cmd.Pid(), nil)
	w[wPID].Store(uint64(cmd.Pid()))
	sv.board.hdr[hWorkerStarts].Add(1)
	c := &child{slot: s, gen: sv.gen, cmd: cmd, pid: cmd.Pid(), started: now}
	s.c, s.phase = c, slotStarting
	s.sent, s.sentBytes = 0, 0
	sv.byCmd[cmd] = c
	sv.log.Log(context.Background(), sv.perChildLevel(), "worker started", "slot", s.i, "pid", c.pid, "generation", c.gen)
	sv.poolSpawned()
	return nil
}

// markReady records that c serves, whichever told first: its message or
// its slot.
func (sv *supervisor) markReady(c *child, now time.Time, via string) {
	if c.ready {
		return
	}
	c.ready = true
	c.slot.crashes = 0
	if !c.draining {
		c.slot.phase = slotReady
	}
	attrs := []any{"slot", c.slot.i, "pid", c.pid, "generation", c.gen, "start_time", now.Sub(c.started).Round(time.Millisecond)}
	if via != "" {
		attrs = append(attrs, "seen_in", via)
	}
	sv.log.Log(context.Background(), sv.perChildLevel(), "worker ready", attrs...)
	sv.announce()
}

// observe brings the slots' phases up to what the scoreboard says: a
// worker that is serving, or draining by itself, although its message
// about it was lost or is still queued.
func (sv *supervisor) observe(now time.Time) {
	for _, s := range sv.slots {
		c := s.c
		if c == nil {
			continue
		}
		switch sv.board.slots[s.i][wState].Load() {
		case stateReady:
			if !c.ready {
				sv.markReady(c, now, "scoreboard")
			}
		case stateStopping:
			if !c.ready {
				sv.markReady(c, now, "scoreboard")
			}
			if !c.draining {
				w := &sv.board.slots[s.i]
				sv.retiring(c, reasonWords(w[wReason].Load(), w[wRequests].Load()), now)
			}
			c.stopPending = false
		}
	}
}

// retiring records that c drains of its own accord (max requests, SIGTERM,
// its supervisor's objects gone).
func (sv *supervisor) retiring(c *child, why string, now time.Time) {
	c.draining = true
	c.slot.phase = slotDraining
	if !strings.HasPrefix(c.reason, "cannot start: ") {
		// A worker that said why it cannot start keeps that reason,
		// which its exit's log line and OnWorkerExit give.
		c.reason = why
	}
	c.deadline = now.Add(sv.cfg.GracefulTimeout + killGrace)
	sv.log.Log(context.Background(), sv.perChildLevel(), "worker retiring", "slot", c.slot.i, "pid", c.pid, "generation", c.gen, "why", why)
}

// reconcile keeps the pool at size: starts workers of the current
// generation up to want (a slot in backoff counts, and starts again when its
// pause is over), stops the surplus, and retires workers of older
// generations as new ones become ready, so that the number serving never
// drops during a reload. It runs on every event and every tick, so nothing
// waits on a message that may have been lost.
func (sv *supervisor) reconcile(now time.Time) {
	sv.observe(now)
	sv.resendStops()
	if sv.stopping {
		return
	}
	if sv.cfg.Mode == ModeFork {
		// No pool to keep: the acceptor starts the children.
		sv.announce()
		return
	}
	var cur, old []*child
	var waiting []*slot
	for _, s := range sv.slots {
		switch {
		case s.phase == slotBackoff:
			waiting = append(waiting, s)
		case s.c == nil || s.c.draining:
		case s.c.gen == sv.gen:
			cur = append(cur, s.c)
		default:
			old = append(old, s.c)
		}
	}
	// Surplus slots in backoff are given up first.
	for len(cur)+len(waiting) > sv.want && len(waiting) > 0 {
		waiting[len(waiting)-1].phase = slotFree
		waiting = waiting[:len(waiting)-1]
	}
	for _, s := range waiting {
		if !now.Before(s.retryAt) {
			if sv.trySpawn(s, now) {
				cur = append(cur, s.c)
			}
		}
	}
	for n := sv.want - len(cur) - countBackoff(sv.slots); n > 0; n-- {
		s := sv.freeSlot()
		if s == nil {
			break
		}
		if !sv.trySpawn(s, now) {
			if sv.stopping {
				return
			}
			continue
		}
		cur = append(cur, s.c)
	}
	if len(cur)+countBackoff(sv.slots) < sv.want && sv.freeSlot() == nil && len(old) > 0 && !sv.draining() {
		// A reload with every slot taken (MaxWorkers == Workers): make
		// room, one old worker at a time.
		oldest := old[0]
		for _, c := range old[1:] {
			if c.gen < oldest.gen || c.gen == oldest.gen && c.started.Before(oldest.started) {
				oldest = c
			}
		}
		sv.stop(oldest, "replaced by generation "+itoa(sv.gen)+" (no free slot: MaxWorkers is Workers)", now)
		old = slices.DeleteFunc(old, func(c *child) bool { return c == oldest })
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

// draining reports whether some worker is draining.
func (sv *supervisor) draining() bool {
	for _, s := range sv.slots {
		if s.c != nil && s.c.draining {
			return true
		}
	}
	return false
}

func countBackoff(slots []*slot) int {
	n := 0
	for _, s := range slots {
		if s.phase == slotBackoff {
			n++
		}
	}
	return n
}

func (sv *supervisor) freeSlot() *slot {
	for _, s := range sv.slots {
		if s.phase == slotFree && s.c == nil {
			return s
		}
	}
	return nil
}

// trySpawn starts a worker in s, or puts s in backoff saying why not.
func (sv *supervisor) trySpawn(s *slot, now time.Time) bool {
	err := sv.spawn(s, now)
	if err == nil {
		return true
	}
	if errors.Is(err, proc.ErrUnknownRole) || errors.Is(err, proc.ErrNoDispatch) {
		sv.fail(serverErr("start a worker of", err, "role "+sv.cfg.Role))
		return false
	}
	pause := sv.backoff(s, now)
	sv.log.Error("cannot start a worker", "slot", s.i, "err", err, "retry_in", pause, "in_a_row", s.crashes)
	return false
}

// backoff counts a start failure of slot s and returns its pause.
func (sv *supervisor) backoff(s *slot, now time.Time) time.Duration {
	s.crashes++
	pause := min(crashPauseMin<<min(s.crashes-1, 20), crashPauseMax)
	s.phase, s.retryAt = slotBackoff, now.Add(pause)
	return pause
}

// stop orders c to stop gracefully: in its slot (the order that counts)
// and through its inbox (the doorbell; resent by the tick if it did not
// fit). c gets the graceful timeout.
func (sv *supervisor) stop(c *child, why string, now time.Time) {
	if c.draining {
		return
	}
	c.draining = true
	c.slot.phase = slotDraining
	c.reason = why
	c.deadline = now.Add(sv.cfg.GracefulTimeout + killGrace)
	sv.board.slots[c.slot.i][wOrder].Store(orderStop)
	c.stopPending = !sv.sendStop(c)
}

func (sv *supervisor) sendStop(c *child) bool {
	var buf [msgBufSize]byte
	m := message{kind: kindStop, slot: c.slot.i, pid: c.pid, gen: c.gen, text: []byte(c.reason)}
	return sv.sendTo(c.slot, m.encode(buf[:])) == nil
}

// resendStops rings again for the stop orders whose message did not fit.
func (sv *supervisor) resendStops() {
	for _, s := range sv.slots {
		if c := s.c; c != nil && c.stopPending && !c.killed {
			c.stopPending = !sv.sendStop(c)
		}
	}
}

func (sv *supervisor) kill(c *child, why string) {
	if c.killed {
		return
	}
	c.killed = true
	if c.reason == "" || !c.draining {
		c.reason = why
	}
	c.draining = true
	c.slot.phase = slotDraining
	sv.log.Warn("killing worker", "slot", c.slot.i, "pid", c.pid, "generation", c.gen, "why", why)
	c.cmd.Signal(syscall.SIGKILL)
}

// announce calls Ready once every worker of the first pool is serving.
func (sv *supervisor) announce() {
	if sv.announced {
		return
	}
	ready := 0
	for _, s := range sv.slots {
		if s.c != nil && s.c.ready && !s.c.draining {
			ready++
		}
	}
	if ready < sv.want && sv.cfg.Mode != ModeFork {
		return
	}
	sv.announced = true
	sv.upgradeAnnounce()
	sv.log.Info("server ready", "addr", sv.addr.String(), "workers", ready)
	if sv.cfg.Ready != nil {
		sv.cfg.Ready(sv.addr)
	}
}

func (sv *supervisor) onExit(e proc.Exit) {
	if e.Cmd == sv.janitor {
		sv.janitorExited(e)
		return
	}
	c := sv.byCmd[e.Cmd]
	if c == nil {
		return
	}
	if sv.cfg.Mode == ModeFork {
		sv.forkExited(c, e)
		return
	}
	now := time.Now()
	s := c.slot
	delete(sv.byCmd, e.Cmd)
	w := &sv.board.slots[s.i]
	conns := w[wConns].Load()
	if !c.ready && w[wState].Load() >= stateReady {
		c.ready = true // it served, though nobody had looked yet
	}
	if c.reason == "" {
		c.reason = reasonWords(w[wReason].Load(), w[wRequests].Load())
		c.draining = c.draining || c.reason != ""
	}
	if t := sv.board.text(s.i); !c.ready && (c.reason == "" || strings.HasPrefix(t, "cannot start: ")) {
		c.reason = t // why it could not start
	}
	sv.board.retire(s.i)
	sv.purge(s.i)
	s.c, s.phase = nil, slotFree
	if sv.holder.pid == c.pid {
		sv.holder = holderWatch{}
		sv.board.hdr[hHolder].Store(0)
		sv.board.hdr[hHolderSince].Store(0)
	}

	st := e.Status
	uptime := now.Sub(c.started)
	ex := c.exitRecord(st, uptime)
	attrs := []any{"slot", s.i, "pid", c.pid, "generation", c.gen, "status", st.String(),
		"uptime", uptime.Round(time.Millisecond), "connections", conns}
	if c.reason != "" {
		attrs = append(attrs, "why", c.reason)
	}
	if e.Err != nil {
		attrs = append(attrs, "wait_error", e.Err.Error())
	}
	level := slog.LevelInfo
	if !ex.Expected && !st.Success() {
		level = slog.LevelWarn
	}
	sv.log.Log(context.Background(), level, "worker exited", attrs...)
	sv.countExit(c, st, ex.Expected)
	if sv.cfg.OnWorkerExit != nil {
		sv.cfg.OnWorkerExit(ex)
	}
	sv.poolExit(c, ex, now)

	switch {
	case sv.stopping:
	case st.ExitCode() == ExitFailed && !c.ready && !sv.announced:
		// The first pool cannot start: a configuration error, which
		// retrying will not mend.
		sv.fail(serverErr("start a worker of", errors.New("worker exited with status 3 before serving"), c.reason))
	case !c.ready && (!c.draining || c.hung):
		pause := sv.backoff(s, now)
		why := c.reason
		if why == "" {
			why = st.String()
		}
		sv.log.Warn("worker died at start; pausing before the next", "slot", s.i, "pause", pause,
			"retry_at", s.retryAt, "in_a_row", s.crashes, "why", why)
	}
	sv.reconcile(now)
}
