package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ipctoolkit/ipc/internal/admin"
	"github.com/ipctoolkit/ipc/internal/ipcns"
	"github.com/ipctoolkit/ipc/internal/promtext"
	"github.com/ipctoolkit/ipc/ipc"
)

// The administrator's options of ipc ls and ipc rm, which ipcs and ipcrm
// never had:
//
//	ipc ls --orphaned [--older-than D] [--explain] [-q] [-m] [-s] [--json]
//	ipc rm --orphaned [--older-than D] [--dry-run]
//	ipc ls --all-namespaces [ipcs options | --orphaned ... | --prometheus]
//	ipc ls --prometheus [--older-than D]
//	ipc ls --watch [--interval D] [--count N]
//
// adminUtil is called first by the ls and rm actions; when none of these
// options is given it leaves the arguments to the util-linux parsers.

// adminOpts are the administrator's options found in an ls or rm command
// line; rest is everything else, in order.
type adminOpts struct {
	orphaned, dryRun, explain, allNS, prometheus, watch, json bool
	olderThan                                                 time.Duration
	olderThanSet                                              bool
	interval                                                  time.Duration
	intervalSet                                               bool
	count                                                     int
	countSet                                                  bool
	kinds                                                     []ipc.Kind
	rest                                                      []string
	first                                                     string // the first of these options given, for messages
}

// adminOption are the options adminUtil takes for itself.
var adminOption = map[string]bool{"--orphaned": true, "--dry-run": true, "--explain": true, "--all-namespaces": true,
	"--prometheus": true, "--watch": true, "--older-than": true, "--interval": true, "--count": true}

func (o *adminOpts) any() bool { return o.orphaned || o.allNS || o.prometheus || o.watch }

// adminUtil handles the administrator's options of "ipc ls" and "ipc rm"
// (cmd is "ls" or "rm"). handled is false when args have none of them.
func adminUtil(cmd string, stdout, stderr io.Writer, args []string) (code int, handled bool) {
	if cmd != "ls" && cmd != "rm" {
		return 0, false
	}
	o, err := parseAdmin(cmd, args)
	if err == nil && !o.any() {
		return 0, false
	}
	if err != nil {
		return exitStatus(err, stderr), true
	}
	out := newTool("", cmd, stdout, stderr)
	switch {
	case cmd == "rm":
		err = rmOrphans(out, o)
	case o.watch:
		err = watch(out, o)
	case o.allNS:
		err = allNamespaces(out, o)
	case o.prometheus:
		err = prometheus(out, o, nil)
	default:
		err = lsOrphans(out, o, nil)
	}
	return out.finish(exitStatus(err, stderr)), true
}

// parseAdmin sorts args into the administrator's options and the rest,
// and refuses combinations that cannot be honoured (usage errors, exit 2).
func parseAdmin(cmd string, args []string) (*adminOpts, error) {
	o := &adminOpts{interval: time.Second}
	where := cmd
	value := func(i *int, a, name string) (string, error) {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, nil
		}
		if *i+1 >= len(args) {
			return "", usagef("%s: %s: missing value", where, name)
		}
		*i++
		return args[*i], nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" { // the rest are ipcs's or ipcrm's arguments
			o.rest = append(o.rest, args[i:]...)
			break
		}
		name, _, _ := strings.Cut(a, "=")
		if o.first == "" && name != "--json" && strings.HasPrefix(name, "--") && adminOption[name] {
			o.first = name
		}
		switch name {
		case "--orphaned":
			o.orphaned = true
		case "--dry-run":
			o.dryRun = true
		case "--explain":
			o.explain = true
		case "--all-namespaces":
			o.allNS = true
		case "--prometheus":
			o.prometheus = true
		case "--watch":
			o.watch = true
		case "--json":
			o.json = true
			o.rest = append(o.rest, a)
		case "--older-than", "--interval":
			v, err := value(&i, a, name)
			if err != nil {
				return nil, err
			}
			d, err := parseAge(v)
			if err != nil {
				return nil, usagef("%s: %s %q: %v", where, name, v, err)
			}
			if name == "--interval" {
				if d <= 0 {
					return nil, usagef("%s: --interval %q: must be positive", where, v)
				}
				o.interval, o.intervalSet = d, true
			} else {
				o.olderThan, o.olderThanSet = d, true
			}
		case "--count":
			v, err := value(&i, a, name)
			if err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return nil, usagef("%s: --count %q: want a positive number", where, v)
			}
			o.count, o.countSet = n, true
		default:
			o.rest = append(o.rest, a)
		}
	}
	mine := o.any() || o.dryRun || o.explain || o.olderThanSet || o.intervalSet || o.countSet
	if !mine {
		return o, nil
	}
	return o, o.validate(cmd)
}

// validate refuses what the chosen mode cannot honour.
func (o *adminOpts) validate(cmd string) error {
	where := cmd
	need := func(ok bool, opt, with string) error {
		if !ok {
			verb := "goes"
			if strings.Contains(opt, " and ") {
				verb = "go"
			}
			return usagef("%s: %s only %s with %s", where, opt, verb, with)
		}
		return nil
	}
	if cmd == "rm" {
		if !o.orphaned {
			return usagef("%s: %s only goes with --orphaned", where, o.first)
		}
		if o.allNS {
			return usagef("%s --orphaned: cannot honour --all-namespaces (one namespace at a time: give --namespace)", where)
		}
		for _, bad := range []struct {
			on   bool
			name string
		}{{o.prometheus, "--prometheus"}, {o.watch, "--watch"}, {o.explain, "--explain"}, {o.intervalSet, "--interval"}, {o.countSet, "--count"}} {
			if bad.on {
				return usagef("%s --orphaned: cannot honour %s", where, bad.name)
			}
		}
		if len(o.rest) > 0 {
			return usagef("%s --orphaned: cannot honour %s: it removes only the orphans it finds", where, o.rest[0])
		}
		return nil
	}
	modes := 0
	for _, m := range []bool{o.orphaned, o.prometheus, o.watch} {
		if m {
			modes++
		}
	}
	if modes > 1 {
		return usagef("%s: --orphaned, --prometheus and --watch go one at a time", where)
	}
	if err := need(!o.dryRun, "--dry-run", "ipc rm --orphaned"); err != nil {
		return err
	}
	if err := need(o.orphaned || o.prometheus || !o.olderThanSet, "--older-than", "--orphaned or --prometheus"); err != nil {
		return err
	}
	if err := need(o.orphaned || !o.explain, "--explain", "--orphaned"); err != nil {
		return err
	}
	if err := need(o.watch || !o.intervalSet && !o.countSet, "--interval and --count", "--watch"); err != nil {
		return err
	}
	if o.watch && o.allNS {
		return usagef("%s --watch: cannot honour --all-namespaces (watch one namespace: give --namespace)", where)
	}
	if o.orphaned || o.prometheus || o.watch {
		mode := "--orphaned"
		if o.prometheus {
			mode = "--prometheus"
		} else if o.watch {
			mode = "--watch"
		}
		for _, a := range o.rest {
			switch {
			case o.orphaned && a == "--json":
			case o.orphaned && (a == "-q" || a == "-m" || a == "-s" || a == "--queues" || a == "--shmems" || a == "--semaphores"):
				o.kinds = append(o.kinds, map[string]ipc.Kind{"-q": ipc.Queue, "--queues": ipc.Queue,
					"-m": ipc.Segment, "--shmems": ipc.Segment, "-s": ipc.Semaphore, "--semaphores": ipc.Semaphore}[a])
			default:
				return usagef("%s %s: cannot honour %s", where, mode, a)
			}
		}
	}
	return nil
}

// parseAge is time.ParseDuration that also takes whole days ("7d").
func parseAge(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.ParseUint(n, 10, 16); err == nil {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("not a duration (say 90s, 30m, 12h or 7d)")
	}
	if d < 0 {
		return 0, errors.New("must not be negative")
	}
	return d, nil
}

func (o *adminOpts) judgeOptions() admin.Options {
	return admin.Options{OlderThan: o.olderThan, OlderThanSet: o.olderThanSet, Kinds: o.kinds}
}

// nsInfo is the "namespace" object of --all-namespaces' JSON.
type nsInfo struct {
	Inode     uint64 `json:"inode"`
	PID       int    `json:"pid,omitempty"`
	PIDs      int    `json:"processes,omitempty"`
	Command   string `json:"command,omitempty"`
	Container string `json:"container,omitempty"`
	Current   bool   `json:"current"`
}

// enteredNamespace is the namespace ipc was re-executed into by
// --namespace, if it was.
func enteredNamespace() *nsInfo {
	v := os.Getenv(enteredEnv)
	if v == "" {
		return nil
	}
	ino, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return nil
	}
	return &nsInfo{Inode: ino, Current: true}
}

// ---- ls --orphaned ----

// jsonVerdict is one object of ls --orphaned --json.
type jsonVerdict struct {
	Kind        string           `json:"kind"`
	ID          int              `json:"id"`
	Key         uint32           `json:"key"`
	KeyHex      string           `json:"keyhex"`
	Owner       string           `json:"owner"`
	UID         uint32           `json:"uid"`
	CUID        uint32           `json:"cuid"`
	Orphaned    bool             `json:"orphaned"`
	Confidence  string           `json:"confidence"`
	Reasons     []string         `json:"reasons"`
	CTime       *string          `json:"ctime"`
	LastUsed    *string          `json:"last_used"`
	IdleSeconds int64            `json:"idle_seconds"`
	Bytes       uint64           `json:"bytes"`
	Messages    uint64           `json:"messages"`
	Nsems       int              `json:"nsems"`
	PIDs        []admin.PIDCheck `json:"pids"`
	Namespace   *nsInfo          `json:"namespace,omitempty"`
}

func (t *utilTool) verdictJSON(v admin.Verdict, ns *nsInfo) jsonVerdict {
	j := jsonVerdict{
		Kind: admin.KindName(v.Kind), ID: v.ID, Key: uint32(v.Perm.Key), KeyHex: v.Perm.Key.String(),
		Owner: t.ownerName(v.Perm.UID), UID: v.Perm.UID, CUID: v.Perm.CUID,
		Orphaned: v.Orphaned, Confidence: string(v.Confidence), Reasons: v.Reasons,
		CTime: jsonTime(v.CTime), LastUsed: jsonTime(v.LastUsed), IdleSeconds: int64(v.Idle / time.Second),
		Bytes: v.Bytes, Messages: v.Messages, Nsems: v.Nsems, PIDs: v.PIDs, Namespace: ns,
	}
	if j.PIDs == nil {
		j.PIDs = []admin.PIDCheck{}
	}
	return j
}

func (t *utilTool) ownerName(uid uint32) string {
	if name, ok := t.userName(uid); ok {
		return name
	}
	return strconv.FormatUint(uint64(uid), 10)
}

// lsOrphans prints the orphans (all verdicts with --explain) of the
// caller's namespace; ns, when not nil, labels them (--all-namespaces).
func lsOrphans(t *utilTool, o *adminOpts, ns *nsInfo) error {
	vs, err := t.verdicts(o)
	if err != nil {
		return err
	}
	if ns == nil {
		ns = enteredNamespace()
	}
	if o.json {
		list := []jsonVerdict{}
		for _, v := range vs {
			list = append(list, t.verdictJSON(v, ns))
		}
		return t.printJSON(map[string]any{"verdicts": list})
	}
	printVerdicts(t, vs, o.explain)
	return nil
}

func (t *utilTool) verdicts(o *adminOpts) ([]admin.Verdict, error) {
	all, err := admin.Judge(o.judgeOptions())
	if err != nil {
		return nil, err
	}
	if o.explain {
		return all, nil
	}
	out := all[:0]
	for _, v := range all {
		if v.Orphaned {
			out = append(out, v)
		}
	}
	return out, nil
}

func (t *utilTool) printJSON(doc any) error {
	data, err := json.MarshalIndent(doc, "", "   ")
	if err != nil {
		return err
	}
	t.printf("%s\n", data)
	return nil
}

func printVerdicts(t *utilTool, vs []admin.Verdict, explain bool) {
	if len(vs) == 0 {
		t.printf("no orphaned objects\n")
		return
	}
	tw := tabwriter.NewWriter(t.out, 0, 0, 2, ' ', 0)
	head := "KIND\tID\tKEY\tOWNER\tSIZE\tIDLE\tCONFIDENCE\tREASONS\n"
	if explain {
		head = "KIND\tID\tKEY\tOWNER\tSIZE\tIDLE\tVERDICT\tCONFIDENCE\tREASONS\n"
	}
	fmt.Fprint(tw, head)
	for _, v := range vs {
		size := strconv.FormatUint(v.Bytes, 10)
		switch v.Kind {
		case ipc.Queue:
			size = fmt.Sprintf("%s/%dB", admin.Plural(int(v.Messages), "msg"), v.Bytes)
		case ipc.Semaphore:
			size = admin.Plural(v.Nsems, "sem")
		}
		verdict := ""
		if explain {
			verdict = "in use\t"
			if v.Orphaned {
				verdict = "orphaned\t"
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s%s\t%s\n", admin.KindName(v.Kind), v.ID, v.Perm.Key, t.ownerName(v.Perm.UID),
			size, admin.FormatAge(v.Idle), verdict, v.Confidence, strings.Join(v.Reasons, "; "))
	}
	tw.Flush()
}

// ---- rm --orphaned ----

// rmOrphans removes the orphans of the caller's namespace (or says what it
// would remove), reporting each. It fails (exit 1) if one could not be
// removed for want of permission or by an error; an object that vanished
// or changed meanwhile is reported and skipped, not a failure.
func rmOrphans(t *utilTool, o *adminOpts) error {
	vs, err := admin.Orphans(o.judgeOptions())
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		t.printf("no orphaned objects\n")
		return nil
	}
	failed := 0
	for _, v := range vs {
		what := fmt.Sprintf("%s %d (key %s)", v.Kind, v.ID, v.Perm.Key)
		out, detail := admin.Remove(v, o.dryRun)
		switch out {
		case admin.Removed, admin.WouldRemove:
			t.printf("%s %s: %s\n", out, what, strings.Join(v.Reasons, "; "))
		case admin.NotPermitted, admin.Failed:
			failed++
			t.printf("skipped %s: %s: %s\n", what, out, detail)
		default:
			t.printf("skipped %s: %s: %s\n", what, out, detail)
		}
	}
	if failed > 0 {
		return fmt.Errorf("rm --orphaned: %d of %d orphan(s) not removed", failed, len(vs))
	}
	return nil
}

// ---- --prometheus ----

// prometheus prints the caller's namespace's metrics; labels (name, value
// pairs) go on every sample. With a namespace entered by --namespace its
// inode is the label "namespace".
func prometheus(t *utilTool, o *adminOpts, set *promtext.Set) error {
	own := set == nil
	if own {
		set = &promtext.Set{}
	}
	var labels []string
	if ns := enteredNamespace(); ns != nil {
		labels = []string{"namespace", strconv.FormatUint(ns.Inode, 10)}
	}
	if err := admin.Metrics(set, o.judgeOptions(), labels...); err != nil {
		return err
	}
	if own {
		_, err := set.WriteTo(t.out)
		return err
	}
	return nil
}

// ---- --all-namespaces ----

// allNamespaces runs the listing (ipcs options, --orphaned or
// --prometheus) in every IPC namespace found under /proc, the caller's
// first. A namespace that cannot be entered is reported and skipped, and
// the command then fails.
func allNamespaces(t *utilTool, o *adminOpts) error {
	plain := !o.orphaned && !o.prometheus
	for _, a := range o.rest {
		if plain && (a == "-h" || a == "--help" || a == "-V" || a == "--version") {
			return statusOf(runIpcs(t, o.rest, true)) // once, not per namespace
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
		sub := newTool("", "ls", &buf, t.err)
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
			if code := runIpcs(sub, o.rest, true); code != 0 {
				return statusError(code)
			}
			return nil
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
func (t *utilTool) writeMerged(infos []nsInfo, docs []nsDoc) error {
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
