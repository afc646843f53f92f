package ipc

import (
	"os"
	"strings"
	"testing"
)

func TestCommandLine(t *testing.T) {
	got, ok := CommandLine(os.Getpid())
	if !ok || got != strings.Join(os.Args, " ") {
		t.Errorf("CommandLine(self) = %q, %t; want %q", got, ok, strings.Join(os.Args, " "))
	}
	for _, pid := range []int{0, -1, 1 << 30} {
		if got, ok := CommandLine(pid); ok || got != "" {
			t.Errorf("CommandLine(%d) = %q, %t; want nothing", pid, got, ok)
		}
	}
	// A kernel thread (kthreadd is pid 2 in the initial pid namespace) has
	// an empty command line.
	if data, err := os.ReadFile("/proc/2/cmdline"); err == nil && len(data) == 0 {
		if got, ok := CommandLine(2); ok {
			t.Errorf("CommandLine(kthreadd) = %q, true; want nothing", got)
		}
	}
}
