package main

import "github.com/ipctoolkit/ipc/internal/utillinux"

// The administrator's options of ls and rm (admin.go), for completion and
// the manual.
func init() {
	utilExtras["ls"] = append(utilExtras["ls"],
		utillinux.Option{Long: "orphaned", Help: "list the objects nothing uses and whose processes are all gone, with the reasons"},
		utillinux.Option{Long: "older-than", Arg: "<duration>", Help: "with --orphaned or --prometheus: only objects unused for that long (90s, 12h, 7d)"},
		utillinux.Option{Long: "explain", Help: "with --orphaned: every object, in use or not, and why"},
		utillinux.Option{Long: "all-namespaces", Help: "list every IPC namespace found under /proc, then its objects"},
		utillinux.Option{Long: "namespace", Arg: "<pid|path>", Help: "run inside that IPC namespace (needs CAP_SYS_ADMIN)"},
		utillinux.Option{Long: "prometheus", Help: "the namespace's IPC usage in the Prometheus text format"},
		utillinux.Option{Long: "watch", Help: "redraw the queues every --interval, with messages/s in and out"},
		utillinux.Option{Long: "interval", Arg: "<duration>", Help: "with --watch: how often (1s)"},
		utillinux.Option{Long: "count", Arg: "<n>", Help: "with --watch: stop after n frames"},
	)
	utilExtras["rm"] = append(utilExtras["rm"],
		utillinux.Option{Long: "orphaned", Help: "remove the objects ipc ls --orphaned lists, reporting each"},
		utillinux.Option{Long: "older-than", Arg: "<duration>", Help: "with --orphaned: only objects unused for that long"},
		utillinux.Option{Long: "dry-run", Help: "with --orphaned: say what would be removed, remove nothing"},
		utillinux.Option{Long: "namespace", Arg: "<pid|path>", Help: "run inside that IPC namespace (needs CAP_SYS_ADMIN)"},
	)
}
