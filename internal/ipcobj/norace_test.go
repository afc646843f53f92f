//go:build !race

package ipcobj_test

const raceEnabled = false
