package main

import (
	"os"
	"strconv"

	"github.com/ipctoolkit/ipc/ipc/prefork"
	"github.com/urfave/cli/v2"
)

// The flags of `ipc serve` for deploying it as a service: listeners, the pid
// file, the user the workers run as.
func serveDeployFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "addr", Value: cli.NewStringSlice("127.0.0.1:8989"),
			Usage: "address to listen on: TCP host:port (port 0 picks one) or unix:/path.sock; repeat it (or separate with commas) for several, every worker serves them all; ignored when systemd passes sockets (LISTEN_FDS)"},
		&cli.StringFlag{Name: "socket-mode", Usage: "octal mode of the unix: socket files", DefaultText: "0660"},
		&cli.StringFlag{Name: "socket-owner", Usage: "user:group (or user, or :group) of the unix: socket files", DefaultText: "the supervisor's"},
		&cli.StringFlag{Name: "pid-file", Usage: "write the supervisor's pid here; refuse to start while a live server holds it"},
		&cli.StringFlag{Name: "user", Usage: "run the workers as this user (the supervisor must start as root, and keeps it)"},
		&cli.StringFlag{Name: "group", Usage: "with --user: the workers' group", DefaultText: "the user's primary group"},
	}
}

// applyServeDeploy sets srv's deployment fields from the flags.
func applyServeDeploy(c *cli.Context, srv *prefork.Server) error {
	addrs := c.StringSlice("addr")
	if len(addrs) == 0 {
		return usagef("serve: --addr must not be empty")
	}
	for _, a := range addrs {
		if a == "" || a == "unix:" {
			return usagef("serve: --addr %q: want host:port or unix:/path", a)
		}
	}
	srv.Addrs = addrs
	if s := c.String("socket-mode"); s != "" {
		m, err := strconv.ParseUint(s, 8, 32)
		if err != nil || m > 0o777 || m == 0 {
			return usagef("serve: --socket-mode must be octal permission bits such as 0660, not %q", s)
		}
		srv.SocketMode = os.FileMode(m)
	}
	if c.IsSet("group") && c.String("user") == "" {
		return usagef("serve: --group needs --user")
	}
	srv.SocketOwner = c.String("socket-owner")
	srv.PIDFile = c.String("pid-file")
	srv.User, srv.Group = c.String("user"), c.String("group")
	return nil
}
