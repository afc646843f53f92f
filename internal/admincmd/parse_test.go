package admincmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/ipc"
)

// The options are sorted from the rest, and the combinations a mode
// cannot honour are refused with a usage error naming the option.
func TestParseAdmin(t *testing.T) {
	for _, c := range []struct {
		cmd     string
		args    []string
		wantErr string // "" for none
	}{
		{"ls", []string{"-q"}, ""},
		{"ls", []string{"--orphaned", "--older-than", "7d", "-q", "--json"}, ""},
		{"ls", []string{"--watch", "--interval=250ms", "--count", "2"}, ""},
		{"ls", []string{"--all-namespaces", "-m", "--human"}, ""},
		{"rm", []string{"--orphaned", "--dry-run"}, ""},
		{"ls", []string{"--orphaned", "--watch"}, "ls: --orphaned, --prometheus and --watch go one at a time"},
		{"ls", []string{"--dry-run"}, "ls: --dry-run only goes with ipc rm --orphaned"},
		{"ls", []string{"--older-than", "1h"}, "ls: --older-than only goes with --orphaned or --prometheus"},
		{"ls", []string{"--watch", "--interval", "0s"}, `ls: --interval "0s": must be positive`},
		{"ls", []string{"--watch", "--count", "-1"}, `ls: --count "-1": want a positive number`},
		{"ls", []string{"--watch", "--count"}, "ls: --count: missing value"},
		{"ls", []string{"--watch", "--all-namespaces"}, "ls --watch: cannot honour --all-namespaces (watch one namespace: give --namespace)"},
		{"ls", []string{"--orphaned", "-t"}, "ls --orphaned: cannot honour -t"},
		{"rm", []string{"--dry-run"}, "rm: --dry-run only goes with --orphaned"},
		{"rm", []string{"--orphaned", "-q", "1"}, "rm --orphaned: cannot honour -q: it removes only the orphans it finds"},
		{"rm", []string{"--orphaned", "--older-than", "soon"}, `rm: --older-than "soon": not a duration (say 90s, 30m, 12h or 7d)`},
	} {
		o, err := parseAdmin(c.cmd, c.args)
		got := ""
		if err != nil {
			got = err.Error()
			if !errors.As(err, new(usage)) {
				t.Errorf("%s %q: %v is not a usage error", c.cmd, c.args, err)
			}
		}
		if got != c.wantErr {
			t.Errorf("%s %q: error %q, want %q", c.cmd, c.args, got, c.wantErr)
		}
		if err == nil && c.cmd == "ls" && c.args[0] == "--orphaned" {
			if o.olderThan != 7*24*time.Hour || !o.json || !slices.Equal(o.kinds, []ipc.Kind{ipc.Queue}) {
				t.Errorf("%q: parsed %+v", c.args, o)
			}
		}
	}
}

func TestParseAge(t *testing.T) {
	for in, want := range map[string]time.Duration{"90s": 90 * time.Second, "7d": 7 * 24 * time.Hour, "0": 0, "1h30m": 90 * time.Minute} {
		if got, err := parseAge(in); err != nil || got != want {
			t.Errorf("parseAge(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1s", "d", "7 d", "soon"} {
		if _, err := parseAge(in); err == nil {
			t.Errorf("parseAge(%q) took it", in)
		}
	}
}

// --namespace is found in either form before "--", and only there.
func TestCutNamespaceFlag(t *testing.T) {
	spec, rest, found, err := cutNamespaceFlag([]string{"ipc", "ls", "--namespace", "42", "-q", "--", "--namespace=1"})
	if err != nil || !found || spec != "42" || strings.Join(rest, " ") != "ipc ls -q -- --namespace=1" {
		t.Errorf("got %q %q %v %v", spec, rest, found, err)
	}
	if _, _, found, _ := cutNamespaceFlag([]string{"ipc", "ls", "--", "--namespace", "1"}); found {
		t.Error("--namespace after -- was taken")
	}
	for args, want := range map[string]string{
		"ipc ls --namespace":                      "--namespace: missing PID or PATH",
		"ipc --namespace=":                        "--namespace: empty PID or PATH",
		"ipc --namespace=1 ls --namespace /x/y/z": "--namespace: given twice",
	} {
		_, _, found, err := cutNamespaceFlag(strings.Fields(args))
		if !found || err == nil || err.Error() != want {
			t.Errorf("%q: found %v, error %v; want %q", args, found, err, want)
		}
	}
}

// Each namespace's objects get a "namespace" member first, and the arrays
// of every namespace are joined into one document.
func TestMergeJSON(t *testing.T) {
	a, err := mergeable([]byte(`{"messages":[{"key":1},{}],"semaphores":[]}`), &nsInfo{Inode: 7, Current: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := mergeable([]byte(`{"messages":[{"key":2}]}`), &nsInfo{Inode: 8, PID: 9})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	tool := newAdminTool(&out, &out)
	if err := tool.writeMerged([]nsInfo{{Inode: 7, Current: true}, {Inode: 8, PID: 9}}, append(a, b...)); err != nil {
		t.Fatal(err)
	}
	if err := tool.out.Flush(); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v in %s", err, out.Bytes())
	}
	compact, _ := json.Marshal(doc)
	want := `{"messages":[{"key":1,"namespace":{"current":true,"inode":7}},{"namespace":{"current":true,"inode":7}},` +
		`{"key":2,"namespace":{"current":false,"inode":8,"pid":9}}],` +
		`"namespaces":[{"current":true,"inode":7},{"current":false,"inode":8,"pid":9}],"semaphores":[]}`
	if string(compact) != want {
		t.Errorf("merged:\n%s\nwant\n%s", compact, want)
	}
	if !strings.HasPrefix(out.String(), "{\n   \"namespaces\": [") {
		t.Errorf("namespaces are not first:\n%s", out.String())
	}
}

func TestRate(t *testing.T) {
	if got := rate(2.25, true); got != "2.2" && got != "2.3" {
		t.Errorf("rate exact = %q", got)
	}
	if got := rate(3, false); got != ">=3.0" {
		t.Errorf("rate lower bound = %q", got)
	}
}
