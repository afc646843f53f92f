package prefork

import (
	"fmt"
	"log/slog"
	"testing"
	"time"
)

// The dynamic pool's growth doubles each tick the shortage lasts, up to 32
// a tick (Apache's MAX_SPAWN_RATE), never past the shortage or the
// maximum, and the maximum's refusals are counted. Only the decision is
// tested here (want), on a scoreboard with no process behind it: the
// workers reconcile owes count as starting, hence as idle.
func TestDynamicSpawnRateCap(t *testing.T) {
	const slots = 120
	sv := &supervisor{log: slog.New(slog.DiscardHandler), slots: make([]*slot, slots), gen: 1}
	sv.board = testBoard(t, slots)
	for i := range sv.slots {
		sv.slots[i] = &slot{i: i}
	}
	sv.pool = poolManager{mode: PoolDynamic, minSpare: 100, maxSpare: 110, max: 90, rate: 1}
	now := time.Now()
	var got []int
	for range 10 {
		before := sv.want
		sv.maintainDynamic(now)
		got = append(got, sv.want-before)
		now = now.Add(poolTick)
	}
	if fmt.Sprint(got) != "[1 2 4 8 16 32 27 0 0 0]" {
		t.Errorf("started per tick %v, want [1 2 4 8 16 32 27 0 0 0] (32 at most, 90 in all)", got)
	}
	if n := sv.board.hdr[hMaxReached].Load(); n != 3 {
		t.Errorf("max workers reached %d times, want 3 (the ticks at the maximum)", n)
	}
	if sv.pool.loadCredit != 90 {
		t.Errorf("load credit %d", sv.pool.loadCredit)
	}
}
