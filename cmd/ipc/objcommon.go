package main

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"

	"github.com/ipctoolkit/ipc/internal/utillinux"
	"github.com/ipctoolkit/ipc/ipc"
	"github.com/urfave/cli/v2"
)

// setFlags change what every object has: its mode and its owner.
func setFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "mode", Usage: "new octal permission bits"},
		&cli.UintFlag{Name: "uid", Usage: "new owner (with --gid)"},
		&cli.UintFlag{Name: "gid", Usage: "new group (with --uid)"},
	}
}

// owned is what the three families have in common for IPC_SET.
type owned interface {
	SetMode(ipc.Mode) error
	SetOwner(uid, gid uint32) error
}

// permChange reads --mode, --uid and --gid into the IPC_SET calls they
// stand for, or nil when none was given.
func permChange[T owned](c *cli.Context) (func(T) error, error) {
	var mode ipc.Mode
	if c.IsSet("mode") {
		m, err := modeOf(c)
		if err != nil {
			return nil, err
		}
		mode = m
	}
	if c.IsSet("uid") != c.IsSet("gid") {
		return nil, usagef("%s: --uid and --gid go together", cmdName(c))
	}
	if !c.IsSet("mode") && !c.IsSet("uid") {
		return nil, nil
	}
	return func(o T) error {
		if c.IsSet("uid") {
			if err := o.SetOwner(uint32(c.Uint("uid")), uint32(c.Uint("gid"))); err != nil {
				return err
			}
		}
		if c.IsSet("mode") {
			return o.SetMode(mode)
		}
		return nil
	}, nil
}

// statAs prints an object as ipc ls (ipcs) -i does, or as ipc ls --json,
// so stat and ls never disagree.
func statAs(c *cli.Context, kind ipc.Kind, id int) error {
	return statusOf(utillinux.Stat(kind, id, c.Bool("json"), c.App.Writer, c.App.ErrWriter))
}

// removeIDs removes every object named by id, going on after a failure as
// ipcrm does, and fails if any removal failed.
func removeIDs(c *cli.Context, kind ipc.Kind) error {
	if c.NArg() == 0 {
		return usagef("%s: missing ID", cmdName(c))
	}
	var ids []int
	for _, a := range c.Args().Slice() {
		id, err := strconv.Atoi(a)
		if err != nil || id < 0 {
			return usagef("%s: invalid id %q: want a non-negative decimal number", cmdName(c), a)
		}
		ids = append(ids, id)
	}
	var failed error
	for _, id := range ids {
		if err := ipc.Remove(kind, id); err != nil {
			printErr(c.App.ErrWriter, err)
			failed = statusError(1)
		}
	}
	return failed
}

// getCommand is "ipc KIND get": the id of the object of a key.
func getCommand(kind, noun string, open func(ipc.Key) (int, error)) *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "print the id of the " + noun + " of a key",
		UsageText: "ipc " + kind + " get --key K|--path P [--proj N]",
		Flags:     keyFlags(false),
		Action: func(c *cli.Context) error {
			k, err := keyOf(c)
			if err == nil {
				err = noArgs(c)
			}
			if err != nil {
				return err
			}
			if k == ipc.Private { // --private, --key private, --key 0
				return usagef("%s get: the private key names no existing object: give --key K or --path P", kind)
			}
			id, err := open(k)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, id)
			return nil
		},
	}
}

// statCommand is "ipc KIND stat": what ipc ls (ipcs) -i prints, after
// checking through the library that the object exists.
func statCommand(kind, lsFlag string, k ipc.Kind, exists func(id int) error) *cli.Command {
	return &cli.Command{
		Name:      "stat",
		Usage:     "print everything the kernel keeps about it (as ipcs " + lsFlag + " -i ID)",
		UsageText: "ipc " + kind + " stat ID [--json]",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "one JSON document, as ipc ls --json"}},
		Action: func(c *cli.Context) error {
			id, err := idArg(c, false)
			if err != nil {
				return err
			}
			if err := exists(id); err != nil {
				return err
			}
			return statAs(c, k, id)
		},
	}
}

// createTarget reads what every create command takes: the key, the mode,
// and no arguments.
func createTarget(c *cli.Context) (ipc.Key, ipc.Mode, error) {
	k, err := keyOf(c)
	if err != nil {
		return 0, 0, err
	}
	mode, err := modeOf(c)
	if err != nil {
		return 0, 0, err
	}
	return k, mode, noArgs(c)
}

// createOrOpen makes a new object with create (IPC_CREAT|IPC_EXCL) or,
// without --exclusive, opens the key's existing one with open; made says
// which happened, so that a command only initialises what it made.
func createOrOpen[T any](c *cli.Context, create, open func() (T, error)) (obj T, made bool, err error) {
	obj, err = create()
	if errors.Is(err, fs.ErrExist) && !c.Bool("exclusive") {
		obj, err = open()
		return obj, false, err
	}
	return obj, err == nil, err
}

// idOf turns a family's open-by-key into the id lookup getCommand needs.
func idOf[T interface{ ID() int }](open func(ipc.Key) (T, error)) func(ipc.Key) (int, error) {
	return func(k ipc.Key) (int, error) {
		o, err := open(k)
		if err != nil {
			return 0, err
		}
		return o.ID(), nil
	}
}

// exists turns a family's FromID into the check statCommand needs.
func exists[T any](fromID func(int) (T, error)) func(int) error {
	return func(id int) error {
		_, err := fromID(id)
		return err
	}
}
