//go:build race

package prefork_test

// raceEnabled: the race detector slows every process several times, a
// fork per connection most of all.
const raceEnabled = true
