package msgq

import "github.com/ipctoolkit/ipc/internal/rawwait"

// RaceEnabled tells the external tests that allocation counts mean nothing.
const RaceEnabled = raceEnabled

// SetRawWaits turns the raw first attempt of blocking calls on or off, so
// that benchmarks can show what it buys; it returns the previous setting.
func SetRawWaits(on bool) bool { return rawwait.SetEnabled(on) }
