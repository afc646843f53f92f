package main

import (
	"github.com/ipctoolkit/ipc/internal/admincmd"
	"github.com/urfave/cli/v2"
)

// The administrator's commands (ipc ls/rm --orphaned, --all-namespaces,
// --prometheus, --watch, and the global --namespace) live in
// internal/admincmd; this file wires them in.

// adminUtil is the ls and rm actions' first call (registerUtil): it
// handles the administrator's options and leaves the rest to util-linux.
var adminUtil = admincmd.Util

// enterNamespace is run's first step after the personality lookup: the
// global --namespace, taken out before urfave parses the arguments.
var enterNamespace = admincmd.EnterNamespace

// globalFlags are listed in ipc --help; enterNamespace handles them.
var globalFlags = []cli.Flag{
	&cli.StringFlag{Name: "namespace", Usage: "run the command inside the IPC namespace of process `PID`, or of the namespace file PATH (/proc/PID/ns/ipc, a bind mount); needs CAP_SYS_ADMIN"},
}

// The administrator's options, offered by completion and the manual.
func init() {
	for _, cmd := range []string{"ls", "rm"} {
		utilExtras[cmd] = append(utilExtras[cmd], admincmd.Options(cmd)...)
	}
}
