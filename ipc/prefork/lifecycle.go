package prefork

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrServerClosed is what Run returns after Shutdown or Close, and what
// Reload and Scale return once the server is closed, as net/http's.
var ErrServerClosed = errors.New("prefork: Server closed")

// errNotRunning: Reload or Scale before Run has started the supervisor.
var errNotRunning = errors.New("prefork: Server not running")

// The package never catches a signal by itself: Shutdown, Close, Reload and
// Scale reach the supervisor's loop through a channel, and HandleSignals is
// the opt-in helper that maps the classic signals onto them (`ipc serve`
// uses it).

type cmdKind int

const (
	cmdShutdown cmdKind = iota + 1
	cmdClose
	cmdReload
	cmdScale   // to n
	cmdScaleBy // by n (SIGTTIN, SIGTTOU)
	cmdCounters
	cmdUpgrade
)

type command struct {
	kind  cmdKind
	n     int
	why   string
	reply chan error // nil: nobody waits for an answer
}

// lifecycle is a Server's running state. It hangs off the Server by
// pointer, so that copying a Server (config does) copies no lock.
type lifecycle struct {
	mu      sync.Mutex
	running bool
	closed  bool
	ctl     chan command
	done    chan struct{} // closed when Run returns
}

var lifeMu sync.Mutex

func (s *Server) lc() *lifecycle {
	lifeMu.Lock()
	defer lifeMu.Unlock()
	if s.life == nil {
		s.life = &lifecycle{}
	}
	return s.life
}

// start marks the server running; it fails after Shutdown or Close, or if
// Run is already running.
func (l *lifecycle) start() (chan command, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return nil, ErrServerClosed
	case l.running:
		return nil, serverErr("run", errors.New("Run is already running"), "")
	}
	l.running = true
	l.ctl = make(chan command)
	l.done = make(chan struct{})
	return l.ctl, nil
}

func (l *lifecycle) finish() {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.done)
	l.ctl = nil
	l.running = false
}

// send delivers c to the running supervisor, or says why it cannot.
func (l *lifecycle) send(c command, closing bool) (done chan struct{}, err error) {
	l.mu.Lock()
	if closing {
		l.closed = true
	}
	ctl, done := l.ctl, l.done
	closed := l.closed && !closing
	l.mu.Unlock()
	switch {
	case closed:
		return nil, ErrServerClosed
	case ctl == nil:
		return nil, errNotRunning
	}
	select {
	case ctl <- c:
		return done, nil
	case <-done:
		return nil, ErrServerClosed
	}
}

// Shutdown stops the server gracefully: the listener is closed at once, so
// new connections are refused, workers finish their connections for up to
// GracefulTimeout, and every IPC object is removed. It returns when Run has
// returned, or when ctx is done first: then it calls Close and returns
// ctx.Err(). After Shutdown, Run returns ErrServerClosed (at once, if it had
// not started).
func (s *Server) Shutdown(ctx context.Context) error { return s.shutdown(ctx, "Shutdown") }

func (s *Server) shutdown(ctx context.Context, why string) error {
	done, err := s.lc().send(command{kind: cmdShutdown, why: why}, true)
	if err != nil {
		return nil // not running: nothing to wait for
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.close("Shutdown: " + ctx.Err().Error())
		return ctx.Err()
	}
}

// Close stops the server at once: workers are killed, their connections
// cut, and every IPC object removed. It returns when Run has returned.
func (s *Server) Close() error { s.close("Close"); return nil }

func (s *Server) close(why string) {
	if done, err := s.lc().send(command{kind: cmdClose, why: why}, true); err == nil {
		<-done
	}
}

// Reload replaces every worker by one of a new generation, one at a time
// as the new ones become ready, so that the pool never serves with fewer
// workers and no connection is refused. It returns once the reload has
// begun.
func (s *Server) Reload() error { return s.reload("Reload") }

func (s *Server) reload(why string) error {
	_, err := s.lc().send(command{kind: cmdReload, why: why}, false)
	return err
}

// Scale sets the number of workers to n, from 1 to the number of
// scoreboard slots (MaxWorkers). It returns once the change has begun.
func (s *Server) Scale(n int) error { return s.scale(cmdScale, n, "Scale") }

func (s *Server) scale(kind cmdKind, n int, why string) error {
	reply := make(chan error, 1)
	if _, err := s.lc().send(command{kind: kind, n: n, why: why, reply: reply}, false); err != nil {
		return err
	}
	return <-reply
}

// HandleSignals makes the classic signals drive s, as gunicorn's and
// Apache's do: SIGTERM and SIGINT Shutdown (a second SIGINT Closes), SIGQUIT
// Closes, SIGHUP Reloads, SIGTTIN and SIGTTOU Scale by one worker more or
// fewer, SIGUSR1 logs each worker's counters, SIGUSR2 Upgrades. Call it in the supervisor
// before Run; the returned function stops it. Nothing else in the package
// touches the process's signals.
func HandleSignals(s *Server) (stop func()) {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP,
		syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGUSR1, syscall.SIGUSR2)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		stopping := false
		for {
			var sig os.Signal
			select {
			case <-quit:
				return
			case sig = <-sigs:
			}
			name := unix.SignalName(sig.(syscall.Signal))
			switch sig {
			case syscall.SIGTERM, syscall.SIGINT:
				if stopping && sig == syscall.SIGINT {
					go s.close("a second SIGINT")
				} else {
					stopping = true
					go s.shutdown(context.Background(), name)
				}
			case syscall.SIGQUIT:
				go s.close(name)
			case syscall.SIGHUP:
				s.reload(name)
			case syscall.SIGTTIN:
				s.scale(cmdScaleBy, 1, name)
			case syscall.SIGTTOU:
				s.scale(cmdScaleBy, -1, name)
			case syscall.SIGUSR2:
				s.upgrade(name)
			case syscall.SIGUSR1:
				s.lc().send(command{kind: cmdCounters, why: name}, false)
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(quit)
		wg.Wait()
	}
}

// onCommand obeys a command in the supervisor's loop.
func (sv *supervisor) onCommand(c command) {
	var err error
	switch c.kind {
	case cmdShutdown:
		sv.beginStop(c.why)
	case cmdClose:
		sv.stopNow(c.why)
	case cmdReload:
		if !sv.stopping {
			sv.gen++
			sv.board.hdr[hGeneration].Store(sv.gen)
			sv.log.Info("reloading: replacing every worker", "by", c.why, "generation", sv.gen)
		}
	case cmdScale, cmdScaleBy:
		err = sv.scaleTo(c)
	case cmdCounters:
		sv.logCounters()
	case cmdUpgrade:
		err = sv.startUpgrade(c.why)
		if err != nil {
			sv.log.Warn("cannot upgrade", "by", c.why, "err", err)
		}
	}
	if c.reply != nil {
		c.reply <- err
	}
	sv.reconcile(time.Now())
}

// scaleTo is Scale, and SIGTTIN and SIGTTOU: in a static pool it sets the workers to
// keep (in fork mode, the bound on children alive at once), in a dynamic or
// ondemand pool the pool's maximum (setPoolMax, pool.go says why); either
// from 1 to MaxWorkers. Only the words of the refusals differ.
func (sv *supervisor) scaleTo(c command) error {
	pooled := sv.pool.mode != PoolStatic
	cur, noun := sv.want, func(n int) string { return strconv.Itoa(n) + " workers" }
	capMsg, capAttrs := "at the cap: no worker more", []any{"workers", sv.want, "max_workers", sv.cfg.slots}
	floorMsg, floorAttrs := "at the floor: no worker fewer", []any{"workers", sv.want}
	if pooled {
		cur, noun = sv.pool.max, func(n int) string { return "maximum " + strconv.Itoa(n) }
		capMsg, floorMsg = "at the cap: the pool's maximum is MaxWorkers", "at the floor: the pool's maximum is at least 1"
		capAttrs = []any{"max_workers", sv.pool.max}
		floorAttrs = capAttrs
	}
	n := c.n
	if c.kind == cmdScaleBy {
		n = cur + c.n
	}
	switch {
	case sv.stopping:
		return ErrServerClosed
	case n > sv.cfg.slots:
		sv.log.Warn(capMsg, append([]any{"by", c.why}, capAttrs...)...)
		return serverErr("scale", unix.ERANGE, noun(n)+" > MaxWorkers "+strconv.Itoa(sv.cfg.slots))
	case n < 1:
		sv.log.Warn(floorMsg, append([]any{"by", c.why}, floorAttrs...)...)
		return serverErr("scale", unix.ERANGE, noun(n)+" < 1")
	case n == cur:
		return nil
	}
	if pooled {
		sv.setPoolMax(n, c.why)
	} else {
		sv.setWant(n, c.why)
	}
	return nil
}

// setWant sets a static pool's size (fork's bound on children) to n.
func (sv *supervisor) setWant(n int, why string) {
	msg, unit := "one worker more", "workers"
	if n < sv.want {
		msg = "one worker fewer"
	}
	if d := n - sv.want; d > 1 || d < -1 {
		msg = "scaling"
	}
	if sv.cfg.Mode == ModeFork {
		// Fork's pool is the bound on children alive at once.
		msg, unit = "at most "+strconv.Itoa(n)+" children alive at once", "max_children"
	}
	sv.want = n
	sv.board.hdr[hWant].Store(uint64(n))
	sv.log.Info(msg, "by", why, unit, n)
}
