package tests

import (
	"strconv"
	"strings"
	"testing"
)

// TestAdminBadInput: a pid that names no process, a path that is not a
// namespace file, an age that is not a duration, --orphaned with options
// it cannot honour: one line on stderr, nothing on stdout, exit 2, and
// the orphan that every one of these commands could have removed is still
// there. Entering a namespace without CAP_SYS_ADMIN is one line and exit
// 1.
func TestAdminBadInput(t *testing.T) {
	ns := newNS(t)
	ns.must(t, "shm", "create", "--key", "0x6501", "--size", "64") // an orphan
	pid := strconv.Itoa(ns.pid)
	for _, c := range []struct {
		args []string
		want string // the line on stderr
	}{
		{[]string{"--namespace", "999999999", "rm", "--orphaned"}, "ipc: open IPC namespace of pid 999999999: no such process"},
		{[]string{"rm", "--orphaned", "--namespace", "999999999"}, "ipc: open IPC namespace of pid 999999999: no such process"},
		{[]string{"--namespace", "/etc/hostname", "rm", "--orphaned"}, "ipc: open IPC namespace /etc/hostname: not an IPC namespace file"},
		{[]string{"--namespace", "/proc/" + pid + "/ns/net", "rm", "--orphaned"}, "ipc: open IPC namespace /proc/" + pid + "/ns/net: not an IPC namespace file: it is a network namespace"},
		{[]string{"--namespace", "/nonexistent", "rm", "--orphaned"}, "ipc: open IPC namespace /nonexistent: no such file or directory"},
		{[]string{"rm", "--orphaned", "--namespace"}, "ipc: --namespace: missing PID or PATH"},
		{[]string{"--namespace", pid, "--namespace", pid, "rm", "--orphaned"}, "ipc: --namespace: given twice"},
		{[]string{"--namespace", pid, "rm", "--orphaned", "--older-than", "soon"}, `ipc: rm: --older-than "soon": not a duration (say 90s, 30m, 12h or 7d)`},
		{[]string{"--namespace", pid, "rm", "--orphaned", "--older-than=-5m"}, `ipc: rm: --older-than "-5m": must not be negative`},
		{[]string{"--namespace", pid, "rm", "--orphaned", "--older-than"}, "ipc: rm: --older-than: missing value"},
		{[]string{"--namespace", pid, "rm", "--orphaned", "-m", "0"}, "ipc: rm --orphaned: cannot honour -m: it removes only the orphans it finds"},
		{[]string{"--namespace", pid, "rm", "--orphaned", "--json"}, "ipc: rm --orphaned: cannot honour --json: it removes only the orphans it finds"},
		{[]string{"--namespace", pid, "rm", "--orphaned", "--all-namespaces"}, "ipc: rm --orphaned: cannot honour --all-namespaces (one namespace at a time: give --namespace)"},
		{[]string{"--namespace", pid, "rm", "--dry-run"}, "ipc: rm: --dry-run only goes with --orphaned"},
		{[]string{"--namespace", pid, "rm", "--older-than", "1h", "-a"}, "ipc: rm: --older-than only goes with --orphaned"},
		{[]string{"--namespace", pid, "rm", "--all-namespaces"}, "ipc: rm: --all-namespaces only goes with --orphaned"},
		{[]string{"--namespace", pid, "rm", "--orphaned", "--explain"}, "ipc: rm --orphaned: cannot honour --explain"},
		{[]string{"--namespace", pid, "ls", "--orphaned", "-t"}, "ipc: ls --orphaned: cannot honour -t"},
		{[]string{"--namespace", pid, "ls", "--orphaned", "-i", "0"}, "ipc: ls --orphaned: cannot honour -i"},
		{[]string{"--namespace", pid, "ls", "--orphaned", "--dry-run"}, "ipc: ls: --dry-run only goes with ipc rm --orphaned"},
		{[]string{"--namespace", pid, "ls", "--orphaned", "--prometheus"}, "ipc: ls: --orphaned, --prometheus and --watch go one at a time"},
		{[]string{"--namespace", pid, "ls", "--older-than", "1h"}, "ipc: ls: --older-than only goes with --orphaned or --prometheus"},
		{[]string{"--namespace", pid, "ls", "--prometheus", "-q"}, "ipc: ls --prometheus: cannot honour -q"},
		{[]string{"--namespace", pid, "ls", "--watch", "--interval", "0s"}, `ipc: ls: --interval "0s": must be positive`},
		{[]string{"--namespace", pid, "ls", "--watch", "--count", "x"}, `ipc: ls: --count "x": want a positive number`},
		{[]string{"--namespace", pid, "ls", "--count", "2"}, "ipc: ls: --interval and --count only go with --watch"},
		{[]string{"--namespace", pid, "ls", "--watch", "--all-namespaces"}, "ipc: ls --watch: cannot honour --all-namespaces (watch one namespace: give --namespace)"},
	} {
		r := run(t, ns.ipc, append([]string{"ipc"}, c.args...), runOpts{})
		if r.code != 2 || r.stdout != "" || r.stderr != c.want+"\n" {
			t.Errorf("ipc %q: %v; want exit 2, only %q", c.args, r, c.want)
		}
	}
	if ls := ns.must(t, "ls", "-m"); !strings.Contains(ls, "0x00006501") {
		t.Fatalf("a bad command removed the orphan:\n%s", ls)
	}
	// ipcs's own options keep ipcs's status and words, said once however
	// many namespaces there are.
	if r := run(t, ns.ipc, []string{"ipc", "ls", "--all-namespaces", "-Z"}, runOpts{}); r.code != 1 || r.stdout != "" ||
		r.stderr != "ipc: invalid option -- 'Z'\nTry 'ipc ls --help' for more information.\n" {
		t.Errorf("ls --all-namespaces -Z: %v", r)
	}

	// Without CAP_SYS_ADMIN.
	for _, c := range []struct{ spec, want string }{
		{pid, "ipc: open IPC namespace of pid " + pid + ": permission denied (needs CAP_SYS_ADMIN, or ptrace access to the process)"},
		{"/proc/self/ns/ipc", "ipc: enter IPC namespace /proc/self/ns/ipc: operation not permitted (needs CAP_SYS_ADMIN)"},
	} {
		r := run(t, ns.ipc, []string{"ipc", "--namespace", c.spec, "rm", "--orphaned"}, runOpts{nobody: true})
		if r.code != 1 || r.stdout != "" || r.stderr != c.want+"\n" {
			t.Errorf("as nobody, --namespace %s: %v; want exit 1, only %q", c.spec, r, c.want)
		}
	}
	if ls := ns.must(t, "ls", "-m"); !strings.Contains(ls, "0x00006501") {
		t.Fatalf("nobody removed the orphan:\n%s", ls)
	}
	ns.must(t, "rm", "-M", "0x6501")
}
