package msgq

import (
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/sys"
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
		if got := asyncPreemptOff(c.godebug); got != c.want {
			t.Errorf("asyncPreemptOff(%q) = %v, want %v", c.godebug, got, c.want)
		}
	}
}

func TestScratchClasses(t *testing.T) {
	for _, c := range []struct{ n, class int }{
		{0, minClass}, {1, minClass}, {64, minClass}, {65, 7}, {128, 7}, {129, 8},
		{8000, 13}, {8192, 13}, {8193, 14}, {1 << maxClass, maxClass}, {1<<maxClass + 1, maxClass + 1},
	} {
		if got := class(c.n); got != c.class {
			t.Errorf("class(%d) = %d, want %d", c.n, got, c.class)
		}
		p := getScratch(c.n)
		if len(*p) < sys.LongSize+c.n {
			t.Errorf("getScratch(%d) has %d bytes", c.n, len(*p))
		}
		putScratch(p)
	}
	// A buffer comes back from its pool, without a new allocation (the
	// race detector makes pools drop buffers at random).
	putScratch(getScratch(100))
	if a := testing.AllocsPerRun(100, func() { putScratch(getScratch(100)) }); a != 0 && !raceEnabled {
		t.Errorf("getScratch/putScratch allocate %v times per call", a)
	}
}

// An interruption after few raw calls makes the next blocking calls go the
// plain way, for twice as many calls at each strike; one after many calls
// takes a strike away; interruptions in a burst are judged once.
func TestWaitHint(t *testing.T) {
	if !rawWaits {
		t.Skip("raw waits are off (GODEBUG=asyncpreemptoff=1)")
	}
	var h waitHint
	if h.usePlain() {
		t.Fatal("a fresh queue starts plain")
	}
	plainCalls := func() int {
		n := 0
		for h.usePlain() {
			n++
		}
		return n
	}
	// interrupt is an interruption that no burst hides.
	interrupt := func(after int) {
		for range after {
			h.rawDone()
		}
		h.lastIntr -= int64(time.Hour)
		h.rawInterrupted()
	}
	interrupt(0)
	if n := plainCalls(); n != 2 {
		t.Errorf("after 1 strike: %d plain calls, want 2", n)
	}
	interrupt(minCalls - 1)
	if n := plainCalls(); n != 4 {
		t.Errorf("after 2 strikes: %d plain calls, want 4", n)
	}
	// A second interruption in the same burst is not judged.
	h.rawInterrupted()
	if n := plainCalls(); n != 0 {
		t.Errorf("an interruption in a burst: %d plain calls, want 0", n)
	}
	for range 2 * maxStrikes {
		interrupt(0)
	}
	if n := plainCalls(); n != 1<<maxStrikes {
		t.Errorf("after many strikes: %d plain calls, want %d", n, 1<<maxStrikes)
	}
	// Each interruption after many calls takes a strike away.
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
