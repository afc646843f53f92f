package sys_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnsupportedBuild builds the module for a 32-bit Linux port and for
// another system: each must fail with internal/sys's one error that says
// what is supported, not with a pile of undefined names (issue 9, defect
// 6). It needs the go command, and compiles the standard library for those
// targets once (about 15 seconds each with an empty build cache).
func TestUnsupportedBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles the standard library")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range [][2]string{{"linux", "386"}, {"linux", "arm"}, {"darwin", "arm64"}} {
		cmd := exec.Command(goCmd, "build", "./...")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS="+target[0], "GOARCH="+target[1], "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		var errs []string
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if !strings.HasPrefix(line, "#") {
				errs = append(errs, line)
			}
		}
		if err == nil || len(errs) != 1 || !strings.Contains(errs[0], "undefined: ipc_supports_only_linux_on_amd64_arm64_riscv64_loong64") {
			t.Errorf("%s/%s: go build ./... = %v, want one error naming the supported ports; output:\n%s", target[0], target[1], err, out)
		}
	}
}
