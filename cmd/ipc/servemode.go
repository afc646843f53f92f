package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ipctoolkit/ipc/ipc/prefork"
	"github.com/urfave/cli/v2"
)

// The flags of `ipc serve` that choose the server's design (prefork.Mode).
func serveModeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "mode", Value: "prefork",
			Usage: "prefork (workers take turns accepting under the semaphore), fork (a child per connection), pass (the supervisor accepts and passes each connection to an idle worker over a socketpair), reuseport (each worker its own SO_REUSEPORT socket)"},
		&cli.IntFlag{Name: "max-children", Usage: "fork: children alive at once; at the bound the supervisor stops accepting (1 to 4096)", DefaultText: strconv.Itoa(prefork.DefaultMaxChildren)},
	}
}

// checkServeMode refuses, before anything is made, the flags the chosen
// mode cannot honour.
func checkServeMode(c *cli.Context) error {
	m, err := prefork.ParseMode(c.String("mode"))
	if err != nil {
		return usagef("serve: --mode must be one of %s, not %q", strings.Join(prefork.Modes(), ", "), c.String("mode"))
	}
	refuse := func(flag, why string) error {
		return usagef("serve: --%s cannot be used with --mode %s: %s", flag, m, why)
	}
	switch {
	case m != prefork.ModePrefork && c.IsSet("accept"):
		return refuse("accept", "the accept lock is prefork's")
	case m != prefork.ModeFork && c.IsSet("max-children"):
		return refuse("max-children", "it bounds fork's children")
	case m == prefork.ModeFork && c.IsSet("workers"):
		return refuse("workers", "fork starts a child per connection; bound them with --max-children")
	case m == prefork.ModeFork && c.IsSet("max-requests"):
		return refuse("max-requests", "a fork child serves one connection")
	case m == prefork.ModeReuseport && c.IsSet("user"):
		return refuse("user", "the kernel groups SO_REUSEPORT sockets of one user only")
	}
	if n := c.Int("max-children"); c.IsSet("max-children") && (n < 1 || n > prefork.MaxSlots) {
		return usagef("serve: --max-children must be between 1 and %d, not %d", prefork.MaxSlots, n)
	}
	for _, a := range c.StringSlice("addr") {
		if m == prefork.ModeReuseport && strings.HasPrefix(a, "unix:") {
			return usagef("serve: --mode reuseport takes TCP addresses only, not %q", a)
		}
	}
	if (m == prefork.ModeFork || m == prefork.ModePass) && len(c.StringSlice("addr")) > 1 {
		return usagef("serve: --mode %s accepts on one --addr, not %d", m, len(c.StringSlice("addr")))
	}
	return nil
}

// applyServeMode sets srv's mode fields (checkServeMode has passed).
func applyServeMode(c *cli.Context, srv *prefork.Server) {
	srv.Mode, _ = prefork.ParseMode(c.String("mode"))
	srv.MaxChildren = c.Int("max-children")
	if srv.Mode == prefork.ModeFork {
		srv.Workers = 0
	}
}

// modeSummary is the line `ipc status` prints about the server's mode.
func modeSummary(s prefork.Status) string {
	switch s.Mode {
	case "fork":
		return fmt.Sprintf("mode fork: %d children alive of at most %d, %d forked since the start\n", s.Children, s.MaxChildren, s.Forked)
	case "pass":
		return fmt.Sprintf("mode pass: %d connections passed to the workers since the start\n", s.Passed)
	case "", "prefork":
		return "" // the default: its output as before the modes
	}
	return "mode " + s.Mode + "\n"
}

// modeHeader and modeColumn are the mode's column of the workers' table.
func modeHeader(s prefork.Status) string {
	switch s.Mode {
	case "pass":
		return "PASSED\t"
	case "reuseport":
		return "SOCKET\t"
	}
	return ""
}

func modeColumn(s prefork.Status, w prefork.WorkerStatus) string {
	switch s.Mode {
	case "pass":
		return strconv.FormatUint(w.Passed, 10) + "\t"
	case "reuseport":
		return "socket:[" + strconv.FormatUint(w.Socket, 10) + "]\t"
	}
	return ""
}
