package proc_test

import (
	"syscall"
	"testing"

	"github.com/ipctoolkit/ipc/ipc/proc"
)

// The wording of every kind of status word, as wait4 encodes it.
func TestStatusString(t *testing.T) {
	for _, tc := range []struct {
		ws   syscall.WaitStatus
		want string
	}{
		{0, "exited with status 0"},
		{3 << 8, "exited with status 3"},
		{15, "killed by signal 15 (terminated)"},
		{9, "killed by signal 9 (killed)"},
		{11 | 0x80, "killed by signal 11 (segmentation fault), core dumped"},
		{6 | 0x80, "killed by signal 6 (aborted), core dumped"},
		{19<<8 | 0x7f, "stopped by signal 19 (stopped (signal))"},
		{20<<8 | 0x7f, "stopped by signal 20 (stopped)"},
		{0xffff, "continued"},
	} {
		st := proc.MakeStatus(42, tc.ws)
		if st.String() != tc.want {
			t.Errorf("%#x: %q, want %q", uint32(tc.ws), st, tc.want)
		}
		if st.Pid() != 42 || st.WaitStatus() != tc.ws {
			t.Errorf("%#x: pid %d ws %#x", uint32(tc.ws), st.Pid(), uint32(st.WaitStatus()))
		}
		if n := btoi(st.Exited()) + btoi(st.Signaled()) + btoi(st.Stopped()) + btoi(st.Continued()); n != 1 {
			t.Errorf("%q is %d kinds of status at once", st, n)
		}
		if st.Final() != (st.Exited() || st.Signaled()) {
			t.Errorf("%q: Final %t", st, st.Final())
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
