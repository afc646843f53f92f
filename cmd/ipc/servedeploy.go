package main

import (
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/ipctoolkit/ipc/ipc/prefork"
	"github.com/urfave/cli/v2"
)

// The flags of `ipc serve` for deploying it as a service: listeners, the pid
// file, the user the workers run as.
func serveDeployFlags() []cli.Flag {
	return []cli.Flag{
		&cli.GenericFlag{Name: "addr", Value: &addrList{}, DefaultText: defaultAddr,
			Usage: "address to listen on: TCP host:port (port 0 picks one) or unix:/path.sock; repeat it for several, every worker serves them all (a comma also separates addresses, except inside a unix: path where what follows is no address); ignored when systemd passes sockets (LISTEN_FDS)"},
		&cli.StringFlag{Name: "socket-mode", Usage: "octal mode of the unix: socket files", DefaultText: "0660"},
		&cli.StringFlag{Name: "socket-owner", Usage: "user:group (or user, or :group) of the unix: socket files", DefaultText: "the supervisor's"},
		&cli.StringFlag{Name: "pid-file", Usage: "write the supervisor's pid here; refuse to start while a live server holds it"},
		&cli.StringFlag{Name: "user", Usage: "run the workers as this user (the supervisor must start as root, and keeps it)"},
		&cli.StringFlag{Name: "group", Usage: "with --user: the workers' group", DefaultText: "the user's primary group"},
	}
}

// serveAddrs is every address --addr gave, or the default.
func serveAddrs(c *cli.Context) []string {
	if l, ok := c.Generic("addr").(*addrList); ok && len(*l) > 0 {
		return *l
	}
	return []string{defaultAddr}
}

// applyServeDeploy sets srv's deployment fields from the flags.
func applyServeDeploy(c *cli.Context, srv *prefork.Server) error {
	addrs := serveAddrs(c)
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

const defaultAddr = "127.0.0.1:8989"

// addrList is --addr: each use adds its addresses. Not a StringSliceFlag,
// which splits every value at its commas, so that a Unix socket's path
// could not hold one.
type addrList []string

func (l *addrList) Set(v string) error {
	*l = append(*l, splitAddrs(v)...)
	return nil
}

func (l *addrList) String() string { return strings.Join(*l, ",") }

// splitAddrs splits a value of --addr at its commas, as the flag always
// did, except where a comma inside a unix: address is followed by what is
// no address (neither unix: nor host:port): that comma is part of the path.
func splitAddrs(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if n := len(out); n > 0 && strings.HasPrefix(out[n-1], "unix:") && !looksLikeAddr(p) {
			out[n-1] += "," + p
			continue
		}
		out = append(out, p)
	}
	return out
}

func looksLikeAddr(p string) bool {
	if strings.HasPrefix(p, "unix:") {
		return true
	}
	_, port, err := net.SplitHostPort(p)
	if err != nil {
		return false
	}
	_, err = strconv.ParseUint(port, 10, 16)
	return err == nil
}
