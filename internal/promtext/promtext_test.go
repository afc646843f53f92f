package promtext_test

import (
	"bytes"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/ipctoolkit/ipc/internal/promtext"
)

func TestWrite(t *testing.T) {
	var s promtext.Set
	g := s.Gauge("ipc_objects", "Objects by kind.\nSecond line with a \\ backslash.")
	g.Add(3, "kind", "queue")
	g.Add(0, "kind", "segment")
	s.Family("ipc_requests_total", "Requests.", promtext.Counter).Add(1e21)
	s.Gauge("ipc_empty", "No samples: left out.")
	s.Gauge("ipc_values", "Odd values.").Add(math.Inf(1), "v", "inf")
	s.Gauge("ipc_values", "ignored: same family").Add(0.25, "v", `quote " backslash \ newline
`)
	s.Gauge("ipc_values", "").Add(math.NaN(), "v", "nan")
	s.Gauge("ipc_values", "").Add(-7, "v", "neg")
	s.Gauge("ipc_big", "Big.").Add(18446744073692774399)
	var b bytes.Buffer
	if _, err := s.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	want := `# HELP ipc_objects Objects by kind.\nSecond line with a \\ backslash.
# TYPE ipc_objects gauge
ipc_objects{kind="queue"} 3
ipc_objects{kind="segment"} 0
# HELP ipc_requests_total Requests.
# TYPE ipc_requests_total counter
ipc_requests_total 1e+21
# HELP ipc_values Odd values.
# TYPE ipc_values gauge
ipc_values{v="inf"} +Inf
ipc_values{v="quote \" backslash \\ newline\n"} 0.25
ipc_values{v="nan"} NaN
ipc_values{v="neg"} -7
# HELP ipc_big Big.
# TYPE ipc_big gauge
ipc_big 1.8446744073692774e+19
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	promtool(t, b.Bytes())
}

func TestWriteRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		fams []*promtext.Family
		want string
	}{
		{"bad name", []*promtext.Family{{Name: "ipc-objects"}}, `invalid metric name "ipc-objects"`},
		{"digit first", []*promtext.Family{{Name: "1ipc"}}, `invalid metric name "1ipc"`},
		{"twice", []*promtext.Family{{Name: "a"}, {Name: "a"}}, "metric family a given twice"},
		{"bad label", []*promtext.Family{{Name: "a", Samples: []promtext.Sample{{Labels: []promtext.Label{{"a:b", "x"}}}}}}, `invalid label name "a:b"`},
		{"reserved label", []*promtext.Family{{Name: "a", Samples: []promtext.Sample{{Labels: []promtext.Label{{"__name__", "x"}}}}}}, `invalid label name "__name__"`},
		{"same labels", []*promtext.Family{{Name: "a", Samples: []promtext.Sample{
			{Labels: []promtext.Label{{"k", "1"}, {"j", "2"}}}, {Labels: []promtext.Label{{"j", "2"}, {"k", "1"}}}}}}, `two samples with labels {j="2",k="1"}`},
		{"label twice", []*promtext.Family{{Name: "a", Samples: []promtext.Sample{{Labels: []promtext.Label{{"k", "1"}, {"k", "2"}}}}}}, "label k given twice"},
		{"type", []*promtext.Family{{Name: "a", Type: "histogram"}}, `unsupported type "histogram"`},
	} {
		var b bytes.Buffer
		err := promtext.Write(&b, c.fams)
		if err == nil || !strings.Contains(err.Error(), c.want) || b.Len() != 0 {
			t.Errorf("%s: %v (wrote %q); want an error containing %q", c.name, err, b.String(), c.want)
		}
	}
}

func promtool(t *testing.T, text []byte) {
	t.Helper()
	installed, err := promtext.Lint(text)
	if !installed {
		t.Log("promtool not installed: output not checked by it")
	}
	if err != nil {
		t.Errorf("%v\ninput:\n%s", err, text)
	}
}

func Example() {
	var s promtext.Set
	s.Gauge("ipc_objects", "System V IPC objects by kind.").Add(2, "kind", "queue")
	s.WriteTo(os.Stdout)
	// Output:
	// # HELP ipc_objects System V IPC objects by kind.
	// # TYPE ipc_objects gauge
	// ipc_objects{kind="queue"} 2
}
