// Package promtexttest holds the checks tests make of a text exposition:
// promtool's lint, and reading the samples back.
package promtexttest

import (
	"strconv"
	"strings"
	"testing"

	"github.com/ipctoolkit/ipc/internal/promtext"
)

// Lint fails t if promtool check metrics finds fault with text, and logs
// that it did not look when promtool is not installed.
func Lint(t testing.TB, what, text string) {
	t.Helper()
	installed, err := promtext.Lint([]byte(text))
	if !installed {
		t.Logf("promtool not installed: %s not checked by it", what)
	}
	if err != nil {
		t.Errorf("%s: %v\n%s", what, err, text)
	}
}

// Samples reads text's samples: the name and labels as written, to the
// value. A line that is not a sample, or a sample given twice, fails t.
func Samples(t testing.TB, text string) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("bad sample line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		if _, dup := m[line[:i]]; dup {
			t.Errorf("sample %s given twice", line[:i])
		}
		m[line[:i]] = v
	}
	return m
}
