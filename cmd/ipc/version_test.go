package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// ipc --version and ipc version print the build info: module version,
// VCS revision, toolchain. Built here with -buildvcs=true in a git
// checkout, the revision must be the checkout's HEAD.
func TestVersion(t *testing.T) {
	a, b := ipcOK(t, "--version"), ipcOK(t, "version")
	if a != b {
		t.Errorf("ipc --version %q and ipc version %q differ", a, b)
	}
	lines := strings.Split(strings.TrimSuffix(a, "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ipc version ") || lines[1] != "module github.com/ipctoolkit/ipc" ||
		!strings.HasPrefix(lines[2], "revision ") || lines[3] != "built with "+runtime.Version()+" for "+runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("ipc version:\n%s", a)
	}
	if _, _, code := ipcRun(t, nil, "version", "extra"); code != 2 {
		t.Errorf("ipc version extra: exit %d, want 2", code)
	}
	if out := ipcOK(t, "ls", "-V"); out != "ipc from ipc (util-linux 2.38.1 compatible)\n" {
		t.Errorf("ipc ls -V: %q (util-linux's line)", out)
	}

	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not in a git checkout (%v): revision not compared", err)
	}
	bin := filepath.Join(t.TempDir(), "ipc")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOFLAGS=-buildvcs=true")
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("go build -buildvcs=true: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "\nrevision "+strings.TrimSpace(string(head))) {
		if strings.Contains(string(out), "revision unknown") {
			t.Skipf("the go command recorded no VCS information here (a git worktree?):\n%s", out)
		}
		t.Errorf("ipc version built at %s:\n%s", head, out)
	}
}
