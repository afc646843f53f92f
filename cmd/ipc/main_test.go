package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc/proc"
)

// ipcBin is the ipc binary the tests run as a user would: the demos
// re-execute it, and a signal must reach it alone.
var ipcBin = os.Getenv("IPC_TEST_BIN")

func TestMain(m *testing.M) {
	proc.Dispatch()
	if ipcBin != "" {
		os.Exit(ipctest.Run(m))
	}
	// Built once, before ipctest re-runs the tests in a private IPC
	// namespace; that run finds it through the environment.
	dir, err := os.MkdirTemp("", "ipc-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ipcBin = filepath.Join(dir, "ipc")
	build := exec.Command("go", "build", "-o", ipcBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	code := 1
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build ipc:", err)
	} else {
		os.Setenv("IPC_TEST_BIN", ipcBin)
		code = ipctest.Run(m)
	}
	os.RemoveAll(dir)
	os.Exit(code)
}
