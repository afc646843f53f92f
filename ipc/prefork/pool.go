package prefork

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// Pool management, as Apache's prefork MPM and PHP-FPM size their pools.
//
// A static pool keeps Server.Workers. A dynamic pool looks at its workers
// once a second (Apache's perform_idle_server_maintenance, PHP-FPM's
// fpm_pctl_perform_idle_server_maintenance): with fewer than MinSpare idle
// workers it starts 1, then 2, 4 ... up to 32 a second while the shortage
// lasts; with more than MaxSpare it retires one idle worker a second. A
// worker still starting counts as idle, as in Apache: it was started at
// least a tick ago, and starting more would only swamp the machine. An
// ondemand pool starts with no worker: the supervisor polls the listeners
// while no worker is idle and starts one when a connection waits (PHP-FPM's
// fpm_pctl_on_socket_accept), and retires the worker idle the longest once
// it has been idle for WorkerIdleTimeout, one a second.
//
// Idle comes from the scoreboard: a worker that serves (state ready) with no
// open connection (wActive 0); busy, one with at least one. A worker serves
// many connections at once, so busy is not full: a busy worker still takes
// its turn at the accept lock. The counts say how many workers hold no
// client, which is what the spares are for.
//
// MaxWorkers is the number of scoreboard slots and so the most worker
// processes there can be, starting and draining ones included. In a
// dynamic or ondemand pool it is also the pool's maximum: the supervisor
// never decides to keep more than that serving, and Scale (SIGTTIN and
// SIGTTOU) lowers or raises that maximum (1 to MaxWorkers) instead of
// setting a size, since the pool sets its own size. A reload starts the new
// generation at the pool's current size, retiring old workers as new ones
// serve (with every slot taken, one old worker makes room first); the
// maintenance waits until no worker of an older generation serves.
//
// When the maximum refuses a worker the load asks for (a dynamic pool short
// of idle workers, or a connection waiting with no idle worker in an
// ondemand one) the supervisor counts it (Status.Pool.MaxWorkersReached,
// PHP-FPM's max_children_reached) and logs "max workers reached" at most
// once every 10 s.

// PoolMode is how the number of workers is decided.
type PoolMode int

const (
	// PoolStatic keeps Server.Workers running (SIGTTIN and SIGTTOU
	// change it by one).
	PoolStatic PoolMode = iota
	// PoolDynamic keeps between MinSpare and MaxSpare idle workers, up to
	// MaxWorkers in all, starting with StartWorkers.
	PoolDynamic
	// PoolOndemand starts no worker until a connection waits with no idle
	// worker to take it, and retires a worker idle for WorkerIdleTimeout
	// (one a second, the one idle the longest).
	PoolOndemand
)

// String names the mode as the command line does.
func (m PoolMode) String() string {
	switch m {
	case PoolStatic:
		return "static"
	case PoolDynamic:
		return "dynamic"
	case PoolOndemand:
		return "ondemand"
	}
	return "PoolMode(" + strconv.Itoa(int(m)) + ")"
}

// ParsePoolMode reads "static", "dynamic" or "ondemand".
func ParsePoolMode(s string) (PoolMode, error) {
	for _, m := range []PoolMode{PoolStatic, PoolDynamic, PoolOndemand} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, errors.New("unknown pool mode " + strconv.Quote(s) + ": want static, dynamic or ondemand")
}

const (
	// DefaultWorkerIdleTimeout is how long a worker of an ondemand pool may
	// be idle before it retires (PHP-FPM's pm.process_idle_timeout).
	DefaultWorkerIdleTimeout = 10 * time.Second
	// poolTick is the period of the pool's maintenance, Apache's and
	// PHP-FPM's one second.
	poolTick = time.Second
	// maxSpawnRate bounds the workers a dynamic pool starts in one tick
	// (Apache's MAX_SPAWN_RATE, PHP-FPM's FPM_MAX_SPAWN_RATE).
	maxSpawnRate = 32
	// maxReachedLogEvery rate-limits "max workers reached".
	maxReachedLogEvery = 10 * time.Second
)

// DefaultPoolMax is the maximum of a dynamic or ondemand pool whose
// MaxWorkers is 0: four workers per CPU, at least twice MaxSpare and
// StartWorkers, at most MaxSlots.
func DefaultPoolMax(maxSpare, startWorkers int) int {
	return min(max(4*runtime.NumCPU(), 2*maxSpare, startWorkers), MaxSlots)
}

// Header words of the pool's band (24 to 31), and one taken from the free
// words at the top.
const (
	hPool            = 24 + iota // mode | min-spare<<16 | max-spare<<32 | the pool's maximum<<48
	hPoolIdleTimeout             // WorkerIdleTimeout, nanoseconds (ondemand)
	hMaxReached                  // times the maximum refused a worker the load asked for
	hCrashTrips                  // times the crash breaker tripped
	hCrashes                     // worker crashes (crash.go says which ends are crashes)
	hSpawnLoad                   // workers the pool manager started for the load
	hSpawnReplace                // workers started to replace one that ended by itself
	hRetireIdle                  // idle workers the pool manager retired
	hSpawnReload     = 63        // workers started for a new generation (reload, crash restart)
)

// poolConfig checks the pool's fields and fills in their defaults: the
// workers to start with (c.workers) and the slots (c.slots).
func (c *config) poolConfig() error {
	if err := c.crashConfig(); err != nil {
		return err
	}
	bad := func(why, detail string) error { return serverErr("configure", errors.New(why), detail) }
	spares := c.MinSpare != 0 || c.MaxSpare != 0 || c.StartWorkers != 0
	switch c.Pool {
	case PoolStatic:
		if spares {
			return bad("MinSpare, MaxSpare and StartWorkers are for a dynamic Pool", "the pool is static")
		}
		if c.WorkerIdleTimeout != 0 {
			return bad("WorkerIdleTimeout is for an ondemand Pool", "the pool is static")
		}
		return nil
	case PoolDynamic:
		if c.WorkerIdleTimeout != 0 {
			return bad("WorkerIdleTimeout is for an ondemand Pool", "the pool is dynamic")
		}
	case PoolOndemand:
		if spares {
			return bad("MinSpare, MaxSpare and StartWorkers are for a dynamic Pool", "the pool is ondemand")
		}
	default:
		return bad("unknown Pool", c.Pool.String())
	}
	if c.Workers != 0 {
		return bad("Workers is for a static Pool", "the pool is "+c.Pool.String()+": MaxWorkers bounds it")
	}
	if c.MinSpare < 0 || c.MaxSpare < 0 || c.StartWorkers < 0 || c.MaxWorkers < 0 {
		return bad("MinSpare, MaxSpare, StartWorkers and MaxWorkers must not be negative", "")
	}
	if c.WorkerIdleTimeout < 0 {
		return bad("WorkerIdleTimeout must not be negative", c.WorkerIdleTimeout.String())
	}
	if c.Pool == PoolDynamic {
		if c.MinSpare == 0 {
			c.MinSpare = 1
		}
		if c.MaxSpare == 0 {
			c.MaxSpare = max(c.MinSpare+2, 3)
		}
		if c.StartWorkers == 0 {
			// PHP-FPM's default pm.start_servers.
			c.StartWorkers = c.MinSpare + (c.MaxSpare-c.MinSpare)/2
		}
		if c.MinSpare > c.MaxSpare {
			return bad("MinSpare must not be above MaxSpare", strconv.Itoa(c.MinSpare)+" > "+strconv.Itoa(c.MaxSpare))
		}
	} else if c.WorkerIdleTimeout == 0 {
		c.WorkerIdleTimeout = DefaultWorkerIdleTimeout
	}
	c.slots = c.MaxWorkers
	if c.slots == 0 {
		c.slots = DefaultPoolMax(c.MaxSpare, c.StartWorkers)
	}
	switch {
	case c.slots > MaxSlots:
		return bad("MaxWorkers is at most "+strconv.Itoa(MaxSlots), strconv.Itoa(c.slots))
	case c.StartWorkers > c.slots:
		return bad("StartWorkers must not be above MaxWorkers", strconv.Itoa(c.StartWorkers)+" > "+strconv.Itoa(c.slots))
	case c.MaxSpare > c.slots:
		return bad("MaxSpare must not be above MaxWorkers", strconv.Itoa(c.MaxSpare)+" > "+strconv.Itoa(c.slots))
	}
	c.workers = c.StartWorkers // 0 for ondemand
	return nil
}

// poolManager is the supervisor's part that sizes a dynamic or ondemand
// pool. It only moves sv.want (and picks which idle worker retires):
// reconcile starts and stops workers as for a static pool.
type poolManager struct {
	mode               PoolMode
	minSpare, maxSpare int
	max                int // the pool's maximum: MaxWorkers, or what Scale set
	idleTimeout        time.Duration
	rate               int       // dynamic: workers to start at the next shortage
	next               time.Time // the next maintenance
	// loadCredit and replaceCredit are the spawns reconcile owes to the
	// load and to workers that ended: they say why the next spawns happen.
	loadCredit, replaceCredit int
	reachedAt                 time.Time // last "max workers reached" line
	reachedSince              int       // times since that line
	accepted                  uint64    // ondemand: connections accepted, at the last tick
	served                    bool      // ondemand: a worker has been ready
	watch                     *listenWatch
}

// startPool sets the pool up before the first reconcile.
func (sv *supervisor) startPool() error {
	p := &sv.pool
	p.mode = sv.cfg.Pool
	p.minSpare, p.maxSpare, p.max = sv.cfg.MinSpare, sv.cfg.MaxSpare, sv.cfg.slots
	p.idleTimeout = sv.cfg.WorkerIdleTimeout
	p.rate = 1
	p.next = time.Now().Add(poolTick)
	sv.board.hdr[hPoolIdleTimeout].Store(uint64(p.idleTimeout))
	sv.storePoolLimits()
	if p.mode != PoolOndemand {
		return nil
	}
	w, err := newListenWatch(sv.dep.files())
	if err != nil {
		return serverErr("start", err, "watch the listeners for the ondemand pool")
	}
	p.watch = w
	w.arm()
	// No worker to wait for: the server is ready at once.
	sv.announce()
	return nil
}

func (sv *supervisor) storePoolLimits() {
	p := &sv.pool
	sv.board.hdr[hPool].Store(uint64(p.mode) | uint64(p.minSpare)<<16 | uint64(p.maxSpare)<<32 | uint64(p.max)<<48)
}

// stopWatch ends the listener watch: before the listeners close, so that
// its poll never waits on a closed (or reused) descriptor.
func (sv *supervisor) stopWatch() {
	if w := sv.pool.watch; w != nil {
		sv.pool.watch = nil
		w.stop()
	}
}

// waiting is the channel on which the listener watch says a connection
// waits (nil, never ready, without a watch).
func (p *poolManager) waiting() <-chan struct{} {
	if p.watch == nil {
		return nil
	}
	return p.watch.fired
}

// poolCount is what the pool manager reads of the current generation.
type poolCount struct {
	idle, busy, starting int
	// idlest is the ready worker idle the longest, since idleSince.
	idlest    *child
	idleSince time.Time
}

// count reads the scoreboard: which workers of the current generation are
// starting, idle or busy. Starting includes a slot in backoff (it will
// start again) and the workers reconcile owes but has no free slot for yet
// (draining workers hold them): the pool must not ask for those twice.
func (sv *supervisor) count() poolCount {
	var n poolCount
	live := 0
	for _, s := range sv.slots {
		c := s.c
		if c == nil {
			if s.phase == slotBackoff {
				n.starting++
				live++
			}
			continue
		}
		if c.draining || c.gen != sv.gen {
			continue
		}
		live++
		if !c.ready {
			n.starting++
			continue
		}
		w := &sv.board.slots[s.i]
		if w[wActive].Load() > 0 {
			n.busy++
			continue
		}
		n.idle++
		since := unixTime(w[wLastActive].Load())
		if since.Before(c.started) {
			since = c.started
		}
		if n.idlest == nil || since.Before(n.idleSince) {
			n.idlest, n.idleSince = c, since
		}
	}
	n.starting += max(0, sv.want-live)
	return n
}

// reloading reports whether a worker of an older generation still serves.
func (sv *supervisor) reloading() bool {
	for _, s := range sv.slots {
		if c := s.c; c != nil && !c.draining && c.gen != sv.gen {
			return true
		}
	}
	return false
}

// poolTick runs on every supervisor tick: it re-arms the ondemand watch and,
// once a second, maintains the pool.
func (sv *supervisor) poolTick(now time.Time) {
	p := &sv.pool
	if p.mode == PoolStatic || sv.stopping {
		return
	}
	if p.mode == PoolOndemand {
		sv.arrivals(now)
	}
	sv.armWatch()
	p.loadCredit = min(p.loadCredit, sv.want)
	p.replaceCredit = min(p.replaceCredit, sv.want)
	if now.Before(p.next) {
		return
	}
	p.next = now.Add(poolTick)
	if sv.reloading() {
		return
	}
	if p.mode == PoolDynamic {
		sv.maintainDynamic(now)
	} else {
		sv.retireIdle(now)
	}
}

// maintainDynamic is one second's maintenance of a dynamic pool.
func (sv *supervisor) maintainDynamic(now time.Time) {
	p := &sv.pool
	n := sv.count()
	idle := n.idle + n.starting
	switch {
	case idle > p.maxSpare && n.idlest != nil:
		p.rate = 1
		sv.retire(n.idlest, "idle workers above --max-spare ("+strconv.Itoa(n.idle)+" > "+strconv.Itoa(p.maxSpare)+")", now)
	case idle < p.minSpare:
		k := min(p.rate, p.minSpare-idle, p.max-sv.want)
		if k <= 0 {
			p.rate = 1
			sv.maxReached(now, "idle workers below --min-spare", idle)
			return
		}
		if p.rate >= 8 {
			sv.log.Warn("the pool seems busy: raise --start-workers or --min-spare and --max-spare?",
				"idle", idle, "min_spare", p.minSpare, "starting", k, "workers", sv.want)
		}
		sv.grow(k, "idle workers below --min-spare", idle)
		p.rate = min(2*p.rate, maxSpawnRate)
	default:
		p.rate = 1
	}
}

// retireIdle retires the worker of an ondemand pool idle the longest, if
// for the idle timeout: one a tick, as PHP-FPM's maintenance kills its
// last idle child, so that a pool left by its clients shrinks a worker a
// second instead of losing every worker in the same moment (and starting
// them again for the next burst).
func (sv *supervisor) retireIdle(now time.Time) {
	n := sv.count()
	if n.idlest != nil && now.Sub(n.idleSince) >= sv.pool.idleTimeout {
		sv.retire(n.idlest, "idle for "+now.Sub(n.idleSince).Round(100*time.Millisecond).String()+" (--idle-timeout-worker "+sv.pool.idleTimeout.String()+")", now)
	}
}

// grow raises the pool by k workers, which reconcile starts.
func (sv *supervisor) grow(k int, why string, idle int) {
	sv.want += k
	sv.pool.loadCredit += k
	sv.board.hdr[hWant].Store(uint64(sv.want))
	sv.log.Info("pool grows", "why", why, "idle", idle, "starting", k, "workers", sv.want, "max_workers", sv.pool.max)
}

// retire stops the idle worker c and lowers the pool by one.
func (sv *supervisor) retire(c *child, why string, now time.Time) {
	sv.want--
	sv.board.hdr[hWant].Store(uint64(sv.want))
	sv.board.hdr[hRetireIdle].Add(1)
	sv.log.Info("pool shrinks", "why", why, "slot", c.slot.i, "pid", c.pid, "workers", sv.want)
	sv.stop(c, why, now)
}

// maxReached counts a worker the maximum refused, and logs it at most every
// maxReachedLogEvery.
func (sv *supervisor) maxReached(now time.Time, why string, idle int) {
	p := &sv.pool
	total := sv.board.hdr[hMaxReached].Add(1)
	p.reachedSince++
	if now.Sub(p.reachedAt) < maxReachedLogEvery {
		return
	}
	sv.log.Warn("max workers reached", "why", why, "max_workers", p.max, "workers", sv.want, "idle", idle,
		"times", p.reachedSince, "total", total, "logged_at_most_every", maxReachedLogEvery)
	p.reachedAt, p.reachedSince = now, 0
}

// onWaiting: the watch saw a connection waiting on a listener. With no
// worker idle or starting to take it, an ondemand pool starts one.
func (sv *supervisor) onWaiting(now time.Time) {
	p := &sv.pool
	if sv.stopping || p.mode != PoolOndemand {
		return
	}
	n := sv.count()
	if n.idle+n.starting > 0 {
		return // it takes the connection; the tick re-arms once none is idle
	}
	if sv.want >= p.max {
		sv.maxReached(now, "a connection waits and no worker is idle", 0)
		return
	}
	sv.grow(1, "a connection waits and no worker is idle", 0)
	sv.reconcile(now)
}

// arrivals is the ondemand pool's other trigger, once a tick: connections
// were accepted since the last tick and now no worker is idle or starting.
// A busy worker goes on accepting (it serves many connections at once), so
// a connection seldom waits in the queue for long: the watch, whose poll
// sees a connection only if no worker took it first, would then never
// start a second worker. This is PHP-FPM's "got accept without idle child
// available", read from the scoreboard's counters.
func (sv *supervisor) arrivals(now time.Time) {
	p := &sv.pool
	total := sv.board.hdr[hDeadConns].Load()
	for s := range sv.board.slots {
		total += sv.board.slots[s][wConns].Load()
	}
	came := total > p.accepted
	p.accepted = total
	if !came {
		return
	}
	if n := sv.count(); n.idle+n.starting > 0 {
		return
	}
	why := "connections arrive and no worker is idle"
	if sv.want >= p.max {
		sv.maxReached(now, why, 0)
		return
	}
	sv.grow(1, why, 0)
}

// armWatch lets the ondemand watch wake the supervisor again, when no worker
// is idle or starting: while one is, a waiting connection is its to take,
// and watching would only wake the supervisor for every connection.
func (sv *supervisor) armWatch() {
	w := sv.pool.watch
	if w == nil || sv.stopping {
		return
	}
	if n := sv.count(); n.idle+n.starting == 0 {
		w.arm()
	}
}

// setPoolMax is Scale for a dynamic or ondemand pool (scaleTo checked n):
// it sets the pool's maximum; a pool above it shrinks (reconcile stops the
// surplus, those not serving yet first, each gracefully).
func (sv *supervisor) setPoolMax(n int, why string) {
	p := &sv.pool
	p.max = n
	if sv.want > n {
		sv.want = n
		sv.board.hdr[hWant].Store(uint64(n))
	}
	sv.storePoolLimits()
	sv.log.Info("the pool's maximum changed", "by", why, "max_workers", n, "workers", sv.want, "pool", p.mode.String())
}

// poolSpawned records why reconcile started a worker.
func (sv *supervisor) poolSpawned() {
	p := &sv.pool
	switch {
	case p.loadCredit > 0:
		p.loadCredit--
		sv.board.hdr[hSpawnLoad].Add(1)
	case sv.reloading():
		sv.board.hdr[hSpawnReload].Add(1)
	case p.replaceCredit > 0:
		p.replaceCredit--
		sv.board.hdr[hSpawnReplace].Add(1)
	}
}

// poolExit runs when a worker's end is reaped, before reconcile: it counts
// crashes (crash.go) and notes that reconcile will replace the worker.
func (sv *supervisor) poolExit(c *child, ex WorkerExit, now time.Time) {
	p := &sv.pool
	sv.noteCrash(c, ex, now)
	if sv.stopping {
		return
	}
	if p.mode == PoolOndemand && !p.served {
		// The server announced itself ready with no worker: until one has
		// served, a worker that cannot start is a configuration error, as
		// for the first pool of the other modes.
		p.served = ex.Ready || sv.anyReady()
		if !p.served && ex.Status.ExitCode() == ExitFailed {
			sv.fail(serverErr("start a worker of", errors.New("worker exited with status 3 before serving"), c.reason))
			return
		}
	}
	if c.gen != sv.gen {
		return
	}
	live := countBackoff(sv.slots)
	for _, s := range sv.slots {
		if s.c != nil && !s.c.draining && s.c.gen == sv.gen {
			live++
		}
	}
	if live < sv.want {
		sv.pool.replaceCredit++
	}
	sv.armWatch()
}

// anyReady reports whether some worker now running has served.
func (sv *supervisor) anyReady() bool {
	for _, s := range sv.slots {
		if s.c != nil && s.c.ready {
			return true
		}
	}
	return false
}

// PoolStatus is the pool's part of a Status.
type PoolStatus struct {
	// Mode is "static", "dynamic" or "ondemand".
	Mode string `json:"mode"`
	// Idle counts the workers that serve with no connection open; Busy,
	// those with at least one. Starting and stopping workers are neither.
	Idle int `json:"idle"`
	Busy int `json:"busy"`
	// MaxWorkers is the most workers the pool keeps (for a static pool,
	// the scoreboard's slots); MinSpare and MaxSpare bound a dynamic
	// pool's idle workers; IdleTimeout is how long an ondemand pool's
	// worker may be idle.
	MaxWorkers  int           `json:"max_workers"`
	MinSpare    int           `json:"min_spare,omitempty"`
	MaxSpare    int           `json:"max_spare,omitempty"`
	IdleTimeout time.Duration `json:"idle_timeout_ns,omitempty"`
	// MaxWorkersReached counts the times the maximum refused a worker the
	// load asked for (PHP-FPM's max_children_reached).
	MaxWorkersReached uint64 `json:"max_workers_reached"`
	// Crashes counts the workers that crashed (see Server.CrashLimit);
	// CrashTrips, the times the crash breaker tripped.
	Crashes    uint64 `json:"crashes"`
	CrashTrips uint64 `json:"crash_trips"`
	// Workers started, by cause: for the load (dynamic and ondemand
	// pools), to replace a worker that ended by itself (a crash, a kill
	// from outside, --max-requests), for a new generation (Reload, a crash
	// restart). The first workers and those Scale adds are in none.
	SpawnsLoad    uint64 `json:"spawns_load"`
	SpawnsReplace uint64 `json:"spawns_replace"`
	SpawnsReload  uint64 `json:"spawns_reload"`
	// RetiresIdle counts the idle workers the pool retired: above
	// MaxSpare (dynamic) or idle for IdleTimeout (ondemand).
	RetiresIdle uint64 `json:"retires_idle"`
}

// poolStatus reads the pool's header words; workers are the slots already
// read, for the idle and busy counts.
func (b *board) poolStatus(workers []WorkerStatus) PoolStatus {
	v := b.hdr[hPool].Load()
	ps := PoolStatus{
		Mode:              PoolMode(v & 0xffff).String(),
		MinSpare:          int(v >> 16 & 0xffff),
		MaxSpare:          int(v >> 32 & 0xffff),
		MaxWorkers:        int(v >> 48 & 0xffff),
		IdleTimeout:       time.Duration(b.hdr[hPoolIdleTimeout].Load()),
		MaxWorkersReached: b.hdr[hMaxReached].Load(),
		Crashes:           b.hdr[hCrashes].Load(),
		CrashTrips:        b.hdr[hCrashTrips].Load(),
		SpawnsLoad:        b.hdr[hSpawnLoad].Load(),
		SpawnsReplace:     b.hdr[hSpawnReplace].Load(),
		SpawnsReload:      b.hdr[hSpawnReload].Load(),
		RetiresIdle:       b.hdr[hRetireIdle].Load(),
	}
	if ps.MaxWorkers == 0 {
		ps.MaxWorkers = int(b.hdr[hSlots].Load())
	}
	for _, w := range workers {
		switch w.State {
		case "idle", "accepting":
			ps.Idle++
		case "busy":
			ps.Busy++
		}
	}
	return ps
}

// listenWatch polls the listeners from a goroutine of its own, once each
// time it is armed: it says a connection waits (fired) and then waits to be
// armed again, so that a connection waiting for a worker still starting
// cannot make the supervisor spin. poll accepts nothing: the connection
// stays for a worker. The descriptors are the supervisor's own (never in
// the runtime's poller, see listen); stop must end the watch before they
// are closed.
type listenWatch struct {
	fds   []unix.PollFd // the listeners, then the wake eventfd
	wake  int
	armed chan struct{}
	fired chan struct{}
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
}

func newListenWatch(files []*os.File) (*listenWatch, error) {
	efd, err := sys.NewWake()
	if err != nil {
		return nil, err
	}
	w := &listenWatch{wake: efd, armed: make(chan struct{}, 1), fired: make(chan struct{}, 1),
		quit: make(chan struct{}), done: make(chan struct{})}
	for _, f := range files {
		w.fds = append(w.fds, unix.PollFd{Fd: int32(f.Fd()), Events: unix.POLLIN})
	}
	w.fds = append(w.fds, unix.PollFd{Fd: int32(efd), Events: unix.POLLIN})
	go w.run()
	return w, nil
}

// arm lets the watch fire once more.
func (w *listenWatch) arm() {
	select {
	case w.armed <- struct{}{}:
	default:
	}
}

func (w *listenWatch) run() {
	defer close(w.done)
	for {
		select {
		case <-w.quit:
			return
		case <-w.armed:
		}
		for {
			for i := range w.fds {
				w.fds[i].Revents = 0
			}
			_, err := unix.Poll(w.fds, -1)
			if err == unix.EINTR {
				continue
			}
			select {
			case <-w.quit:
				return
			default:
			}
			if err != nil || w.ready() {
				break
			}
		}
		select {
		case w.fired <- struct{}{}:
		default:
		}
	}
}

// ready reports whether a listener has a connection waiting (or an error,
// which a worker's accept will report).
func (w *listenWatch) ready() bool {
	for _, f := range w.fds[:len(w.fds)-1] {
		if f.Revents != 0 {
			return true
		}
	}
	return false
}

// stop ends the watch and waits for it, once.
func (w *listenWatch) stop() {
	w.once.Do(func() {
		close(w.quit)
		sys.Wake(w.wake)
		<-w.done
		unix.Close(w.wake)
	})
}
