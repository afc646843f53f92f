package main

import (
	"strconv"
	"strings"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/urfave/cli/v2"
)

// keyFlags are the ways to name a key: --key, --path with --proj (ftok),
// and, for a create, --private. A get has no use for --private, which
// names no existing object: the flag is hidden there and refused with a
// usage error that says so.
func keyFlags(create bool) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "key", Aliases: []string{"k"}, Usage: "the key: 0x1b2c, decimal, or private"},
		&cli.StringFlag{Name: "path", Usage: "derive the key with ftok from this existing file"},
		&cli.IntFlag{Name: "proj", Value: 1, Usage: "ftok's project id, 1-255 (with --path)"},
		&cli.BoolFlag{Name: "private", Usage: "IPC_PRIVATE: a new object no key can find", Hidden: !create},
	}
}

// createFlags go with every create command.
func createFlags() []cli.Flag {
	return append(keyFlags(true),
		&cli.StringFlag{Name: "mode", Aliases: []string{"p"}, Value: "0600", Usage: "octal permission bits"},
		&cli.BoolFlag{Name: "exclusive", Aliases: []string{"x"}, Usage: "fail if the key already has an object (IPC_EXCL)"},
	)
}

// keyOf reads the key the user gave in one of the three ways, and only one.
func keyOf(c *cli.Context) (ipc.Key, error) {
	given := 0
	for _, f := range []string{"key", "path", "private"} {
		if c.IsSet(f) {
			given++
		}
	}
	switch {
	case given == 0:
		return 0, usagef("%s: give a key with --key K, --path P [--proj N] or --private", cmdName(c))
	case given > 1:
		return 0, usagef("%s: --key, --path and --private exclude each other", cmdName(c))
	case c.Bool("private"):
		return ipc.Private, nil
	case c.IsSet("path"):
		proj := c.Int("proj")
		if proj < 1 || proj > 255 {
			return 0, usagef("%s: --proj must be 1-255, not %d", cmdName(c), proj)
		}
		k, err := ipc.Ftok(c.String("path"), proj)
		if err != nil {
			return 0, err // the path is missing: a failed operation
		}
		return k, nil
	}
	k, err := ipc.ParseKey(c.String("key"))
	if err != nil {
		return 0, usageError{err}
	}
	return k, nil
}

// modeOf reads --mode.
func modeOf(c *cli.Context) (ipc.Mode, error) {
	m, err := ipc.ParseMode(c.String("mode"))
	if err != nil {
		return 0, usageError{err}
	}
	return m, nil
}

// idArg reads the one id argument of a command on an existing object, and
// insists there is nothing else unless more is allowed.
func idArg(c *cli.Context, more bool) (int, error) {
	name := cmdName(c)
	if c.NArg() == 0 {
		return 0, usagef("%s: missing ID", name)
	}
	if !more && c.NArg() > 1 {
		return 0, usagef("%s: unexpected argument %q", name, c.Args().Get(1))
	}
	id, err := strconv.Atoi(c.Args().First())
	if err != nil || id < 0 {
		return 0, usagef("%s: invalid id %q: want a non-negative decimal number", name, c.Args().First())
	}
	return id, nil
}

// noArgs rejects stray arguments of a command that takes none.
func noArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("%s: unexpected argument %q", cmdName(c), c.Args().First())
	}
	return nil
}

// cmdName is the command's path as typed after ipc ("sem get"), for
// messages: urfave's FullName gives only the last word.
func cmdName(c *cli.Context) string {
	var names []string
	for _, ctx := range c.Lineage() {
		if ctx.Command != nil {
			names = append([]string{ctx.Command.Name}, names...)
		}
	}
	if len(names) > 1 {
		names = names[1:] // the root command, which is the app itself
	}
	return strings.Join(names, " ")
}
