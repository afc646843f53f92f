package rawwait

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestAsyncPreemptOff(t *testing.T) {
	for _, c := range []struct {
		godebug string
		want    bool
	}{
		{"", false},
		{"asyncpreemptoff=1", true},
		{"gctrace=1, asyncpreemptoff=1", true},
		{"asyncpreemptoff=1,asyncpreemptoff=0", false},
		{"asyncpreemptoff=0", false},
		{"xasyncpreemptoff=1", false},
	} {
		if got := !Default("", c.godebug); got != c.want {
			t.Errorf("Default(\"\", %q) = %v, want %v", c.godebug, !got, !c.want)
		}
	}
}

// An interruption after few raw calls makes the next blocking calls go the
// plain way, for twice as many calls at each strike; one after many calls
// takes a strike away; interruptions in a burst are judged once.
func TestStrikes(t *testing.T) {
	if !enabled {
		t.Skip("raw waits are off (GODEBUG=asyncpreemptoff=1)")
	}
	var h Hint
	if h.UsePlain() {
		t.Fatal("a fresh hint starts plain")
	}
	plainCalls := func() int {
		n := 0
		for h.UsePlain() {
			n++
		}
		return n
	}
	// interrupt is an interruption that no burst hides.
	interrupt := func(after int) {
		for range after {
			h.RawDone()
		}
		h.lastIntr -= int64(time.Hour)
		h.RawInterrupted()
	}
	interrupt(0)
	if n := plainCalls(); n != 2 {
		t.Errorf("after 1 strike: %d plain calls, want 2", n)
	}
	interrupt(minCalls - 1)
	if n := plainCalls(); n != 4 {
		t.Errorf("after 2 strikes: %d plain calls, want 4", n)
	}
	h.RawInterrupted() // in the same burst: not judged
	if n := plainCalls(); n != 0 {
		t.Errorf("an interruption in a burst: %d plain calls, want 0", n)
	}
	for range 2 * maxStrikes {
		interrupt(0)
	}
	if n := plainCalls(); n != 1<<maxStrikes {
		t.Errorf("after many strikes: %d plain calls, want %d", n, 1<<maxStrikes)
	}
	for range maxStrikes - 2 {
		interrupt(10 * minCalls)
	}
	if n := plainCalls(); n != 0 {
		t.Errorf("interruptions after many calls made %d plain calls", n)
	}
	interrupt(0)
	if n := plainCalls(); n != 8 {
		t.Errorf("after %d forgiven strikes and a new one: %d plain calls, want 8", maxStrikes-2, n)
	}
}

// Wait makes the call raw first, goes on plainly after an interruption, and
// stops at one when stop says so.
func TestWait(t *testing.T) {
	if !enabled {
		t.Skip("raw waits are off (GODEBUG=asyncpreemptoff=1)")
	}
	var h Hint
	var raws, plains int
	op := func(intr bool) func(bool) unix.Errno {
		return func(raw bool) unix.Errno {
			if raw {
				raws++
				if intr {
					return unix.EINTR
				}
				return 0
			}
			plains++
			return 0
		}
	}
	if e := h.Wait(op(false), nil); e != 0 || raws != 1 || plains != 0 {
		t.Fatalf("first call: errno %v, %d raw, %d plain", e, raws, plains)
	}
	if e := h.Wait(op(true), nil); e != 0 || raws != 2 || plains != 1 {
		t.Fatalf("interrupted call: errno %v, %d raw, %d plain", e, raws, plains)
	}
	if e := h.Wait(func(bool) unix.Errno { return unix.EINTR }, func() bool { return true }); e != unix.EINTR {
		t.Fatalf("stopped wait: %v", e)
	}
	old := SetEnabled(false)
	raws = 0
	h = Hint{}
	h.Wait(op(false), nil)
	SetEnabled(old)
	if raws != 0 {
		t.Fatal("a raw call while disabled")
	}
}
