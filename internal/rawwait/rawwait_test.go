package rawwait

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestAsyncPreemptOff(t *testing.T) {
	for in, want := range map[string]bool{
		"": false, "asyncpreemptoff=1": true, "gctrace=1,asyncpreemptoff=1": true,
		"asyncpreemptoff=1,asyncpreemptoff=0": false, "asyncpreemptoff=0": false,
	} {
		if got := asyncPreemptOff(in); got != want {
			t.Errorf("asyncPreemptOff(%q) = %v", in, got)
		}
	}
}

// Interruptions after few calls are strikes that send ever more calls the
// plain way; one after many calls takes a strike away.
func TestStrikes(t *testing.T) {
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
	// Interrupted after 1 call: a strike, and the call goes on plainly.
	if e := h.Wait(op(true), nil); e != 0 || plains != 1 {
		t.Fatalf("interrupted call: errno %v, %d plain", e, plains)
	}
	if h.strikes != 1 || h.plain != 2 {
		t.Fatalf("after a strike: strikes %d plain %d", h.strikes, h.plain)
	}
	raws, plains = 0, 0
	for range 2 {
		h.Wait(op(false), nil)
	}
	if raws != 0 || plains != 2 {
		t.Fatalf("the 2 calls after a strike: %d raw, %d plain", raws, plains)
	}
	for range minCalls {
		h.Wait(op(false), nil)
	}
	h.lastIntr = 0 // not part of a burst
	h.Wait(op(true), nil)
	if h.strikes != 0 {
		t.Fatalf("an interruption after %d calls left %d strikes", minCalls, h.strikes)
	}
	// stop ends the wait at an interruption.
	if e := h.Wait(func(bool) unix.Errno { return unix.EINTR }, func() bool { return true }); e != unix.EINTR {
		t.Fatalf("stopped wait: %v", e)
	}
}
