package prefork

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// Mode is the server's design, one of the four UNIX Network Programming
// ch.30 compares; each runs the same handlers (Handler, HTTPHandler,
// Serve) under the same supervisor, scoreboard, signals and `ipc status`.
type Mode int

const (
	// ModePrefork (the zero value): workers take turns accepting on the
	// shared listener under the accept lock (or all poll it, with
	// AcceptShared), each serving its connections a goroutine apiece.
	ModePrefork Mode = iota
	// ModeFork: the textbooks' concurrent server (UNP 4.8). The
	// supervisor accepts and starts one child per connection, a
	// re-executed copy of the program given the connection as descriptor
	// 3; the child serves that one client and exits, and the supervisor
	// reaps it and logs its end in the textbook's words. MaxChildren
	// bounds the children alive at once: at the bound the supervisor stops
	// accepting (connections wait in the backlog), so a flood cannot
	// become a fork bomb. Workers and MaxRequests must be 0; the pool's
	// size (Scale, SIGTTIN and SIGTTOU) is that bound, within MaxWorkers
	// slots; Reload starts the next children in a new generation while
	// the running ones finish. OnWorkerStart runs in every child, before
	// it serves its connection.
	ModeFork
	// ModePass: UNP ch.30's descriptor passing (child05.c). Only the
	// supervisor accepts; each worker has a Unix-domain socketpair to it,
	// made before the worker starts, over which the supervisor passes each
	// accepted socket (SCM_RIGHTS) to an idle worker and marks it busy;
	// the worker writes one byte back when it is free again. A busy
	// worker takes no other connection: one client at a time per worker,
	// as in the book, where prefork serves each connection on a goroutine
	// of its own and a worker takes as many as come.
	ModePass
	// ModeReuseport: each worker binds a listening socket of its own with
	// SO_REUSEPORT and the kernel spreads connections over them by a hash:
	// no lock, no semop on the accept path, no socket shared. The
	// supervisor binds the address once (so port 0 is chosen once) without
	// listening on it, so that none of its sockets is in the group. TCP
	// addresses only, and not with User (the kernel wants every socket of
	// a group bound by the same user).
	ModeReuseport
)

var modeNames = [...]string{"prefork", "fork", "pass", "reuseport"}

// String names the mode as `ipc serve --mode` does.
func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Modes lists the modes by name, in order.
func Modes() []string { return modeNames[:] }

// ParseMode is the Mode named s (as String spells it).
func ParseMode(s string) (Mode, error) {
	for i, n := range modeNames {
		if n == s {
			return Mode(i), nil
		}
	}
	return 0, errors.New("unknown mode " + strconv.Quote(s) + ": want " + strings.Join(modeNames[:], ", "))
}

// DefaultMaxChildren is fork mode's bound on children alive at once when
// MaxChildren is 0.
const DefaultMaxChildren = 64

// The modes' scoreboard words: header 16-23, slot 32-39 (scoreboard.go).
const (
	hMode   = 16 // the Mode, plus one (0: a scoreboard of an older server)
	hForked = 17 // fork: children started since the server started
	hPassed = 18 // pass: connections the supervisor passed, to all workers

	sPassed = 32 // pass: connections the supervisor passed to this worker
	sSocket = 33 // reuseport: the inode of the worker's own listening socket
	sChild  = 34 // fork: 1 (the slot holds a child serving one connection)
)

// checkMode checks what c's Mode can honour, and sets fork's pool: its
// size (the supervisor's want) is the bound on live children.
func (c *config) checkMode() error {
	const op = "configure"
	m := c.Mode
	switch {
	case m < ModePrefork || m > ModeReuseport:
		return serverErr(op, errors.New("unknown Mode"), strconv.Itoa(int(m)))
	case m != ModePrefork && c.Accept != AcceptLock:
		return serverErr(op, errors.New("Accept is for prefork mode only"), "mode "+m.String()+", accept "+c.Accept.String())
	case m != ModeFork && c.MaxChildren != 0:
		return serverErr(op, errors.New("MaxChildren is for fork mode only"), "mode "+m.String())
	case c.MaxChildren < 0 || c.MaxChildren > MaxSlots:
		return serverErr(op, errors.New("MaxChildren is from 1 to "+strconv.Itoa(MaxSlots)), strconv.Itoa(c.MaxChildren))
	case m == ModeFork && c.Workers != 0:
		return serverErr(op, errors.New("fork mode has no Workers: a child per connection, at most MaxChildren"), strconv.Itoa(c.Workers))
	case m == ModeFork && c.MaxRequests != 0:
		return serverErr(op, errors.New("MaxRequests is for the modes with workers: a fork child serves one connection"), "")
	case m == ModeFork && c.Pool != PoolStatic:
		return serverErr(op, errors.New("fork mode has no pool to size: a child per connection, at most MaxChildren"), "pool "+c.Pool.String())
	case m == ModeReuseport && c.Pool == PoolOndemand:
		// The watch polls the supervisor's listener, and in reuseport mode
		// the supervisor's sockets do not listen: with no worker, nobody
		// listens at all and a connection is refused, not kept waiting.
		return serverErr(op, errors.New("an ondemand pool needs a listener in the supervisor to watch, which reuseport mode does not have"), "")
	case m == ModeReuseport && c.User != "":
		return serverErr(op, errors.New("reuseport mode cannot run the workers as another user: the kernel groups SO_REUSEPORT sockets of one user only"), c.User)
	}
	if (m == ModeFork || m == ModePass) && len(c.addrs()) > 1 {
		return serverErr(op, errors.New(m.String()+" mode accepts on one address"), strings.Join(c.addrs(), " "))
	}
	if m == ModeReuseport {
		for _, a := range c.addrs() {
			if strings.HasPrefix(a, "unix:") {
				return serverErr(op, errors.New("reuseport mode takes TCP addresses only (SO_REUSEPORT does not spread Unix-domain connections)"), a)
			}
		}
	}
	if m == ModeFork {
		c.workers = c.MaxChildren
		if c.workers == 0 {
			c.workers = DefaultMaxChildren
		}
		c.slots = max(c.MaxWorkers, c.workers)
	}
	return nil
}

// modeState is the supervisor's part of the modes that accept in the
// supervisor (fork, pass): the goroutine that accepts.
type modeState struct {
	acc *acceptor
	// pass: the workers' socketpairs (pass.go).
	pass *passer
}

// acceptor is the supervisor's accept loop in fork and pass mode: it polls
// its own copy of the listener (so that closing the supervisor's listener
// never races its poll) and the wake descriptor.
type acceptor struct {
	fd   int // a dup of the listener; closed by the loop when it ends
	wake int // eventfd: stop
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func newAcceptor(ln *os.File) (*acceptor, error) {
	rc, err := ln.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 3) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	wake, err := sys.NewWake()
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &acceptor{fd: fd, wake: wake, stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// halt stops the loop and waits until it has closed its listener.
func (a *acceptor) halt() {
	a.once.Do(func() {
		close(a.stop)
		sys.Wake(a.wake)
	})
	<-a.done
}

func (a *acceptor) stopped() bool {
	select {
	case <-a.stop:
		return true
	default:
		return false
	}
}

// stopModeAccept stops the supervisor's accepting (fork, pass) at once:
// part of closing its listener.
func (sv *supervisor) stopModeAccept() {
	a := sv.mode.acc
	if a == nil {
		return
	}
	if sv.fork == nil {
		a.halt()
		return
	}
	// fork: a connection the acceptor has taken already is served (its
	// client waits for an answer); the acceptor may be waiting to hand
	// one over to this very loop.
	go a.halt()
	for {
		select {
		case cfd := <-sv.fork.conns:
			sv.forkOne(cfd, time.Now())
		case <-a.done:
			return
		}
	}
}

// startMode starts what the mode runs in the supervisor, once the objects
// exist and before the first workers start.
func (sv *supervisor) startMode() error {
	sv.board.hdr[hMode].Store(uint64(sv.cfg.Mode) + 1)
	switch sv.cfg.Mode {
	case ModeFork:
		return sv.startFork()
	case ModePass:
		return sv.startPass()
	case ModeReuseport:
		sv.warnMigrate()
	}
	return nil
}

// endMode ends what startMode started, once every worker is gone.
func (sv *supervisor) endMode() {
	sv.stopModeAccept()
	if p := sv.mode.pass; p != nil {
		p.close()
	}
}

// modeFiles are the descriptors a new worker (or child) in slot s
// inherits from descriptor 3: the listeners (prefork), the address holders
// it binds its own sockets like (reuseport), its socketpair (pass), its
// connection (fork). after runs once it has started or failed to.
func (sv *supervisor) modeFiles(s *slot) (files []*os.File, after func(pid int, err error), err error) {
	switch sv.cfg.Mode {
	case ModeFork:
		f := s.conn
		s.conn = nil
		return []*os.File{f}, func(int, error) { f.Close() }, nil
	case ModePass:
		return sv.mode.pass.files(s)
	}
	return sv.dep.files(), func(int, error) {}, nil
}

// modeLogCounters logs what the mode counts, on SIGUSR1 and when the
// server stops (the book prints its per-child counts on SIGINT).
func (sv *supervisor) modeLogCounters() {
	if sv.cfg.Mode == ModePass {
		sv.logPassCounts()
	}
}

// Exit reasons of the modes (the band 16 to 31; 16 is listener_api.go's).
const (
	// reasonForkDone: a fork child served its connection.
	reasonForkDone uint64 = 17 + iota
	// reasonPassClosed: the supervisor closed a pass worker's socketpair.
	reasonPassClosed
)

// startAccepting starts what takes this worker's connections: the accept
// loop (prefork, reuseport), the socketpair (pass), the one connection
// (fork); with Serve, Serve's Accept.
func (w *worker) startAccepting() {
	w.slot[sSocket].Store(w.sockIno)
	switch w.boot.mode {
	case ModeFork, ModePass:
		if w.srv.Serve != nil {
			w.feed = make(chan *countedConn)
			w.runServe()
		}
		if w.boot.mode == ModeFork {
			w.runForkChild()
		} else {
			go w.passLoop()
		}
	default:
		if w.srv.Serve != nil {
			w.runServe()
		} else {
			go w.acceptLoop()
		}
	}
}

// modeAttach sets up what the worker inherited at descriptor 3 and on:
// in reuseport mode its own listening sockets take the address holders'
// places; in fork and pass mode descriptor 3 is no listener (the
// connection, the socketpair), which closeListener must leave alone.
func (w *worker) modeAttach() error {
	switch w.boot.mode {
	case ModeReuseport:
		return w.bindReuseport()
	case ModeFork, ModePass:
		w.lnClosed = true
	}
	return nil
}

// notifyConn closes done when the connection is closed.
type notifyConn struct {
	net.Conn
	done chan struct{}
	once sync.Once
}

func (c *notifyConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.done) })
	return err
}

func (c *notifyConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// deliver gives the connection on fd (non-blocking) to the worker's
// server, its Handler, HTTP server or Serve's Accept, counted in the
// slot, and returns a channel closed once the connection is closed.
func (w *worker) deliver(fd int) <-chan struct{} {
	nc := &notifyConn{Conn: newSockConn(fd, nil, nil), done: make(chan struct{})}
	c, t := w.counted(nc)
	switch {
	case w.feed != nil:
		// Serve's Accept: a connection is a request, as in served.
		select {
		case w.feed <- c:
		case <-w.drained:
			c.Close()
		}
		w.requestDone()
	case w.httpLn != nil:
		// The HTTP handler counts each request itself (httpHandler), as
		// in handoff: the connection is not one more.
		w.httpLn.give(c)
	default:
		w.handlers.Add(1)
		// Tracked, so that RequestTimeout and SlowTimeout see it.
		go w.serveTracked(c, t)
		w.requestDone()
	}
	return nc.done
}

// waitServed waits for done, beating the heartbeat meanwhile; false if the
// worker began to drain first.
func (w *worker) waitServed(done <-chan struct{}) bool {
	t := time.NewTicker(lockWait / 2)
	defer t.Stop()
	for {
		select {
		case <-done:
			return true
		case <-w.drained:
			return false
		case <-t.C:
			w.beat()
		}
	}
}

// perChildLevel is the level of the per-worker start and ready lines:
// in fork mode, where each connection has its child, they would be two
// lines a connection, and the end's line says what matters.
func (sv *supervisor) perChildLevel() slog.Level {
	if sv.cfg.Mode == ModeFork {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// modeWorker fills in what the modes keep in slot s.
func (b *board) modeWorker(s int, ws *WorkerStatus) {
	w := &b.slots[s]
	ws.Passed = w[sPassed].Load()
	ws.Socket = w[sSocket].Load()
	ws.Child = w[sChild].Load() != 0
}

// modeStatus fills in what the modes keep in the header.
func (b *board) modeStatus(st *Status) {
	m := b.hdr[hMode].Load()
	if m == 0 {
		return // a server from before the modes
	}
	st.Mode = Mode(m - 1).String()
	st.Passed = b.hdr[hPassed].Load()
	if Mode(m-1) == ModeFork {
		st.Children = len(st.Workers)
		st.MaxChildren = st.Want
		st.Forked = b.hdr[hForked].Load()
	}
}
