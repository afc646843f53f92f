// Package admincmd is the administrator's side of ipc ls and ipc rm
// (issue 14), the options ipcs and ipcrm never had:
//
//	ipc ls --orphaned [--older-than D] [--explain] [-q] [-m] [-s] [--json]
//	ipc rm --orphaned [--older-than D] [--dry-run]
//	ipc ls --all-namespaces [ipcs options | --orphaned ... | --prometheus]
//	ipc ls --prometheus [--older-than D]
//	ipc ls --watch [--interval D] [--count N]
//
// and the global --namespace PID|PATH (EnterNamespace). It parses these
// options and prints their results; the judging, removing, metrics and
// snapshots are package admin's, the namespaces package ipcns's, the text
// format package promtext's, and a plain listing is utillinux.Ipcs. cmd/ipc
// only wires it in: Util in the ls and rm actions, EnterNamespace before
// the app parses anything, Options for completion and the manual.
//
// Errors are printed as ipc prints them, one line "ipc: <what failed>:
// <why>", with exit status 2 for a usage error and 1 for a failed
// operation.
package admincmd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ipctoolkit/ipc/internal/admin"
	"github.com/ipctoolkit/ipc/internal/promtext"
	"github.com/ipctoolkit/ipc/internal/utillinux"
	"github.com/ipctoolkit/ipc/ipc"
)

// usage is a mistake in what the user typed: exit status 2.
type usage struct{ error }

func (usage) ExitCode() int { return 2 }

func (u usage) Unwrap() error { return u.error }

func usagef(format string, a ...any) error { return usage{fmt.Errorf(format, a...)} }

// statusError is an exit status chosen by a tool that has already said
// why (ipcs refusing its options).
type statusError int

func (statusError) Error() string   { return "" }
func (s statusError) ExitCode() int { return int(s) }

// exitStatus prints err as one line and returns the status: 0 for none,
// the one an ExitCode method chooses (2 for usage), 1 for any other.
func exitStatus(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		if err.Error() != "" {
			printErr(stderr, err)
		}
		return ec.ExitCode()
	}
	printErr(stderr, err)
	return 1
}

// printErr prints err as the one line "ipc: <what failed>: <why>"; errors
// of package ipc already start with "ipc: ".
func printErr(w io.Writer, err error) {
	fmt.Fprintln(w, "ipc: "+strings.TrimPrefix(err.Error(), "ipc: "))
}

// adminTool is where the administrator's commands write: stdout through a
// buffer (listings can be long), stderr as it is.
type adminTool struct {
	out   *bufio.Writer
	err   io.Writer
	tty   bool
	users map[uint32]string
}

func newAdminTool(stdout, stderr io.Writer) *adminTool {
	return &adminTool{out: bufio.NewWriter(stdout), err: stderr, tty: utillinux.IsTerminal(stdout), users: map[uint32]string{}}
}

func (t *adminTool) printf(format string, a ...any) { fmt.Fprintf(t.out, format, a...) }

// finish flushes stdout; a write that fails (a full disk) is reported and
// turns the status into 1, a closed pipe (ipc ls --watch | head) is not.
func (t *adminTool) finish(code int) int {
	if err := t.out.Flush(); err != nil && !errors.Is(err, syscall.EPIPE) {
		printErr(t.err, fmt.Errorf("write error: %w", err))
		return 1
	}
	return code
}

// ownerName is the owner's user name, or the uid when it has none.
func (t *adminTool) ownerName(uid uint32) string {
	name, seen := t.users[uid]
	if !seen {
		name = strconv.FormatUint(uint64(uid), 10)
		if u, err := user.LookupId(name); err == nil {
			name = u.Username
		}
		t.users[uid] = name
	}
	return name
}

// timeJSON is a time in JSON as ipc ls --json prints it (RFC 3339 in the
// zone TZ names, null for never).
func timeJSON(when time.Time) *string { return utillinux.JSONTime(when) }

// lsUtil runs ipc ls's util-linux part (ipcs) on args: the one place the
// administrator's commands call into it (ls --all-namespaces lists each
// namespace with it). A failure is ipcs's exit status, ipcs having said why.
func lsUtil(args []string, stdout, stderr io.Writer) error {
	if code := utillinux.Ipcs.RunSub(args, stdout, stderr); code != 0 {
		return statusError(code)
	}
	return nil
}

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

// adminOption are the options Util takes for itself.
var adminOption = map[string]bool{"--orphaned": true, "--dry-run": true, "--explain": true, "--all-namespaces": true,
	"--prometheus": true, "--watch": true, "--older-than": true, "--interval": true, "--count": true}

func (o *adminOpts) any() bool { return o.orphaned || o.allNS || o.prometheus || o.watch }

// Util runs "ipc ls" or "ipc rm" (cmd is "ls" or "rm") when args hold the
// administrator's options, writing to stdout and stderr, and returns the
// exit status. handled is false, and nothing is done, when args have none
// of them (or cmd is another command): they are then the util-linux
// tool's.
func Util(cmd string, stdout, stderr io.Writer, args []string) (code int, handled bool) {
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
	out := newAdminTool(stdout, stderr)
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

// ---- --prometheus ----

// prometheus prints the caller's namespace's metrics; labels (name, value
// pairs) go on every sample. With a namespace entered by --namespace its
// inode is the label "namespace".
func prometheus(t *adminTool, o *adminOpts, set *promtext.Set) error {
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
