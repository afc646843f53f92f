//go:build !race

package msgq

const raceEnabled = false
