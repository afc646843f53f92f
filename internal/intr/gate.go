package intr

import (
	"context"
	"sync/atomic"
	"time"

	// Not used here: it stops a build for an unsupported system with its
	// one error (see internal/sys/unsupported.go), before this package's
	// own undefined names can pile up.
	_ "github.com/ipctoolkit/ipc/internal/sys"
)

// Each call blocked in semop, semtimedop, msgsnd or msgrcv holds an OS
// thread, and the Go runtime aborts the process past 10,000 threads
// (runtime/debug.SetMaxThreads): 20,000 goroutines blocked in Receive would
// kill it. So at most a bounded number of calls block in the kernel at once.
// A call that finds the bound reached waits in Go instead, as a parked
// goroutine that holds no thread, until a blocked call returns; it stays
// cancellable. While it waits it makes its call with IPC_NOWAIT now and then,
// so that it completes if it can even when every kernel waiter waits for
// something else (on another object, say), which no wake-up would tell it.

var (
	// maxBlocked is the bound; package ipc sets its default at init,
	// before any call of sem or msgq can run.
	maxBlocked atomic.Int64
	blocked    atomic.Int64 // calls holding a slot, never above the bound
	parked     atomic.Int64 // calls waiting in Go for one
	// nudge tells parked calls that a slot may be free. One token is
	// enough: the call that takes it and then a slot passes it on while
	// more wait and slots are free, and each parked call also looks by
	// itself now and then.
	nudge = make(chan struct{}, 1)
)

// SetMaxBlocked sets the bound (at least 1) and returns the previous one.
// Lowering it does not interrupt calls already blocked.
func SetMaxBlocked(n int) int {
	old := int(maxBlocked.Swap(int64(max(n, 1))))
	wakeParked()
	return old
}

// Blocked reports how many calls hold a slot and how many wait in Go for
// one.
func Blocked() (inKernel, waiting int) { return int(blocked.Load()), int(parked.Load()) }

// TrySlot takes a slot for a call about to block in the kernel, if one is
// free and no call is parked waiting for one (those go first). The caller
// calls Release when the call returns.
func TrySlot() bool { return parked.Load() == 0 && take() }

func take() bool {
	for {
		n := blocked.Load()
		if n >= maxBlocked.Load() {
			return false
		}
		if blocked.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Release frees the slot TrySlot or Slot took.
func Release() {
	blocked.Add(-1)
	// A call that parks after this load finds the free slot itself: it
	// counts itself parked before it looks.
	if parked.Load() > 0 {
		wakeParked()
	}
}

func wakeParked() {
	select {
	case nudge <- struct{}{}:
	default: // a token is already there
	}
}

// Poll intervals of a parked call's IPC_NOWAIT attempts: the first soon,
// then less and less often, so that thousands of parked calls cost little.
const (
	firstPoll = 10 * time.Millisecond
	maxPoll   = time.Second
)

// Slot waits in Go for a slot, for a call that TrySlot found no room for.
// try makes the call with IPC_NOWAIT and reports whether it completed (or
// failed for good); Slot calls it now and then, and returns done when it
// did: the caller then has no slot and its call is over. Otherwise Slot
// returns with a slot taken, or with ctx's error.
func Slot(ctx context.Context, try func() bool) (done bool, err error) {
	parked.Add(1)
	defer parked.Add(-1)
	ctxDone := ctx.Done()
	var timer *time.Timer
	for poll := firstPoll; ; {
		if take() {
			if parked.Load() > 1 && blocked.Load() < maxBlocked.Load() {
				wakeParked() // pass it on
			}
			return false, nil
		}
		// Before parking, and at each wake-up: a call that can complete
		// at once (a send to a queue with room, a semop that adds)
		// needs no slot.
		if try() {
			return true, nil
		}
		if timer == nil {
			timer = time.NewTimer(poll)
			defer timer.Stop()
		}
		select {
		case <-nudge:
		case <-timer.C:
			poll = min(2*poll, maxPoll)
			timer.Reset(poll)
		case <-ctxDone:
			return false, ctx.Err()
		}
	}
}
