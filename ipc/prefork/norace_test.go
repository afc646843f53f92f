//go:build !race

package prefork_test

const raceEnabled = false
