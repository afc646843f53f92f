package prefork

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// A worker with several listeners takes connections from each in turn
// when all have some waiting, and drains on a listener's error.
func TestReadyListenerTakesTurns(t *testing.T) {
	fds := pollFDs(3, 99)
	if len(fds) != 4 || fds[0].Fd != 3 || fds[2].Fd != 5 || fds[3].Fd != 99 {
		t.Fatalf("pollFDs(3, 99) = %+v", fds)
	}
	ls := fds[:3]
	for i := range ls {
		ls[i].Revents = unix.POLLIN
	}
	last := 0 // none yet
	var got []int
	for range 4 {
		fd, _ := readyListener(ls, last)
		got = append(got, fd)
		last = fd
	}
	if want := []int{3, 4, 5, 3}; !slices.Equal(got, want) {
		t.Errorf("turns %v, want %v", got, want)
	}
	ls[1].Revents = 0
	if fd, _ := readyListener(ls, 3); fd != 5 {
		t.Errorf("after 3 with 4 idle: %d, want 5", fd)
	}
	ls[2].Revents = unix.POLLERR
	if fd, r := readyListener(ls, 3); fd != -1 || r != unix.POLLERR {
		t.Errorf("with an error on 5: %d %d", fd, r)
	}
	if fds := pollFDs(0, 7); len(fds) != 2 || fds[0].Fd != 3 {
		t.Errorf("a boot without listeners=: %+v", fds)
	}
}

// SetRootStateDir moves where StatusDir looks for root's servers, for a
// test that cannot use /run/ipc.
func SetRootStateDir(dir string) { rootStateDir = dir }
