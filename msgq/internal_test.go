package msgq

import (
	"testing"

	"github.com/ipctoolkit/ipc/internal/sys"
)

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
