package ipctest

import (
	"os"
	"testing"
)

// InstallBinary puts a copy of src at path by rename, as a deploy does:
// the processes running the old file keep it, the path names the new one
// (the binary upgrade's tests).
func InstallBinary(t *testing.T, src, path string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".new", b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}
