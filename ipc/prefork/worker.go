package prefork

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ipctoolkit/ipc/internal/sys"
	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/ipc/proc"
	"github.com/ipctoolkit/ipc/msgq"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/ipctoolkit/ipc/shm"
	"golang.org/x/sys/unix"
)

// listenFD is the listening socket in a worker: the supervisor passes it as
// ExtraFiles[0].
const listenFD = 3

// lockWait bounds one wait for the accept lock and one poll of the
// listener, so the accept loop beats the heartbeat at least this often.
const lockWait = time.Second

// httpIdleGrace is how long a draining HTTP worker keeps its idle
// keep-alive connections open, answering each request they bring with
// Connection: close, before it closes those still idle: closed at once, a
// request already on its way would race the close and get no reply.
const httpIdleGrace = time.Second

// acceptErrEvery rate-limits the log of accept failing for want of
// descriptors or memory, which can repeat thousands of times a second.
const acceptErrEvery = 5 * time.Second

// hangAfterLock is a seam for tests (set only by the package's tests, in a
// worker process): the first worker to take the accept lock creates the
// file it names, writes its pid there, and hangs holding the lock, as a
// worker that crashed mid-accept would.
var hangAfterLock string

type worker struct {
	srv  *Server
	log  *slog.Logger
	boot boot
	pid  int

	lock  *sem.Mutex
	q     *msgq.Queue
	m     *shm.Mapping
	board *board
	slot  *[slotWords]*atomic.Uint64

	wakeFD int
	from   int // the listener the accept loop takes connections from

	// lnMu guards the listening descriptor: the accept loop uses it under
	// the lock, and finish closes it (at once, so that once no process
	// holds it the kernel refuses new connections) under the lock too.
	lnMu     sync.Mutex
	lnClosed bool

	acceptErrs   int
	acceptErrsAt time.Time
	// lnAddrs caches each listener's address for its connections
	// (listenerAddr, conn.go).
	lnAddrs map[int]net.Addr

	// lockWaitFrom and lockHeldAt carry the accept lock's wait and hold
	// from one turn to the next (turn, which one caller runs at a time).
	lockWaitFrom, lockHeldAt uint64
	// lockKept: with AcceptHold, the lock is still this worker's from its
	// last turn, which ended (its connections accepted) at keptAt.
	lockKept bool
	keptAt   uint64

	// silentMu guards silent: the HTTP connections that have not brought
	// a byte yet (StateNew), since when.
	silentMu sync.Mutex
	silent   map[net.Conn]time.Time

	// ctx is what handlers get: done when draining starts.
	ctx          context.Context
	stopHandlers context.CancelFunc

	httpSrv  *http.Server
	httpLn   *chanListener
	handlers sync.WaitGroup

	// With Server.Serve (listener_api.go): the listener it was given, and
	// closed when it has returned.
	serveLn   *workerListener
	serveDone chan struct{}
	// feed, with Serve in fork and pass mode, takes the connections to
	// Accept.
	feed chan *countedConn
	// sockIno, in reuseport mode, is the inode of its own socket.
	sockIno uint64

	requests atomic.Uint64
	limit    uint64
	// lnPolled is the listening socket in Go's poller, once the worker
	// waits there (pollwait.go).
	lnPolled atomic.Pointer[polledListener]
	// pollDecided: pollerListener has decided whether to (under lnMu).
	pollDecided bool

	drainOnce   sync.Once
	draining    atomic.Bool
	drained     chan struct{}
	drainReason uint64
	drainWhy    string

	acceptDone chan struct{}
	// accepting is set while the accept loop holds the lock (or, without
	// one, polls) up to the hand-off of what it accepted: a stopping worker
	// waits for that to end, not for a wait for the lock to time out.
	accepting atomic.Bool
	public    *Worker

	// The operator's (reqtimeout.go, slowlog.go): the running requests,
	// oldest first, and the slow log (nil: the Logger).
	reqs    requests
	slowLog *os.File
}

func runWorker(ctx context.Context, s *Server) int {
	log := s.logger()
	v := os.Getenv(bootEnv)
	os.Unsetenv(bootEnv)
	b, err := parseBoot(v)
	if err != nil {
		log.Error("worker cannot start", "err", err)
		return ExitFailed
	}
	// Terminal and control signals belong to the supervisor: the worker
	// takes its orders from the queue. SIGTERM (also its parent-death
	// signal) means stop gracefully.
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGWINCH)
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)

	w := &worker{
		srv:        s,
		boot:       b,
		pid:        os.Getpid(),
		log:        log.With("slot", b.slot, "pid", os.Getpid(), "generation", b.gen),
		wakeFD:     -1,
		drained:    make(chan struct{}),
		acceptDone: make(chan struct{}),
		limit:      b.maxRequests,
	}
	if err := w.attach(); err != nil {
		w.fail(err)
		return ExitFailed
	}
	w.public = &Worker{w: w}
	base := context.WithValue(context.WithoutCancel(ctx), workerKey{}, w.public)
	w.ctx, w.stopHandlers = context.WithCancel(base)

	if err := w.startHook(); err != nil {
		w.fail(err)
		return ExitFailed
	}

	if s.Serve == nil && s.Handler == nil {
		w.startHTTP(base, s.HTTPHandler, s.HTTPIdleTimeout)
	}

	if b.mode == ModeFork {
		// Its connection is handed over before any order can stop it.
		w.startAccepting()
	}
	w.startOps()
	go w.control()
	go func() {
		select {
		case <-term:
			w.drain(reasonSignal, "SIGTERM")
		case <-w.drained:
		}
	}()
	go func() {
		select {
		case <-proc.WatchParent(w.ctx):
			w.drain(reasonParentGone, "the supervisor is gone")
		case <-w.drained:
		}
	}()
	if b.mode != ModeFork {
		w.startAccepting()
	}

	w.slot[wState].Store(stateReady)
	w.send(kindReady, 0, nil, time.Second)

	<-w.drained
	return w.finish()
}

// attach opens the supervisor's objects and claims the slot.
func (w *worker) attach() error {
	b := w.boot
	if err := w.modeAttach(); err != nil {
		return err
	}
	if b.mode != ModeFork && b.mode != ModePass {
		if err := checkListeners(b.listeners); err != nil {
			return err
		}
	}
	q, err := msgq.FromID(b.queueID)
	if err != nil {
		return err
	}
	w.q = q
	set, err := sem.FromID(b.semID)
	if err != nil {
		return err
	}
	w.lock = sem.NewMutex(set, 0)
	seg, err := shm.FromID(b.segID)
	if err != nil {
		return err
	}
	m, err := seg.Attach(0)
	if err != nil {
		return err
	}
	n, ok := slotCount(m)
	if !ok || n != b.slots {
		m.Detach()
		return fmt.Errorf("segment %d is not this server's scoreboard", b.segID)
	}
	w.m = m
	if w.board, err = newBoard(m, n); err != nil {
		return err
	}
	w.slot = &w.board.slots[b.slot]
	t := now()
	w.slot[wPID].Store(uint64(w.pid))
	w.slot[wGeneration].Store(b.gen)
	w.slot[wStarted].Store(t)
	w.slot[wLastActive].Store(t)
	w.slot[wHeartbeat].Store(t)
	efd, err := sys.NewWake()
	if err != nil {
		return err
	}
	w.wakeFD = efd
	// A member of the server until this process ends, however it ends: the
	// kernel undoes it, and the janitor waits for every member to be gone.
	if err := set.Do(sem.Inc(semMembers, 1, sem.Undo)); err != nil {
		return err
	}
	// Checked once the slot is ours, so that the reason is in it.
	if w.srv.Serve == nil && w.srv.Handler == nil && w.srv.HTTPHandler == nil {
		return errors.New("the Server has no Handler and no HTTPHandler (and no Serve)")
	}
	return nil
}

// startHook runs OnWorkerStart, a panic in it counting as an error.
func (w *worker) startHook() (err error) {
	if w.srv.OnWorkerStart == nil {
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("OnWorkerStart panicked: %v", p)
		}
	}()
	if err := w.srv.OnWorkerStart(w.ctx, w.boot.slot); err != nil {
		return fmt.Errorf("OnWorkerStart: %w", err)
	}
	return nil
}

// fail tells the supervisor why this worker cannot start, if it can.
func (w *worker) fail(err error) {
	w.log.Error("worker cannot start", "err", err)
	if w.slot != nil {
		w.board.putText(w.boot.slot, "cannot start: "+err.Error())
	}
	if w.q != nil {
		w.send(kindFailed, 0, []byte(err.Error()), time.Second)
	}
}

// send puts a message in the supervisor's inbox, waiting at most d for room.
func (w *worker) send(kind msgKind, arg uint64, text []byte, d time.Duration) error {
	var buf [msgBufSize]byte
	if len(text) > maxBroadcast {
		text = text[:maxBroadcast]
	}
	m := message{kind: kind, slot: w.boot.slot, pid: w.pid, gen: w.boot.gen, arg: arg, text: text}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return w.q.SendContext(ctx, supervisorType, m.encode(buf[:]), 0)
}

// beat stores the heartbeat and returns its time.
func (w *worker) beat() uint64 {
	t := now()
	w.slot[wHeartbeat].Store(t)
	return t
}

// drain starts the worker's stop, once: the accept loop ends, handlers are
// told, and the main goroutine waits for them.
func (w *worker) drain(reason uint64, why string) {
	w.drainOnce.Do(func() {
		w.drainReason, w.drainWhy = reason, why
		w.slot[wReason].Store(reason)
		w.draining.Store(true)
		sys.Wake(w.wakeFD)
		w.wakePolled()
		close(w.drained)
	})
}

// acceptLoop takes connections, one turn at a time (turn), and hands them
// over; until the worker drains. With Server.Serve there is no accept loop:
// the Listener's Accept takes the turns (listener_api.go).
func (w *worker) acceptLoop() {
	defer close(w.acceptDone)
	fds := pollFDs(w.boot.listeners, w.wakeFD)
	var batch [acceptBatch]accepted
	for !w.draining.Load() {
		n, backoff := w.turn(fds, batch[:], true)
		for i := range batch[:n] {
			w.handoff(&batch[i])
		}
		w.accepting.Store(false)
		if backoff {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if w.lockKept {
		w.giveBackLock()
	}
}

// turn is one turn at the listener: take the accept lock (AcceptLock), wait
// for a connection, accept it and up to len(batch)-1 more already waiting,
// and give the lock back. It returns how many connections it put in batch
// (0 when the wait for the lock or for a connection timed out, or the
// worker drains), and backoff when accept is short of a resource and the
// caller should pause. accepting is left set: the caller clears it once
// what was accepted has been handed over.
//
// With AcceptHold and mayKeep (the built-in accept loop, which comes back
// to the listener as soon as it has handed its connections over), a turn
// that accepted keeps the lock for the next one, which gives it back
// first if it began more than holdBusy after this one ended. The lock is
// then held through the hand-over too: a hand-over that waits (net/http's
// 16 connections not yet taken) is a worker short of CPU, and its next
// turn comes late and gives the lock back.
func (w *worker) turn(fds []unix.PollFd, batch []accepted, mayKeep bool) (n int, backoff bool) {
	t := w.beat()
	// The accept lock's wait and hold times, for the metrics: the hold
	// ends at the next turn's heartbeat (so it includes the hand-off of
	// what was accepted), a timed-out wait goes on into the next turn.
	if w.lockHeldAt != 0 {
		w.slot[wLockHoldNS].Add(t - w.lockHeldAt)
		w.lockHeldAt = 0
	}
	if w.lockWaitFrom != 0 {
		w.slot[wLockWaitNS].Add(t - w.lockWaitFrom)
		w.lockWaitFrom = 0
	}
	if w.slot[wOrder].Load() == orderStop {
		// The order stands in the slot even if its message was lost.
		w.drain(reasonStop, "asked to stop")
		return 0, false
	}
	locking := w.boot.accept != AcceptShared && w.boot.mode == ModePrefork
	if w.lockKept {
		if t-w.keptAt > uint64(holdBusy) {
			w.giveBackLock()
		} else {
			w.lockHeldAt = t
		}
	}
	if locking && !w.lockKept {
		err := w.lock.LockTimeout(lockWait)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			w.lockWaitFrom = t
			return 0, false
		}
		if err != nil {
			w.drain(reasonIPCGone, "the accept lock is gone: "+err.Error())
			return 0, false
		}
		// wHolding is 1, not the time: the supervisor records since when
		// (hHolderSince), to a tick. The clock read here (3% of a turn
		// when it was measured alone; no difference in the connection
		// rate measured with it, within that run's noise) is for the wait
		// and hold totals of the metrics.
		w.lockHeldAt = now()
		w.slot[wLockWaitNS].Add(w.lockHeldAt - t)
		w.slot[wHolding].Store(1)
		w.slot[wLocks].Add(1)
		if hangAfterLock != "" {
			w.hangIfFirst()
		}
	}
	w.accepting.Store(true)
	w.lnMu.Lock()
	cfd := -1
	if !w.lnClosed {
		cfd = w.acceptOne(fds, &batch[0].peer)
	}
	if cfd >= 0 {
		batch[0].fd, n = cfd, 1
		// Under load more connections wait: take them in the same
		// turn rather than one lock hand-off each.
		for n < len(batch) && w.limit == 0 {
			c, e := sys.Accept4Peer(w.from, &batch[n].peer)
			if e != 0 {
				break
			}
			batch[n].fd = c
			n++
		}
	}
	w.lnMu.Unlock()
	if locking {
		if mayKeep && n > 0 && w.boot.accept == AcceptHold && !w.draining.Load() {
			w.lockKept, w.keptAt = true, now()
		} else {
			w.giveBackLock()
		}
	}
	return n, cfd == errBackoff
}

// holdBusy is how late a turn may begin after the last one, with
// AcceptHold, and still find the lock kept for it. The accept loop hands
// its connections over and yields its P (handoff): it comes back at once
// when the worker has a P to spare, and after the worker's other
// goroutines have run when it has none, so a late turn means the worker's
// CPUs are taken and another worker should accept. (A variable for the
// tests: SetHoldBusy.)
var holdBusy = time.Millisecond

// giveBackLock releases the accept lock this worker holds.
func (w *worker) giveBackLock() {
	w.lockKept = false
	w.slot[wHolding].Store(0)
	if err := w.lock.Unlock(); err != nil {
		w.drain(reasonIPCGone, "the accept lock is gone: "+err.Error())
	}
}

// acceptBatch is the most connections a worker accepts in one turn with
// the lock.
const acceptBatch = 8

// errBackoff from acceptOne: accept is short of a resource (descriptors,
// memory); the lock is released for a moment so another worker may try.
const errBackoff = -2

// acceptOne waits for a connection and accepts it, its peer's address into
// peer. It returns -1 when the worker is draining or the listener failed.
//
// With one listener it accepts first and polls only when nothing waits:
// under load a connection is already there when the lock comes, and the
// poll would be a system call for nothing (idle, the attempt costs one
// accept4 that says EAGAIN). With several, it polls first, so that a flood
// on one cannot starve the others (readyListener takes turns).
func (w *worker) acceptOne(fds []unix.PollFd, peer *unix.RawSockaddrInet6) int {
	eager := len(fds) == 2
	for !w.draining.Load() {
		w.beat()
		if w.slot[wOrder].Load() == orderStop {
			w.drain(reasonStop, "asked to stop")
			return -1
		}
		polled := !eager
		var cfd int
		var e unix.Errno
		if p := w.pollerListener(fds); p != nil {
			// Its wait begins with the eager attempt, and counts its
			// own futile wake-ups.
			w.from = int(fds[0].Fd)
			if cfd, e = p.accept(w, peer); e == unix.EAGAIN {
				continue // timed out, or the worker drains
			}
			polled = false
		} else {
			if eager {
				eager = false
				w.from = int(fds[0].Fd)
			} else if ready, stop := w.pollListeners(fds); stop {
				return -1
			} else if !ready {
				continue
			}
			cfd, e = sys.Accept4Peer(w.from, peer)
		}
		switch e {
		case 0:
			return cfd
		case unix.EAGAIN, unix.ECONNABORTED, unix.EPROTO:
			// Another process took it, or the client gave up first
			// (or, not polled, none was waiting yet).
			if polled {
				w.slot[wFutile].Add(1)
			}
		case unix.EINTR:
		case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
			w.acceptErrs++
			if t := time.Now(); t.Sub(w.acceptErrsAt) >= acceptErrEvery {
				w.log.Warn("cannot accept", "err", e, "times", w.acceptErrs, "logged_at_most_every", acceptErrEvery)
				w.acceptErrs, w.acceptErrsAt = 0, t
			}
			return errBackoff
		default:
			w.drain(reasonListener, "accept: "+e.Error())
			return -1
		}
	}
	return -1
}

// pollListeners waits in ppoll for a connection on one of the listeners
// (w.from is then the one to take it from) or for the drain's wake: ready
// when a listener has one, stop when the worker must stop accepting (it
// drains: woken, or a listener failed), neither when the wait timed out or
// a signal cut it short.
func (w *worker) pollListeners(fds []unix.PollFd) (ready, stop bool) {
	for i := range fds {
		fds[i].Revents = 0
	}
	n, e := sys.Ppoll(fds, lockWait)
	switch {
	case e == unix.EINTR || (e == 0 && n == 0):
		return false, false
	case e != 0:
		w.drain(reasonListener, "poll on the listener: "+e.Error())
		return false, true
	case fds[len(fds)-1].Revents != 0:
		return false, true
	}
	var bad int16
	if w.from, bad = readyListener(fds[:len(fds)-1], w.from); w.from < 0 {
		w.drain(reasonListener, "the listener reports an error (revents "+strconv.Itoa(int(bad))+")")
		return false, true
	}
	w.slot[wWakeups].Add(1)
	return true, false
}

func (w *worker) hangIfFirst() {
	f, err := os.OpenFile(hangAfterLock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	fmt.Fprintf(f, "%d\n", w.pid)
	f.Close()
	select {} // holding the lock, beating no more
}

// handoff makes the accepted connection a net.Conn and serves it.
func (w *worker) handoff(a *accepted) {
	c, t := w.counted(newSockConn(a.fd, w.listenerAddr(w.from), &a.peer))
	if w.httpLn != nil {
		w.httpLn.give(c)
	} else {
		w.handlers.Add(1)
		go w.serveTracked(c, t)
		w.requestDone()
	}
	// The goroutine just made runnable waits on this thread's P, and the
	// accept loop is about to block in a system call (the lock, the
	// poll): let it run here first, rather than have the runtime wake
	// another thread to take it over (a context switch per connection).
	runtime.Gosched()
}

func (w *worker) serve(c *countedConn) {
	defer w.handlers.Done()
	defer c.Close()
	defer func() {
		if p := recover(); p != nil {
			w.slot[wPanics].Add(1)
			buf := make([]byte, 4096)
			buf = buf[:runtime.Stack(buf, false)]
			w.log.Error("handler panicked; connection closed", "panic", fmt.Sprint(p), "remote", c.RemoteAddr().String(), "stack", string(buf))
		}
	}()
	w.srv.Handler(w.ctx, c)
}

// counted counts a connection just accepted or received in the slot and
// wraps it so that its bytes and its close are counted too; t is when.
func (w *worker) counted(nc net.Conn) (c *countedConn, t uint64) {
	t = now()
	w.slot[wConns].Add(1)
	w.slot[wActive].Add(1)
	w.slot[wLastActive].Store(t)
	return &countedConn{Conn: nc, w: w}, t
}

// requestDone counts a request and retires the worker at its limit.
func (w *worker) requestDone() {
	n := w.requests.Add(1)
	w.slot[wRequests].Store(n)
	if w.limit > 0 && n == w.limit {
		w.drain(reasonMaxRequests, "served its "+strconv.FormatUint(n, 10)+" requests (--max-requests)")
	}
}

// httpIdleTimeout is Server.HTTPIdleTimeout as http.Server takes it.
func httpIdleTimeout(d time.Duration) time.Duration {
	switch {
	case d == 0:
		return DefaultHTTPIdleTimeout
	case d < 0:
		return 0 // none: net/http falls back on ReadTimeout, which is 0
	}
	return d
}

// httpHeaderTimeout is how long a worker's http.Server waits for a
// request's header (http.Server.ReadHeaderTimeout): a client that opens a
// connection and sends nothing holds no goroutine for ever.
const httpHeaderTimeout = 30 * time.Second

// startHTTP starts the http.Server that serves h on the connections the
// accept loop hands to w.httpLn.
func (w *worker) startHTTP(base context.Context, h http.Handler, idle time.Duration) {
	w.httpLn = newChanListener(localAddr())
	w.httpSrv = &http.Server{
		Handler:           w.httpHandler(h),
		BaseContext:       func(net.Listener) context.Context { return base },
		ReadHeaderTimeout: httpHeaderTimeout,
		IdleTimeout:       httpIdleTimeout(idle),
		ErrorLog:          slog.NewLogLogger(w.log.Handler(), slog.LevelWarn),
		ConnState:         w.trackSilent,
		ConnContext:       func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) },
	}
	w.silent = map[net.Conn]time.Time{}
	go w.httpSrv.Serve(w.httpLn)
}

func (w *worker) httpHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		defer w.requestDone()
		start := now()
		w.slot[wLastActive].Store(start)
		q := w.beginRequest(start, connOf(r), r)
		defer w.endRequest(q)
		if w.draining.Load() {
			rw.Header().Set("Connection", "close")
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				w.slot[wPanics].Add(1)
				w.log.Error("handler panicked; connection closed", "panic", fmt.Sprint(p), "path", r.URL.Path, "remote", r.RemoteAddr)
				panic(http.ErrAbortHandler)
			}
		}()
		h.ServeHTTP(rw, r)
	})
}

// control obeys the messages in this worker's inbox.
func (w *worker) control() {
	buf := make([]byte, msgBufSize)
	typ := workerType(w.boot.slot)
	for {
		_, n, err := w.q.Receive(buf, msgq.Type(typ), msgq.Truncate)
		if err != nil {
			if errors.Is(err, ipc.ErrRemoved) || errors.Is(err, unix.EINVAL) {
				w.drain(reasonIPCGone, "the server's queue was removed")
				return
			}
			w.log.Warn("cannot read the control queue", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		w.slot[wInboxRead].Add(1)
		w.slot[wInboxBytes].Add(uint64(n))
		m, ok := decode(buf[:n])
		if !ok || m.pid != w.pid || m.gen != w.boot.gen {
			continue // for an earlier worker of this slot
		}
		switch m.kind {
		case kindStop:
			w.drain(reasonStop, string(m.text))
		case kindReport:
			w.send(kindReport, 0, []byte(w.report()), 100*time.Millisecond)
		case kindBroadcast:
			if w.srv.OnBroadcast != nil && !w.draining.Load() {
				w.srv.OnBroadcast(w.ctx, m.text)
			}
		case kindSlow:
			w.writeSlow(m.arg)
		case kindTimeout:
			w.timedOut(m.arg)
		}
	}
}

// report is what the worker says when asked: what only it can see.
func (w *worker) report() string {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return fmt.Sprintf("requests=%d active=%d goroutines=%d heap_bytes=%d gc_cycles=%d",
		w.requests.Load(), w.slot[wActive].Load(), runtime.NumGoroutine(), ms.HeapAlloc, ms.NumGC)
}

// finish stops the worker: no more accepting, in-flight connections get
// until the graceful timeout, then the process exits.
func (w *worker) finish() int {
	w.closeListener()
	w.slot[wState].Store(stateStopping)
	w.stopHandlers()
	if w.drainReason != reasonParentGone && w.drainReason != reasonIPCGone {
		w.send(kindExiting, w.drainReason, []byte(w.drainWhy), 100*time.Millisecond)
	}
	grace := w.boot.graceful
	if grace <= 0 {
		grace = math.MaxInt64
	}
	deadline := time.Now().Add(grace)
	// Still alive while draining, should the supervisor not know yet that
	// this worker is stopping (its message lost to a full queue).
	beating := time.NewTicker(lockWait / 2)
	defer beating.Stop()
	go func() {
		for range beating.C {
			w.beat()
		}
	}()
	w.waitAccepted(time.Now().Add(2 * lockWait))
	cut := 0
	switch {
	case w.serveLn != nil:
		cut = w.finishServe(deadline)
	case w.httpSrv != nil:
		// Every response now says Connection: close (httpHandler), and
		// open connections get a grace to bring their next request and be
		// closed after its answer: a request begun before the drain leaves
		// its connection idle, not closed, and SetKeepAlivesEnabled(false)
		// closes idle connections at once, racing a request on its way.
		for end := time.Now().Add(min(httpIdleGrace, time.Until(deadline))); w.openConns() > 0 && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		// Then the idle ones are closed and every other is served to its
		// end. Not Shutdown: net/http drops, unanswered, a request it reads
		// after Shutdown began (a connection in StateNew then loses its
		// first request: 1 in ~4,000 across an upgrade).
		w.httpSrv.SetKeepAlivesEnabled(false)
		for w.openConns() > 0 && time.Now().Before(deadline) {
			w.closeSilent(httpIdleGrace)
			time.Sleep(10 * time.Millisecond)
		}
		cut = w.openConns()
		w.httpSrv.Close()
	default:
		done := make(chan struct{})
		go func() { w.handlers.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Until(deadline)):
			cut = int(w.slot[wActive].Load())
		}
	}
	if cut > 0 {
		w.log.Warn("graceful timeout passed; cutting connections", "connections", cut)
	}
	return 0
}

// waitAccepted waits, until limit, for the accept loop to hand over what it
// took. A connection accepted but not yet handed over must be served; a
// wait for the lock need not end (it sees draining before accepting). With
// Serve, Accept returns such connections, or Close closes them. A pass
// worker's loop is waited for even when it is not receiving: it may be
// just about to, and it drains the socketpair to its end.
func (w *worker) waitAccepted(limit time.Time) {
	end := time.NewTimer(time.Until(limit))
	defer end.Stop()
	look := time.NewTicker(time.Millisecond)
	defer look.Stop()
	for w.boot.mode == ModePass || w.serveLn == nil && w.accepting.Load() {
		select {
		case <-w.acceptDone:
			return
		case <-end.C:
			return
		case <-look.C:
		}
	}
}

// closeListener closes this process's copy of the listening socket, once:
// a worker that will not accept again must not keep it open, or the kernel
// completes connections nobody will accept.
func (w *worker) closeListener() {
	w.lnMu.Lock()
	defer w.lnMu.Unlock()
	if !w.lnClosed {
		w.drainQueue()
		// In pass mode descriptor 3 is the socketpair, not a listener:
		// passLoop reads it to its end, for a connection passed there and
		// not yet received is reset when the descriptor closes.
		if w.boot.mode != ModePass && !w.closePolled() {
			closeListenerFDs(w.boot.listeners)
		}
		w.lnClosed = true
	}
}

// openConns counts the HTTP connections open: from their hand-off to the
// http.Server until they are closed (wActive). Not from the ConnState hook,
// which misses a connection between the http.Server's Accept and its
// StateNew.
func (w *worker) openConns() int { return int(w.slot[wActive].Load()) }

// trackSilent keeps the HTTP connections that have not brought a byte yet.
func (w *worker) trackSilent(c net.Conn, st http.ConnState) {
	w.silentMu.Lock()
	defer w.silentMu.Unlock()
	if st == http.StateNew {
		w.silent[c] = time.Now()
	} else {
		delete(w.silent, c)
	}
}

// closeSilent closes the connections that have brought no request for
// grace: idle, as a kept-alive connection between requests is (net/http
// closes only those, and a StateNew one only after 5 s).
func (w *worker) closeSilent(grace time.Duration) {
	w.silentMu.Lock()
	defer w.silentMu.Unlock()
	for c, since := range w.silent {
		if time.Since(since) >= grace {
			c.Close()
			delete(w.silent, c)
		}
	}
}

// Worker is the worker process a handler runs in, found with WorkerFrom.
type Worker struct{ w *worker }

type workerKey struct{}

// WorkerFrom returns the worker that ctx (a handler's context or an HTTP
// request's) belongs to, or nil outside a worker.
func WorkerFrom(ctx context.Context) *Worker {
	w, _ := ctx.Value(workerKey{}).(*Worker)
	return w
}

// Slot is the worker's scoreboard slot, which a new worker reuses when this
// one is gone; -1 on a nil Worker, so that a handler shared with a
// single-process server need not check.
func (w *Worker) Slot() int {
	if w == nil {
		return -1
	}
	return w.w.boot.slot
}

// Generation is the generation the worker was started in (0 on a nil
// Worker).
func (w *Worker) Generation() uint64 {
	if w == nil {
		return 0
	}
	return w.w.boot.gen
}

// Broadcast sends msg to every other worker of the server, whose OnBroadcast
// gets it (the supervisor relays it through each one's inbox). Delivery is
// best effort: a worker whose inbox has no room misses it. msg may be at most
// 8168 bytes.
func (w *Worker) Broadcast(msg []byte) error {
	if w == nil {
		return &Error{Op: "broadcast from", Err: unix.ESRCH, Detail: "not in a worker"}
	}
	if len(msg) > maxBroadcast {
		return &ipc.Error{Pkg: "prefork", Op: "broadcast through", Kind: ipc.Queue, ID: w.w.q.ID(), Err: unix.E2BIG,
			Detail: strconv.Itoa(len(msg)) + " > " + strconv.Itoa(maxBroadcast) + " bytes"}
	}
	return w.w.send(kindBroadcast, 0, msg, 100*time.Millisecond)
}

// Status reads the whole scoreboard, as `ipc status` would (the zero Status
// on a nil Worker).
func (w *Worker) Status() Status {
	if w == nil {
		return Status{}
	}
	st := w.w.board.snapshot()
	st.Queue = queueDepth(w.w.q.ID())
	return st
}

func localAddr() net.Addr {
	sa, err := unix.Getsockname(listenFD)
	if err != nil {
		return &net.TCPAddr{}
	}
	return netAddr(sa)
}
