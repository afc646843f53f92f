package proc_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/ipctoolkit/ipc/ipc/proc"
)

func init() {
	proc.Register("nop", func([]string) int { return 0 })
}

// The cost of a re-executed child from Start to reaped, against the same
// binary and role started with a bare exec.Cmd: the difference is this
// package's own (the hop to the spawner thread, the life pipe, the pidfd).
func BenchmarkRun(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		st, err := proc.Command("nop").Run()
		if err != nil || !st.Success() {
			b.Fatal(st, err)
		}
	}
}

func BenchmarkBareExecCmd(b *testing.B) {
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	env := append(os.Environ(), proc.ChildEnvForTest(os.Getpid(), 3, "nop"))
	b.ReportAllocs()
	for b.Loop() {
		cmd := exec.Command(proc.Self)
		cmd.Env = env
		cmd.ExtraFiles = []*os.File{r}
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
	}
}
