package prefork

import (
	"errors"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// A worker waits for its next connection in ppoll, on a thread of its own,
// rather than in Go's poller: with a P to spare that is the faster way (the
// thread returns from ppoll and accepts at once, with no goroutine to
// wake), and the poller was measured slower there (0.89x the connections
// per second with a new connection per request, GOMAXPROCS=2). With one
// P, ppoll is the slower way: the waiting thread holds the worker's only P
// until sysmon takes it (20 us at best), and every other goroutine of the
// worker waits behind it. So a reuseport worker with one listening socket
// and GOMAXPROCS=1 (fasthttp's prefork sets that in its children;
// examples/fasthttp does too) waits in the poller instead: fasthttp in two
// such workers then served 1.02x to 1.07x the connections per second of
// the ppoll wait, at 0.90x to 0.94x its CPU per connection (a new
// connection per request, wrk -c32, three runs of 5 to 7 rounds).
//
// Only reuseport: a prefork worker's listener is every worker's, and each
// worker's poller watching it would wake for every connection, the
// herd the accept lock is there to prevent.

// pollerListener returns the worker's listening socket as a file in Go's
// poller, if the worker waits there (see above), or nil. It decides at the
// first wait, once the worker's Serve or OnWorkerStart may have set
// GOMAXPROCS (examples/fasthttp does, in Serve), and keeps to it: asking
// GOMAXPROCS takes the scheduler's lock, which a turn need not pay, and
// the socket stays in the poller until closeListener. Called under lnMu.
func (w *worker) pollerListener(fds []unix.PollFd) *polledListener {
	if w.pollDecided {
		return w.lnPolled.Load()
	}
	w.pollDecided = true
	if w.boot.mode != ModeReuseport || len(fds) != 2 || runtime.GOMAXPROCS(0) != 1 {
		return nil
	}
	f := os.NewFile(uintptr(fds[0].Fd), "reuseport listener")
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	p := &polledListener{file: f, raw: rc}
	w.lnPolled.Store(p)
	return p
}

// polledListener is a listening socket in Go's poller.
type polledListener struct {
	file *os.File
	raw  syscall.RawConn
}

// accept accepts a connection, waiting in the poller while there is none,
// until lockWait has passed or the worker drains (EAGAIN then: the caller
// goes round its loop, beating the heartbeat, as after a ppoll that timed
// out). Any other error of accept4 is returned as it came.
func (p *polledListener) accept(w *worker, peer *unix.RawSockaddrInet6) (cfd int, e unix.Errno) {
	p.file.SetReadDeadline(time.Now().Add(lockWait))
	// After the deadline is set, so that a drain's wake (wakePolled),
	// which comes after draining is set, is not overwritten.
	if w.draining.Load() {
		return -1, unix.EAGAIN
	}
	// Edge-triggered, the poller says only what arrives after it was
	// asked (Read first clears what it knew): so accept first, and wait
	// only on EAGAIN, never wait first.
	calls := 0
	err := p.raw.Read(func(fd uintptr) bool {
		calls++
		cfd, e = sys.Accept4Peer(int(fd), peer)
		return e != unix.EAGAIN
	})
	if wakes := calls - 1; wakes > 0 {
		w.slot[wWakeups].Add(uint64(wakes))
		futile := wakes // each wake's accept4 but the one that ended the wait
		if err == nil {
			futile--
		}
		w.slot[wFutile].Add(uint64(futile))
	}
	if err != nil {
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			// Not the wait's timeout nor the drain's wake: the socket
			// is unusable, and trying again would spin.
			w.drain(reasonListener, "wait on the listener: "+err.Error())
		}
		return -1, unix.EAGAIN
	}
	return cfd, e
}

// wakePolled ends a wait in the poller, for a drain.
func (w *worker) wakePolled() {
	if p := w.lnPolled.Load(); p != nil {
		p.file.SetReadDeadline(time.Unix(1, 0))
	}
}

// closePolled closes the listening socket if it is in the poller, through
// its file (a raw close would leave the file to close the descriptor
// number again, whatever it then is), and reports whether it did.
func (w *worker) closePolled() bool {
	p := w.lnPolled.Load()
	if p == nil {
		return false
	}
	p.file.Close()
	return true
}
