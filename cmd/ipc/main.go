// Command ipc is the command-line face of the toolkit: object commands for
// semaphore sets, message queues and shared memory, ls/rm/mk that behave as
// util-linux's ipcs/ipcrm/ipcmk, demos of the classic multiprocess patterns,
// a prefork server, and benchmarks. It only parses and prints; everything it
// does is a call into the library.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ipctoolkit/ipc/internal/complete"
	"github.com/ipctoolkit/ipc/internal/utillinux"
	"github.com/urfave/cli/v2"
)

// commands is filled by the init functions of the files that define them,
// so each command family lives in its own file.
var commands []*cli.Command

func register(c ...*cli.Command) { commands = append(commands, c...) }

func main() {
	dispatchChild()
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	// A shell asking for completion gets words and nothing else, whatever
	// the words are: no command runs.
	if complete.Requested(args) {
		completion().Print(stdout, args)
		return 0
	}
	// Invoked through a link named ipcs, ipcrm, ipcmk or lsipc, the binary
	// is that tool.
	if t, ok := utillinux.Lookup(args[0]); ok {
		return t.Run(args[0], args[1:], stdout, stderr)
	}
	if code, done := enterNamespace(args, stderr); done { // admin.go: --namespace
		return code
	}
	app := newApp(stdout, stderr)
	err := app.Run(flagsFirst(args, commands))
	return exitStatus(err, stderr)
}

// categories group the commands in ipc --help.
var categories = map[string]string{
	"sem": "objects", "msgq": "objects", "shm": "objects", "key": "objects", "limits": "objects",
	"ls": "util-linux", "rm": "util-linux", "mk": "util-linux",
	"sem-demo": "demos", "msgq-demo": "demos", "shm-demo": "demos", "pipe-demo": "demos", "proc-demo": "demos",
	"serve": "server", "status": "server", "bench": "measure",
	"completion": "shell", "man": "shell", "version": "shell",
}

// categoryOrder is the order of the groups in the manual.
var categoryOrder = []string{"objects", "util-linux", "demos", "server", "measure", "shell"}

func newApp(stdout, stderr io.Writer) *cli.App {
	markUsageErrors(commands)
	for _, c := range commands {
		if c.Category == "" {
			c.Category = categories[c.Name]
		}
	}
	return &cli.App{
		Name:            "ipc",
		Usage:           "System V IPC for people and scripts: semaphores, message queues, shared memory, pipes",
		Commands:        commands,
		Flags:           globalFlags, // admin.go: shown in help; run handles them first
		Writer:          stdout,
		ErrWriter:       stderr,
		Version:         moduleVersion(),
		HideHelpCommand: false,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err}
		},
		ExitErrHandler: func(*cli.Context, error) {}, // exitStatus decides
		// Without a command the app shows its help; with a word that is not
		// a command it is a usage error (exit 2), not urfave's "No help
		// topic" (exit 3).
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("unknown command %q (see 'ipc help')", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
	}
}

// markUsageErrors makes a bad flag value of any command a usage error (exit
// 2): urfave calls only the command's own OnUsageError, not the app's.
func markUsageErrors(cmds []*cli.Command) {
	for _, c := range cmds {
		if c.OnUsageError == nil {
			c.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
		}
		markUsageErrors(c.Subcommands)
	}
}

// usageError marks an error in what the user typed: exit status 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// exitCoder lets a command choose its exit status (the util-linux modes do).
type exitCoder interface{ ExitCode() int }

// exitStatus prints err as one line, "ipc: <what failed>: <why>", and
// returns the status: 0 for none, 2 for a usage error, 1 for a failed
// operation.
func exitStatus(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ec exitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(stderr, "ipc: "+msg)
		}
		return ec.ExitCode()
	}
	printErr(stderr, err)
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// printErr prints err as the one line "ipc: <what failed>: <why>"; errors
// of package ipc already start with "ipc: ".
func printErr(w io.Writer, err error) {
	fmt.Fprintln(w, "ipc: "+strings.TrimPrefix(err.Error(), "ipc: "))
}
