// Package promtext writes metrics in the Prometheus text exposition format
// (version 0.0.4), the format node_exporter's textfile collector reads and
// every Prometheus server scrapes.
//
// It is a small encoder rather than github.com/prometheus/client_golang or
// prometheus/common/expfmt: those bring a registry, protobuf and half a
// dozen modules for what is, for a command that prints once and exits, a
// page of escaping rules. What it does write is checked: names and label
// names are validated, HELP text and label values escaped as the format
// says, families are written once with all their samples together, a
// label set may not repeat within a family, and the tests run the output
// through promtool check metrics when it is installed.
//
// A Set is not safe for concurrent use; build it on one goroutine.
package promtext

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Type is a metric family's type.
type Type string

// The types this package writes.
const (
	Gauge   Type = "gauge"
	Counter Type = "counter"
	Untyped Type = "untyped"
)

// Family is one metric family: a name, its help, its type and its samples.
type Family struct {
	Name    string
	Help    string
	Type    Type
	Samples []Sample
}

// Sample is one value with its labels.
type Sample struct {
	Labels []Label
	Value  float64
}

// Label is one name="value" pair.
type Label struct{ Name, Value string }

// Add appends a sample; labels are name, value pairs. An odd count panics,
// since it is a programming error.
func (f *Family) Add(v float64, labels ...string) {
	if len(labels)%2 != 0 {
		panic("promtext: Add with an odd number of label strings")
	}
	s := Sample{Value: v}
	for i := 0; i < len(labels); i += 2 {
		s.Labels = append(s.Labels, Label{labels[i], labels[i+1]})
	}
	f.Samples = append(f.Samples, s)
}

// Set is the metric families of one exposition, in the order they were
// first asked for.
type Set struct {
	fams   []*Family
	byName map[string]*Family
}

// Family returns the family name, creating it with help and typ the first
// time; later calls return the same family.
func (s *Set) Family(name, help string, typ Type) *Family {
	if f, ok := s.byName[name]; ok {
		return f
	}
	if s.byName == nil {
		s.byName = map[string]*Family{}
	}
	f := &Family{Name: name, Help: help, Type: typ}
	s.byName[name] = f
	s.fams = append(s.fams, f)
	return f
}

// Gauge is Family(name, help, Gauge).
func (s *Set) Gauge(name, help string) *Family { return s.Family(name, help, Gauge) }

// Families returns the families in order.
func (s *Set) Families() []*Family { return s.fams }

// WriteTo writes the set as Write does.
func (s *Set) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	err := Write(cw, s.fams)
	return cw.n, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Write writes the families in the text format. It fails, writing nothing,
// if a name or label name is invalid, a family name repeats, or a family
// has two samples with the same labels. Families without samples are left
// out.
func Write(w io.Writer, fams []*Family) error {
	if err := check(fams); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	for _, f := range fams {
		if len(f.Samples) == 0 {
			continue
		}
		typ := f.Type
		if typ == "" {
			typ = Untyped
		}
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", f.Name, escapeHelp(f.Help), f.Name, typ)
		for _, s := range f.Samples {
			bw.WriteString(f.Name)
			if len(s.Labels) > 0 {
				bw.WriteByte('{')
				for i, l := range s.Labels {
					if i > 0 {
						bw.WriteByte(',')
					}
					bw.WriteString(l.Name)
					bw.WriteString(`="`)
					bw.WriteString(escapeValue(l.Value))
					bw.WriteByte('"')
				}
				bw.WriteByte('}')
			}
			bw.WriteByte(' ')
			bw.WriteString(FormatValue(s.Value))
			bw.WriteByte('\n')
		}
	}
	return bw.Flush()
}

func check(fams []*Family) error {
	names := map[string]bool{}
	for _, f := range fams {
		if !validName(f.Name, true) {
			return fmt.Errorf("promtext: invalid metric name %q", f.Name)
		}
		if names[f.Name] {
			return fmt.Errorf("promtext: metric family %s given twice", f.Name)
		}
		names[f.Name] = true
		switch f.Type {
		case Gauge, Counter, Untyped, "":
		default:
			return fmt.Errorf("promtext: %s: unsupported type %q", f.Name, f.Type)
		}
		seen := map[string]bool{}
		for _, s := range f.Samples {
			keys := make([]string, 0, len(s.Labels))
			for _, l := range s.Labels {
				if !validName(l.Name, false) || strings.HasPrefix(l.Name, "__") {
					return fmt.Errorf("promtext: %s: invalid label name %q", f.Name, l.Name)
				}
				keys = append(keys, l.Name+"\xff"+l.Value)
			}
			sort.Strings(keys)
			for i := 1; i < len(keys); i++ {
				if strings.SplitN(keys[i], "\xff", 2)[0] == strings.SplitN(keys[i-1], "\xff", 2)[0] {
					return fmt.Errorf("promtext: %s: label %s given twice in one sample", f.Name, strings.SplitN(keys[i], "\xff", 2)[0])
				}
			}
			k := strings.Join(keys, "\xfe")
			if seen[k] {
				return fmt.Errorf("promtext: %s: two samples with labels {%s}", f.Name, labelText(s.Labels))
			}
			seen[k] = true
		}
	}
	return nil
}

func labelText(ls []Label) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = l.Name + `="` + escapeValue(l.Value) + `"`
	}
	return strings.Join(parts, ",")
}

// validName: [a-zA-Z_:][a-zA-Z0-9_:]* for metrics, no colon for labels.
func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (i > 0 && c >= '0' && c <= '9') || (colon && c == ':')
		if !ok {
			return false
		}
	}
	return true
}

// escapeHelp escapes a backslash and a newline, as HELP lines want.
func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

// escapeValue escapes a backslash, a double quote and a newline, as label
// values want.
func escapeValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// FormatValue writes v as the format wants it: the shortest decimal that
// reads back as v, integers without an exponent up to 2^63, and +Inf, -Inf
// and NaN by those names.
func FormatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	case v == math.Trunc(v) && math.Abs(v) < 1<<63:
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
