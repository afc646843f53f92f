package admincmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"

	"github.com/ipctoolkit/ipc/internal/admin"
	"github.com/ipctoolkit/ipc/internal/ipcns"
	"github.com/ipctoolkit/ipc/internal/promtext"
)

// ipc ls --all-namespaces.

// allNamespaces runs the listing (ipcs options, --orphaned or
// --prometheus) in every IPC namespace found under /proc, the caller's
// first. A namespace that cannot be entered is reported and skipped, and
// the command then fails.
func allNamespaces(t *adminTool, o *adminOpts) error {
	plain := !o.orphaned && !o.prometheus
	for _, a := range o.rest {
		if plain && (a == "-h" || a == "--help" || a == "-V" || a == "--version") {
			return lsUtil(o.rest, t.out, t.err) // once, not per namespace
		}
	}
	found, err := ipcns.List()
	if err != nil {
		return err
	}
	var set promtext.Set
	var docs []nsDoc
	if o.orphaned && o.json {
		docs = append(docs, nsDoc{array: "verdicts"})
	}
	skipped := 0
	listed := []nsInfo{}
	for _, f := range found {
		info := &nsInfo{Inode: f.Inode, PID: f.PIDs[0], PIDs: len(f.PIDs), Command: f.Command, Container: f.Container, Current: f.Current}
		var buf bytes.Buffer
		sub := newAdminTool(&buf, t.err)
		work := func() error {
			switch {
			case o.prometheus:
				return admin.Metrics(&set, o.judgeOptions(), "namespace", strconv.FormatUint(f.Inode, 10))
			case o.orphaned && o.json:
				vs, err := sub.verdicts(o)
				if err != nil {
					return err
				}
				for _, v := range vs {
					d, _ := json.Marshal(sub.verdictJSON(v, info))
					docs = append(docs, nsDoc{array: "verdicts", raw: d})
				}
				return nil
			case o.orphaned:
				return lsOrphans(sub, o, info)
			}
			return lsUtil(o.rest, sub.out, sub.err)
		}
		if f.Current {
			err = work()
		} else {
			err = inside(f, work)
		}
		if errors.Is(err, errNamespaceGone) {
			continue
		}
		if err != nil {
			if plain && f.Current {
				// ipcs refused its options (it said why): they would be
				// refused in every namespace.
				return err
			}
			skipped++
			var se statusError
			if !errors.As(err, &se) {
				printErr(t.err, fmt.Errorf("ls --all-namespaces: namespace %d: %w", f.Inode, err))
			}
			continue
		}
		_ = sub.out.Flush()
		listed = append(listed, *info)
		switch {
		case o.prometheus, o.orphaned && o.json:
		case o.json:
			d, err := mergeable(buf.Bytes(), info)
			if err != nil {
				return err
			}
			docs = append(docs, d...)
		default:
			t.printf("IPC namespace %d (%s)\n", f.Inode, describe(info))
			t.printf("%s\n", bytes.TrimRight(buf.Bytes(), "\n"))
			t.printf("\n")
		}
	}
	switch {
	case o.prometheus:
		if _, err := set.WriteTo(t.out); err != nil {
			return err
		}
	case o.json:
		if err := t.writeMerged(listed, docs); err != nil {
			return err
		}
	}
	if skipped > 0 {
		return statusError(1)
	}
	return nil
}

// errNamespaceGone: every process of a namespace exited between the
// listing and the entering, and the namespace went with them.
var errNamespaceGone = errors.New("namespace gone")

// inside runs work in namespace f, entered through the first of its
// processes that is still there and still in it.
func inside(f ipcns.Found, work func() error) error {
	for _, pid := range f.PIDs {
		ns, err := ipcns.OpenPID(pid)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if ns.Inode != f.Inode { // it moved to another namespace meanwhile
			ns.Close()
			continue
		}
		defer ns.Close()
		return ns.Do(work)
	}
	return errNamespaceGone
}

func describe(n *nsInfo) string {
	s := fmt.Sprintf("pid %d %s", n.PID, n.Command)
	if n.Container != "" {
		s += ", " + n.Container
	}
	if n.PIDs > 1 {
		s += fmt.Sprintf(", %d processes", n.PIDs)
	}
	if n.Current {
		s += ", this namespace"
	}
	return s
}

// nsDoc is one object of one namespace's JSON document, with the array
// it belongs to.
type nsDoc struct {
	array string
	raw   json.RawMessage
}

// mergeable splits an ipc ls --json document into its objects, each with
// a "namespace" member added first, keeping lsipc's member order.
func mergeable(doc []byte, info *nsInfo) ([]nsDoc, error) {
	var arrays map[string][]json.RawMessage
	if err := json.Unmarshal(doc, &arrays); err != nil {
		return nil, err
	}
	nsJSON, _ := json.Marshal(info)
	var out []nsDoc
	for _, name := range []string{"messages", "sharedmemory", "semaphores", "ipclimits"} {
		if _, ok := arrays[name]; ok {
			out = append(out, nsDoc{array: name}) // the array is there, even if empty
		}
		for _, obj := range arrays[name] {
			obj = bytes.TrimSpace(obj)
			if len(obj) < 2 || obj[0] != '{' {
				continue
			}
			body := bytes.TrimSpace(obj[1:])
			sep := []byte(",")
			if len(body) > 0 && body[0] == '}' {
				sep = nil
			}
			merged := append(append(append([]byte(`{"namespace":`), nsJSON...), sep...), body...)
			out = append(out, nsDoc{array: name, raw: merged})
		}
	}
	return out, nil
}

// writeMerged prints one document: the namespaces, then each array with
// the objects of every namespace.
func (t *adminTool) writeMerged(infos []nsInfo, docs []nsDoc) error {
	var b bytes.Buffer
	nsJSON, _ := json.Marshal(infos)
	b.WriteString(`{"namespaces":`)
	b.Write(nsJSON)
	seen := map[string]bool{}
	var order []string
	for _, d := range docs {
		if !seen[d.array] {
			seen[d.array] = true
			order = append(order, d.array)
		}
	}
	for _, name := range order {
		fmt.Fprintf(&b, `,%q:[`, name)
		first := true
		for _, d := range docs {
			if d.array != name || d.raw == nil {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			b.Write(d.raw)
		}
		b.WriteByte(']')
	}
	b.WriteByte('}')
	var out bytes.Buffer
	if err := json.Indent(&out, b.Bytes(), "", "   "); err != nil {
		return err
	}
	t.printf("%s\n", out.Bytes())
	return nil
}
