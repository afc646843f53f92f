package main

import (
	"io"

	"github.com/ipctoolkit/ipc/internal/utillinux"
	"github.com/urfave/cli/v2"
)

// ls, rm and mk are util-linux 2.38.1's ipcs, ipcrm and ipcmk (package
// internal/utillinux does the work); the binary invoked through a link
// named ipcs, ipcrm, ipcmk or lsipc is that tool.

func init() {
	registerUtil(&cli.Command{
		Name:  "ls",
		Usage: "list semaphore sets, queues and segments exactly as util-linux's ipcs does",
		UsageText: `ipc ls [-q] [-s] [-m] [-a] [-t|-p|-c|-l|-u] [-b|--human] [--json]
   ipc ls -q|-s|-m -i ID [-b|--human] [--json]`,
		Description: `Takes ipcs's options and prints what ipcs 2.38.1 prints, errors and exit
statuses included (run "ipc ls --help" for the list). --json prints one
JSON document instead, in lsipc's layout but with typed values: see README.`,
	}, utillinux.Ipcs)
	registerUtil(&cli.Command{
		Name:  "rm",
		Usage: "remove semaphore sets, queues and segments exactly as util-linux's ipcrm does",
		UsageText: `ipc rm [-q ID] [-Q KEY] [-s ID] [-S KEY] [-m ID] [-M KEY]... [-a[shm|msg|sem]] [-v]
   ipc rm shm|msg|sem ID...`,
		Description: `Takes ipcrm's options, processes them in ipcrm 2.38.1's order and prints its
messages, with its exit statuses (run "ipc rm --help" for the list).`,
	}, utillinux.Ipcrm)
	registerUtil(&cli.Command{
		Name:      "mk",
		Usage:     "create a segment, a queue and/or a semaphore set with a random key, as util-linux's ipcmk does",
		UsageText: "ipc mk [-M SIZE] [-Q] [-S NSEMS] [-p MODE]",
		Description: `Takes ipcmk's options and prints ipcmk 2.38.1's lines, messages and exit
statuses (run "ipc mk --help" for the list).`,
	}, utillinux.Ipcmk)
}

// utilCommands maps the ipc commands that are util-linux tools to them.
var utilCommands = map[string]*utillinux.Tool{}

// utilExtras are options an ipc ls, rm or mk takes beyond its util-linux
// tool's (a file of this package that adds some appends them here), so
// that completion and the manual offer them too.
var utilExtras = map[string][]utillinux.Option{}

// registerUtil adds cmd, an ipc command that parses its own arguments as
// the util-linux tool does (getopt_long, not urfave).
func registerUtil(cmd *cli.Command, tool *utillinux.Tool) {
	cmd.SkipFlagParsing, cmd.HideHelp = true, true
	cmd.Action = func(c *cli.Context) error {
		if code, ok := adminUtil(cmd.Name, c.App.Writer, c.App.ErrWriter, c.Args().Slice()); ok { // admin.go
			return statusOf(code)
		}
		return statusOf(tool.RunSub(c.Args().Slice(), c.App.Writer, c.App.ErrWriter))
	}
	utilCommands[cmd.Name] = tool
	register(cmd)
}

// statusError ends ipc with a chosen exit status (a util-linux one, or
// 128+signal), the lines before it having said what happened.
type statusError int

func (statusError) Error() string   { return "" }
func (s statusError) ExitCode() int { return int(s) }

func statusOf(code int) error {
	if code == 0 {
		return nil
	}
	return statusError(code)
}

// parseSize reads sizes as util-linux does: 4096, 1K, 1.5M, 0x1000.
func parseSize(s string) (uint64, error) { return utillinux.ParseSize(s) }

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool { return utillinux.IsTerminal(w) }
