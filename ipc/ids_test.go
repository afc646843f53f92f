package ipc

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestReadableIDs(t *testing.T) {
	sem, _ := newSemSet(t, 1, 0o600)
	q, _ := newQueue(t, 0o600)
	seg, _ := newSegment(t, 1, 0o600)
	for kind, id := range map[Kind]int{Semaphore: sem, Queue: q, Segment: seg} {
		ids, err := ReadableIDs(kind)
		if err != nil || !slices.Contains(ids, id) {
			t.Errorf("ReadableIDs(%v) = %v, %v; want it to contain %d", kind, ids, err, id)
		}
	}
	if _, err := ReadableIDs(Kind(9)); !errors.Is(err, unix.EINVAL) {
		t.Errorf("ReadableIDs of a bad kind = %v", err)
	}
}

// ipcrm -a as nobody reaches only what nobody may read.
func TestReadableIDsAsNobody(t *testing.T) {
	seg, _ := newSegment(t, 1, 0o600)
	readable, _ := newSegment(t, 1, 0o644)
	got := " " + runOp(t, true, "readable", kindArg(Segment)) + " "
	if !strings.Contains(got, " "+strconv.Itoa(readable)+" ") || strings.Contains(got, " "+strconv.Itoa(seg)+" ") {
		t.Errorf("ReadableIDs as nobody = %q; want %d and not root's 0600 segment %d", got, readable, seg)
	}
}
