package proc

import (
	"errors"
	"os"
	"sync"
)

// Exit is a child of a Group that has ended: its Cmd, how it ended, and the
// error of waiting for it, if that failed.
type Exit struct {
	Cmd    *Cmd
	Status Status
	Err    error
}

// Group supervises many children: it starts them and reaps each one the
// moment it ends (through that child's own pidfd, never with a wait4(-1)
// that would steal other waiters' statuses), so that no child is ever left a
// zombie, whether or not anyone is reading Exits yet. Each ending is then
// delivered on Exits. The zero Group is ready to use.
//
// A supervisor selects on Exits beside its signals and timers, respawning
// what ended; to shut down, it signals the children, calls Close and ranges
// over Exits until it is closed.
type Group struct {
	// OnEvent, if set before the first Start, is called with every stop
	// (SIGSTOP, SIGTSTP, ...) and continue (SIGCONT) a child goes through,
	// from the goroutine that reaps that child: the same wait serves both,
	// so watching costs no thread of its own. It must not block, or the
	// child's end waits behind it.
	OnEvent func(c *Cmd, ev Status)

	mu          sync.Mutex
	exits       chan Exit
	running     map[*Cmd]struct{}
	outstanding int // started, Exit not yet received
	closed      bool
}

// ErrGroupClosed is what Group.Start returns after Close.
var ErrGroupClosed = errors.New("proc: group closed")

func (g *Group) initLocked() {
	if g.exits == nil {
		g.exits = make(chan Exit)
		g.running = map[*Cmd]struct{}{}
	}
}

// Start starts c as a child of the group. From then on the group waits for
// it: the result of c.Wait is the one delivered on Exits (calling c.Wait as
// well is harmless; c.WaitEvent works as usual).
func (g *Group) Start(c *Cmd) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.initLocked()
	if g.closed {
		return ErrGroupClosed
	}
	// Started under the lock, so that Close cannot slip in between the start
	// and the count that keeps Exits open for this child.
	if err := c.Start(); err != nil {
		return err
	}
	g.running[c] = struct{}{}
	g.outstanding++
	go g.reap(c)
	return nil
}

func (g *Group) reap(c *Cmd) {
	if g.OnEvent != nil {
		for {
			ev, err := c.WaitEvent()
			if err != nil || ev.Final() {
				break
			}
			g.OnEvent(c, ev)
		}
	}
	st, err := c.Wait()
	g.mu.Lock()
	delete(g.running, c)
	g.mu.Unlock()
	g.exits <- Exit{Cmd: c, Status: st, Err: err}
	g.mu.Lock()
	g.outstanding--
	if g.closed && g.outstanding == 0 {
		close(g.exits)
	}
	g.mu.Unlock()
}

// Exits delivers each child's end, once, in the order they were reaped.
// Children are reaped whether or not it is read; an Exit waits here until
// someone takes it. It is closed once the group is closed and every Exit
// has been received.
func (g *Group) Exits() <-chan Exit {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.initLocked()
	return g.exits
}

// Close stops the group from starting more children. Those running go on;
// Exits is closed after the last of them has been received.
func (g *Group) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.initLocked()
	if g.closed {
		return
	}
	g.closed = true
	if g.outstanding == 0 {
		close(g.exits)
	}
}

// Len is the number of children that have not been reaped yet.
func (g *Group) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.running)
}

// Running lists the children that have not been reaped yet, in no
// particular order.
func (g *Group) Running() []*Cmd {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]*Cmd, 0, len(g.running))
	for c := range g.running {
		out = append(out, c)
	}
	return out
}

// Signal sends sig to every child not yet reaped. A child that ends
// meanwhile is not an error.
func (g *Group) Signal(sig os.Signal) error {
	var errs []error
	for _, c := range g.Running() {
		if err := c.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
