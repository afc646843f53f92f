package prefork

import (
	"errors"
	"io"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/ipctoolkit/ipc/internal/sys"
	"github.com/ipctoolkit/ipc/pipe"
	"golang.org/x/sys/unix"
)

// Pass mode, UNP ch.30's child05.c: the supervisor alone accepts, and
// passes each connection over a worker's socketpair (SCM_RIGHTS, package
// pipe) to the first idle worker, lowest slot first, as the book's loop
// does (which is what makes the book's per-child counts uneven). The
// worker serves it, one client at a time, and writes one byte back when it
// is free again. Bytes a worker writes to the supervisor:
const (
	passFree    = 1 // the connection is done: idle again
	passLeaving = 2 // draining: pass nothing more (the supervisor closes its end)
)

// passer is the supervisor's side: the accept loop and every worker's
// socketpair, on one goroutine that polls them all.
type passer struct {
	sv *supervisor
	a  *acceptor

	mu sync.Mutex
	ws map[int]*passWorker // by slot
}

// passWorker is one worker's socketpair end, held by the supervisor.
type passWorker struct {
	slot    int
	pid     int
	f       *os.File // the supervisor's end (non-blocking, in no poller)
	fd      int
	busy    bool
	leaving bool
}

func (sv *supervisor) startPass() error {
	a, err := newAcceptor(sv.ln)
	if err != nil {
		return serverErr("start", err, "the pass acceptor")
	}
	sv.mode.acc = a
	p := &passer{sv: sv, a: a, ws: map[int]*passWorker{}}
	sv.mode.pass = p
	go p.loop()
	return nil
}

// files makes slot s's socketpair: the worker's end for it to inherit,
// and, once it has started, the supervisor's end in the passer.
func (p *passer) files(s *slot) ([]*os.File, func(pid int, err error), error) {
	mine, theirs, err := pipe.Socketpair(pipe.Stream, 0)
	if err != nil {
		return nil, nil, err
	}
	return []*os.File{theirs}, func(pid int, err error) {
		theirs.Close()
		if err != nil {
			mine.Close()
			return
		}
		fd := int(mine.Fd())
		unix.SetNonblock(fd, true)
		p.mu.Lock()
		if old := p.ws[s.i]; old != nil {
			old.f.Close()
		}
		p.ws[s.i] = &passWorker{slot: s.i, pid: pid, f: mine, fd: fd}
		p.mu.Unlock()
		p.wake()
	}, nil
}

func (p *passer) wake() { sys.Wake(p.a.wake) }

// close ends the loop (if halt has not) and closes every socketpair: a
// worker still there reads EOF and drains.
func (p *passer) close() {
	p.a.halt()
	p.closeAll()
}

func (p *passer) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, w := range p.ws {
		w.f.Close()
		delete(p.ws, k)
	}
}

// usable reports whether w may be passed a connection: idle, not leaving,
// and its slot says it serves (ready, not ordered to stop).
func (p *passer) usable(w *passWorker) bool {
	if w.busy || w.leaving {
		return false
	}
	sl := &p.sv.board.slots[w.slot]
	return sl[wState].Load() == stateReady && sl[wOrder].Load() == orderNone && int(sl[wPID].Load()) == w.pid
}

func (p *passer) loop() {
	a := p.a
	defer close(a.done)
	defer unix.Close(a.fd)
	// Stopped (the server stops, or hands over to an upgrade): the
	// workers read EOF after what is on its way, and drain.
	defer p.closeAll()
	var fds []unix.PollFd
	var order []*passWorker
	buf := make([]byte, 64)
	for !a.stopped() {
		p.mu.Lock()
		order = order[:0]
		idle := false
		for _, w := range p.ws {
			order = append(order, w)
			idle = idle || p.usable(w)
		}
		p.mu.Unlock()
		sort.Slice(order, func(i, j int) bool { return order[i].slot < order[j].slot })
		// The listener is polled only while some worker is idle: the
		// book's select with listenfd in the set only if navail > 0.
		lfd := int32(-1)
		if idle {
			lfd = int32(a.fd)
		}
		fds = append(fds[:0], unix.PollFd{Fd: lfd, Events: unix.POLLIN}, unix.PollFd{Fd: int32(a.wake), Events: unix.POLLIN})
		for _, w := range order {
			fds = append(fds, unix.PollFd{Fd: int32(w.fd), Events: unix.POLLIN})
		}
		// Idle workers become ready without writing: look again each tick.
		if _, e := sys.Ppoll(fds, tick); e != 0 && e != unix.EINTR {
			time.Sleep(tick)
			continue
		}
		if fds[1].Revents != 0 {
			var b [8]byte
			unix.Read(a.wake, b[:])
		}
		p.mu.Lock()
		for i, w := range order {
			if fds[i+2].Revents != 0 && p.ws[w.slot] == w {
				p.readWorker(w, buf)
			}
		}
		p.mu.Unlock()
		if lfd >= 0 && fds[0].Revents&unix.POLLIN != 0 && p.acceptAndPass(order) {
			// Short of descriptors or memory: let some close first.
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// readWorker reads what w wrote: free bytes, a leaving byte, or its end.
func (p *passer) readWorker(w *passWorker, buf []byte) {
	for {
		n, err := unix.Read(w.fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return
		}
		if err != nil || n == 0 {
			// The worker is gone (its end closed): what it was serving
			// went with it.
			w.f.Close()
			delete(p.ws, w.slot)
			return
		}
		for _, b := range buf[:n] {
			switch b {
			case passFree:
				w.busy = false
			case passLeaving:
				// Nothing more for it; closing our end tells it that
				// nothing is on its way either.
				w.leaving = true
				w.f.Close()
				delete(p.ws, w.slot)
				return
			}
		}
	}
}

// acceptAndPass accepts one connection and passes it to the first idle
// worker; true when accept is short of a resource and the caller should
// pause. The worker is chosen before the accept, under the lock: a
// connection is taken from the kernel's queue only when someone usable is
// there to serve it. Chosen after, a worker ordered to stop meanwhile (a
// reload, an upgrade's drain) left the accepted client nobody but a close,
// a reset it would have been spared had it stayed queued for the next
// worker or the next supervisor sharing the listener.
func (p *passer) acceptAndPass(order []*passWorker) (backoff bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	first := -1
	for i, w := range order {
		if p.ws[w.slot] == w && p.usable(w) {
			first = i
			break
		}
	}
	if first < 0 || p.a.stopped() {
		return false
	}
	cfd, e := sys.Accept4(p.a.fd)
	switch e {
	case 0:
	case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
		return true
	default:
		return false
	}
	defer unix.Close(cfd)
	for _, w := range order[first:] {
		if p.ws[w.slot] != w || w.busy || w.leaving {
			continue
		}
		// A worker usable a moment ago takes it even if it was ordered to
		// stop since: draining, it serves everything in its queue.
		// Counted before it is sent: once sent, the worker may serve it
		// and its client see the answer before this goroutine runs on,
		// and a count read then must include it.
		p.sv.board.slots[w.slot][sPassed].Add(1)
		p.sv.board.hdr[hPassed].Add(1)
		if err := pipe.SendFDs(w.fd, []byte{0}, cfd); err != nil {
			p.sv.board.slots[w.slot][sPassed].Add(^uint64(0))
			p.sv.board.hdr[hPassed].Add(^uint64(0))
			continue // its end is full or gone: the next one
		}
		w.busy = true
		return false
	}
	// Every socketpair failed (their workers died meanwhile): the client
	// is refused rather than kept waiting.
	return false
}

// logPassCounts logs how many connections were passed to each worker, as
// the book prints them on SIGINT ("child 0, 1021 connections").
func (sv *supervisor) logPassCounts() {
	var total uint64
	for _, s := range sv.slots {
		if s.c == nil {
			continue
		}
		n := sv.board.slots[s.i][sPassed].Load()
		total += n
		sv.log.Info("child "+strconv.Itoa(s.i)+", "+itoa(n)+" connections", "slot", s.i, "pid", s.c.pid,
			"generation", s.c.gen, "connections", n)
	}
	sv.log.Info("connections passed", "to_these_workers", total, "since_start", sv.board.hdr[hPassed].Load())
}

// passLoop is a pass worker's: receive a connection on the socketpair
// (descriptor 3), serve it to its end, write a byte back; until it drains.
// Draining, it says so (passLeaving) and serves what was already on its
// way until the supervisor closes its end.
func (w *worker) passLoop() {
	defer close(w.acceptDone)
	const sp = listenFD
	fds := []unix.PollFd{{Fd: sp, Events: unix.POLLIN}, {Fd: int32(w.wakeFD), Events: unix.POLLIN}}
	buf := make([]byte, 1)
	for !w.draining.Load() {
		w.beat()
		if w.slot[wOrder].Load() == orderStop {
			w.drain(reasonStop, "asked to stop")
			break
		}
		fds[0].Revents, fds[1].Revents = 0, 0
		if n, e := sys.Ppoll(fds, lockWait); e != 0 || n == 0 || fds[1].Revents != 0 {
			continue
		}
		w.accepting.Store(true)
		ok := w.receivePassed(sp, buf, true)
		w.accepting.Store(false)
		if !ok {
			w.drain(reasonPassClosed, "the supervisor closed its socketpair")
			return
		}
	}
	w.accepting.Store(true)
	defer w.accepting.Store(false)
	// A write that fails (EPIPE: the supervisor stopped and closed its
	// end first, as on an upgrade) does not end the drain: what it passed
	// before closing is still in our receive queue, and a connection left
	// there is reset when the worker exits.
	unix.Write(sp, []byte{passLeaving})
	// Blocking reads, bounded: the supervisor answers at once (or is gone,
	// and its end with it).
	unix.SetsockoptTimeval(sp, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1})
	for w.receivePassed(sp, buf, false) {
	}
}

// receivePassed receives one message from the socketpair and serves the
// connection it carries; false at the socketpair's end. wait: serve it to
// its end and write the free byte back.
func (w *worker) receivePassed(sp int, buf []byte, wait bool) bool {
	n, fds, err := pipe.ReceiveFDs(sp, buf, 1)
	switch {
	case errors.Is(err, io.EOF) || err == nil && n == 0:
		return false
	case err != nil:
		return errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) && wait
	case len(fds) == 0:
		return wait // a byte without a descriptor: not the supervisor's
	}
	done := w.deliver(fds[0])
	if !wait {
		return true
	}
	if w.waitServed(done) {
		unix.Write(sp, []byte{passFree})
	}
	return true
}
