package prefork

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Any Go server inside the workers: Server.Serve is given a net.Listener
// whose Accept is the worker's own accept path, so net/http, gRPC or
// fasthttp run unchanged, each worker process serving what it accepts and
// the supervisor supervising, reloading and scaling them as with a Handler.
// Accept takes one turn at the listener as the worker's accept loop would
// (listener.take): in prefork mode it takes the accept lock, polls the raw
// descriptor, accepts, and gives the lock back, in the calling goroutine,
// with no goroutine or channel between the accept and the server.

// workerListener is the net.Listener a worker gives Server.Serve.
type workerListener struct {
	w *worker

	// mu serializes Accept: a turn at the listener is one caller's.
	mu      sync.Mutex
	fds     []unix.PollFd
	batch   [acceptBatch]accepted
	pending []accepted // accepted in the last turn, not yet returned
	closed  bool
	addr    net.Addr
	// done is closed by Close: it wakes an Accept waiting on the feed.
	done chan struct{}
}

func newWorkerListener(w *worker) *workerListener {
	l := &workerListener{w: w, addr: localAddr(), done: make(chan struct{})}
	if w.feed == nil {
		l.fds = pollFDs(w.boot.listeners, w.wakeFD)
	}
	return l
}

// Accept waits for the next connection this worker takes and returns it.
// It fails with net.ErrClosed once the listener is closed or the worker
// drains; a connection already accepted when the drain began is still
// returned, since its client is waiting for an answer.
func (l *workerListener) Accept() (net.Conn, error) {
	if w := l.w; w.feed != nil {
		// fork, pass: the connection comes from the child's descriptor
		// or the socketpair, one at a time.
		select {
		case c := <-w.feed:
			return c, nil
		case <-w.drained:
		case <-l.done:
		}
		return nil, net.ErrClosed
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.w
	for {
		if l.closed {
			return nil, net.ErrClosed
		}
		if len(l.pending) > 0 {
			a := &l.pending[0]
			l.pending = l.pending[1:]
			if len(l.pending) == 0 {
				w.accepting.Store(false)
			}
			return w.served(a), nil
		}
		if w.draining.Load() {
			w.accepting.Store(false)
			return nil, net.ErrClosed
		}
		n, backoff := w.turn(l.fds, l.batch[:], false)
		l.pending = l.batch[:n]
		if n == 0 {
			w.accepting.Store(false)
		}
		if backoff {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// Close stops Accept. The server that closes its listener is done with
// the worker: the worker drains (its own listening descriptors close, its
// open connections get GracefulTimeout) once Serve returns.
func (l *workerListener) Close() error {
	l.w.drain(reasonServeEnded, "Serve closed its listener")
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	close(l.done)
	for _, a := range l.pending {
		// Accepted in the turn the close cut short: nobody will serve it.
		unix.Close(a.fd)
	}
	l.pending = nil
	l.w.accepting.Store(false)
	return nil
}

// Addr is the address of the worker's (first) listening socket.
func (l *workerListener) Addr() net.Addr { return l.addr }

// served counts a connection the worker accepted and makes it a net.Conn
// whose bytes and end are counted in the worker's slot.
func (w *worker) served(a *accepted) net.Conn {
	c, _ := w.counted(newSockConn(a.fd, w.listenerAddr(w.from), &a.peer))
	w.requestDone()
	return c
}

// runServe runs Server.Serve in the worker, and drains the worker when it
// returns by itself (an error, or a server that stopped).
func (w *worker) runServe() {
	l := newWorkerListener(w)
	w.serveLn = l
	w.serveDone = make(chan struct{})
	// Serve's server calls Accept when it wants to, not once a second:
	// the heartbeat is beaten here while it runs.
	go func() {
		t := time.NewTicker(lockWait / 2)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				w.beat()
			case <-w.serveDone:
				return
			}
		}
	}()
	go func() {
		defer close(w.serveDone)
		err := w.srv.Serve(w.ctx, l)
		switch {
		case w.draining.Load():
		case err == nil || errors.Is(err, net.ErrClosed) || errors.Is(err, http.ErrServerClosed):
			w.drain(reasonServeEnded, "Serve returned")
		default:
			w.log.Error("Serve failed", "err", err)
			w.drain(reasonServeEnded, "Serve failed: "+err.Error())
		}
	}()
}

// finishServe waits, until deadline, for Serve to return and for every
// connection it was given to be closed; it returns how many were cut.
func (w *worker) finishServe(deadline time.Time) int {
	w.serveLn.Close()
	for time.Now().Before(deadline) {
		select {
		case <-w.serveDone:
			if w.slot[wActive].Load() == 0 {
				return 0
			}
		default:
		}
		time.Sleep(5 * time.Millisecond)
	}
	return int(w.slot[wActive].Load())
}

// ServeHTTP returns a Server.Serve function that runs hs in each worker:
// hs.Serve on the worker's listener, and hs.Shutdown (bounded by the
// worker's GracefulTimeout, which the supervisor enforces) when the worker
// begins to stop. hs's BaseContext, if nil, is set to the worker's context,
// so that WorkerFrom works in its handlers. Unlike HTTPHandler, whose
// draining worker answers Connection: close for a grace before closing
// idle keep-alive connections, hs.Shutdown closes them at once, so a
// request already on its way on one can get no answer: prefer HTTPHandler
// for net/http; Serve is for servers that want the listener itself.
func ServeHTTP(hs *http.Server) func(ctx context.Context, l net.Listener) error {
	return func(ctx context.Context, l net.Listener) error {
		if hs.BaseContext == nil {
			base := context.WithoutCancel(ctx)
			hs.BaseContext = func(net.Listener) context.Context { return base }
		}
		stopped := make(chan struct{})
		go func() {
			<-ctx.Done()
			hs.Shutdown(context.Background())
			close(stopped)
		}()
		err := hs.Serve(l)
		if errors.Is(err, http.ErrServerClosed) {
			<-stopped // Serve returns at once; Shutdown waits for the connections
			return nil
		}
		return err
	}
}

// Exit reasons of the modes' band (16 to 31, message.go).
const (
	// reasonServeEnded: Server.Serve returned, or closed its listener,
	// while the worker was not draining.
	reasonServeEnded uint64 = 16 + iota
)

// modeReasonWords is reasonWords for the modes' band.
func modeReasonWords(code uint64) string {
	switch code {
	case reasonServeEnded:
		return "Serve returned"
	case reasonForkDone:
		return "served its connection"
	case reasonPassClosed:
		return "the supervisor closed its socketpair"
	}
	return ""
}
