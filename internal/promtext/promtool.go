package promtext

import (
	"bytes"
	"fmt"
	"os/exec"
)

// Lint runs "promtool check metrics" (from the Prometheus distribution;
// Debian's package prometheus) on an exposition. installed is false, with
// no error, when promtool is not on PATH. The error holds promtool's
// complaints: it lints names, units, help and types, beyond what parsing
// needs.
func Lint(text []byte) (installed bool, err error) {
	path, err := exec.LookPath("promtool")
	if err != nil {
		return false, nil
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		return true, fmt.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	return true, nil
}
