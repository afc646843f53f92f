package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// flagsFirst moves a command's flags before its arguments, so that
// "ipc sem op 3 0:-1 --nowait" works as users of getopt tools expect:
// urfave/cli, like Go's flag package, stops at the first argument. Commands
// that parse their own arguments (ls, rm, mk) are left alone, and so is
// everything after "--".
func flagsFirst(args []string, cmds []*cli.Command) []string {
	if len(args) < 2 {
		return args
	}
	i := 1
	var cmd *cli.Command
	for i < len(args) {
		next := find(cmds, args[i])
		if next == nil {
			break
		}
		cmd, cmds, i = next, next.Subcommands, i+1
	}
	// A command with subcommands is left alone, unless it has an action
	// of its own and no subcommand was named (ipc bench msgq --json).
	if cmd == nil || cmd.SkipFlagParsing || len(cmd.Subcommands) > 0 && cmd.Action == nil {
		return args
	}
	var flags, rest []string
	dashed := false
	for j := i; j < len(args); j++ {
		a := args[j]
		switch {
		case a == "--":
			rest = append(rest, args[j+1:]...)
			j = len(args)
		case len(a) > 1 && a[0] == '-':
			flags = append(flags, a)
			name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if f := findFlag(cmd, name); f != nil && takesValue(f) && !hasValue && j+1 < len(args) {
				j++
				flags = append(flags, args[j])
			}
		default:
			if strings.HasPrefix(a, "-") {
				dashed = true
			}
			rest = append(rest, a)
		}
	}
	out := append(append([]string(nil), args[:i]...), flags...)
	if dashed || len(rest) > 0 && strings.HasPrefix(rest[0], "-") {
		out = append(out, "--")
	}
	return append(out, rest...)
}

func find(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

func findFlag(cmd *cli.Command, name string) cli.Flag {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

func takesValue(f cli.Flag) bool {
	d, ok := f.(cli.DocGenerationFlag)
	return ok && d.TakesValue()
}
