package admincmd

import "github.com/ipctoolkit/ipc/internal/utillinux"

// options are the administrator's options of ls and rm, for completion and
// the manual.
var options = map[string][]utillinux.Option{
	"ls": {
		{Long: "orphaned", Help: "list the objects nothing uses and whose processes are all gone, with the reasons"},
		{Long: "older-than", Arg: "<duration>", Help: "with --orphaned or --prometheus: only objects unused for that long (90s, 12h, 7d)"},
		{Long: "explain", Help: "with --orphaned: every object, in use or not, and why"},
		{Long: "all-namespaces", Help: "list every IPC namespace found under /proc, then its objects"},
		{Long: "namespace", Arg: "<pid|path>", Help: "run inside that IPC namespace (needs CAP_SYS_ADMIN)"},
		{Long: "prometheus", Help: "the namespace's IPC usage in the Prometheus text format"},
		{Long: "watch", Help: "redraw the queues every --interval, with messages/s in and out"},
		{Long: "interval", Arg: "<duration>", Help: "with --watch: how often (1s)"},
		{Long: "count", Arg: "<n>", Help: "with --watch: stop after n frames"},
	},
	"rm": {
		{Long: "orphaned", Help: "remove the objects ipc ls --orphaned lists, reporting each"},
		{Long: "older-than", Arg: "<duration>", Help: "with --orphaned: only objects unused for that long"},
		{Long: "dry-run", Help: "with --orphaned: say what would be removed, remove nothing"},
		{Long: "namespace", Arg: "<pid|path>", Help: "run inside that IPC namespace (needs CAP_SYS_ADMIN)"},
	},
}

// Options are the options Util (and EnterNamespace) add to the ipc command
// cmd ("ls" or "rm") beyond its util-linux tool's, in the order completion
// and the manual list them; nil for any other command.
func Options(cmd string) []utillinux.Option {
	return append([]utillinux.Option(nil), options[cmd]...)
}
