package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ipctoolkit/ipc/ipc/prefork"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

func init() {
	register(&cli.Command{
		Name:  "status",
		Usage: "show the scoreboard of a running 'ipc serve': one row per worker",
		Description: `Reads the state file of the server running from --state-dir, attaches its
scoreboard read-only (the segment was removed at start, so it cannot leak;
Linux lets it be attached by id until the server's last process is gone),
copies it and detaches. The supervisor pid, then per worker: slot, pid,
generation, state (starting, idle: waiting for the accept lock, accepting:
holding it, busy: serving, stopping), connections, open connections, requests,
bytes in and out, age and idle time.

With --json: {"pid": <supervisor>, "workers": [{"slot", "pid", "generation",
"state", "connections", "bytes_in", "bytes_out", "started", "last_active",
...}], "lock_holder", "pool": {"mode", "idle", "busy", "max_workers",
"min_spare", "max_spare", "max_workers_reached", "crashes", "crash_trips",
"spawns_load", ...}, ...} with RFC 3339 times. --watch redraws every
--interval until interrupted. The text view ends with a line per worker
running a request: how long its oldest has run and what it is.

With --prometheus: the same in the Prometheus text format (ipc_prefork_*:
workers by state, connections, requests, bytes, worker starts and exits by
why, slow and timed-out requests, the accept lock's acquisitions, wait and
hold seconds, the control queue's depth), as the http handler's GET
/metrics serves it.

A server started with --private-ipc runs in another IPC namespace: status
enters it (setns on /proc/PID/ns/ipc, which needs CAP_SYS_ADMIN) to read the
scoreboard, or says so.

--clean removes what dead servers left in --state-dir (after a kill -9 of
every process of a server at once): the semaphore set and queue each state
file names, only if they still carry the signature the server wrote into
them, and the file; it prints one line per dead server.

EXAMPLES:
   ipc status
   ipc status --json | jq '.workers[] | {slot, connections}'
   ipc status --watch --interval 500ms
   ipc status --prometheus > /var/lib/node_exporter/ipc.prom`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "state-dir", Usage: "where the server's state file is", DefaultText: "/run/ipc for root, else $XDG_RUNTIME_DIR/ipc or /tmp/ipc-$UID, or /run/ipc if a server runs from there and not from that"},
			&cli.IntFlag{Name: "pid", Usage: "the supervisor to show, when several run from one state dir"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON document"},
			&cli.BoolFlag{Name: "prometheus", Usage: "print the scoreboard and the supervisor's counters in the Prometheus text format (what the http handler's /metrics serves)"},
			&cli.BoolFlag{Name: "watch", Usage: "redraw until interrupted"},
			&cli.DurationFlag{Name: "interval", Value: time.Second, Usage: "how often --watch redraws"},
			&cli.BoolFlag{Name: "clean", Usage: "remove the IPC objects and state files dead servers left, and say what"},
		},
		Action: runStatus,
	})
}

func runStatus(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("status: unexpected argument %q", c.Args().First())
	}
	if c.Duration("interval") <= 0 {
		return usagef("status: --interval must be positive")
	}
	dir := c.String("state-dir")
	switch {
	case dir != "":
	case c.Bool("clean"):
		dir = prefork.DefaultStateDir()
	default:
		// Also a system service's, for the user its workers run as.
		dir = prefork.StatusDir()
	}
	out := c.App.Writer
	format := "text"
	switch {
	case c.Bool("json") && c.Bool("prometheus"):
		return usagef("status: --json and --prometheus go alone")
	case c.Bool("json"):
		format = "json"
	case c.Bool("prometheus"):
		format = "prometheus"
	}
	if c.Bool("clean") {
		if c.Bool("watch") || format != "text" || c.IsSet("pid") {
			return usagef("status: --clean goes alone")
		}
		return cleanStatus(out, dir)
	}
	if !c.Bool("watch") {
		return showStatus(out, dir, c.Int("pid"), format)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	tty := false
	if f, ok := out.(*os.File); ok {
		_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		tty = err == nil
	}
	t := time.NewTicker(c.Duration("interval"))
	defer t.Stop()
	for {
		if tty {
			fmt.Fprint(out, "\x1b[H\x1b[2J")
		}
		if err := showStatus(out, dir, c.Int("pid"), format); err != nil {
			return err
		}
		if !tty && format == "text" {
			fmt.Fprintln(out)
		}
		select {
		case <-sigs:
			return nil
		case <-t.C:
		}
	}
}

// showStatus prints the status of the server(s) running from dir, in
// format text, json or prometheus.
func showStatus(out io.Writer, dir string, pid int, format string) error {
	states, err := prefork.States(dir)
	if err != nil {
		return err
	}
	var live []prefork.State
	var dead []string
	for _, st := range states {
		switch {
		case pid != 0 && st.PID != pid:
		case st.Alive():
			live = append(live, st)
		default:
			dead = append(dead, strconv.Itoa(st.PID))
		}
	}
	if len(live) == 0 {
		msg := "status: no server is running from " + dir
		if pid != 0 {
			msg = fmt.Sprintf("status: no server with pid %d is running from %s", pid, dir)
		}
		if len(dead) > 0 {
			msg += " (state files of dead servers " + strings.Join(dead, ", ") + " remain: 'ipc status --clean' or the next 'ipc serve' removes what they left)"
		}
		return fmt.Errorf("%s", msg)
	}
	if format != "text" && len(live) > 1 {
		pids := make([]string, len(live))
		for i, st := range live {
			pids[i] = strconv.Itoa(st.PID)
		}
		return usagef("status: several servers run from %s (pids %s): choose one with --pid", dir, strings.Join(pids, ", "))
	}
	for i, st := range live {
		s, err := st.Status()
		if err != nil {
			return err
		}
		if format == "prometheus" {
			return s.WriteMetrics(out)
		}
		if format == "json" {
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			return enc.Encode(s)
		}
		if i > 0 {
			fmt.Fprintln(out)
		}
		printStatus(out, s)
	}
	return nil
}

// cleanStatus removes what dead servers left in dir and says what.
func cleanStatus(out io.Writer, dir string) error {
	cleaned, err := prefork.CleanStale(dir)
	for _, c := range cleaned {
		line := fmt.Sprintf("dead server %d (%s): ", c.State.PID, c.Why)
		var parts []string
		if len(c.Removed) > 0 {
			parts = append(parts, "removed "+strings.Join(c.Removed, ", "))
		}
		if len(c.Gone) > 0 {
			parts = append(parts, "already gone "+strings.Join(c.Gone, ", "))
		}
		if len(c.Refused) > 0 {
			parts = append(parts, "left alone "+strings.Join(c.Refused, "; "))
		}
		if len(parts) == 0 {
			parts = append(parts, "nothing to remove")
		}
		fmt.Fprintln(out, line+strings.Join(parts, "; ")+"; removed "+c.State.Path)
	}
	if err != nil {
		return err
	}
	if len(cleaned) == 0 {
		fmt.Fprintln(out, "no dead server's state in "+dir)
	}
	return nil
}

func printStatus(out io.Writer, s prefork.Status) {
	now := time.Now()
	// In fork mode the processes are children, one per connection, and
	// Want is their bound.
	unit := "workers"
	if s.Mode == "fork" {
		unit = "children"
	}
	fmt.Fprintf(out, "server pid %d on %s, generation %d, %d of %d %s, up %s, %s\n",
		s.PID, s.Addr, s.Generation, len(s.Workers), s.Want, unit, age(now, s.Started), poolLine(s))
	fmt.Fprintf(out, "connections %d (%d by exited %s), requests %d, bytes in %d, out %d",
		s.Total.Connections, s.Exited.Connections, unit, s.Total.Requests, s.Total.BytesIn, s.Total.BytesOut)
	fmt.Fprint(out, statusOps(s))
	if s.LockHolder != 0 {
		fmt.Fprintf(out, ", accept lock held by %d for %s", s.LockHolder, age(now, s.LockHeldSince))
	}
	fmt.Fprintln(out, poolCounters(s))
	fmt.Fprint(out, modeSummary(s))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SLOT\tPID\tGEN\tSTATE\tCONNS\tACTIVE\tREQUESTS\tBYTES-IN\tBYTES-OUT\tAGE\tIDLE\t"+modeHeader(s))
	for _, w := range s.Workers {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n",
			w.Slot, w.PID, w.Generation, w.State, w.Connections, w.Active, w.Requests,
			w.BytesIn, w.BytesOut, age(now, w.Started), age(now, w.LastActive), modeColumn(s, w))
	}
	tw.Flush()
	printOps(out, s)
}

// age is how long ago t was, rounded as a person reads it.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}

// poolLine says the pool's mode, its idle and busy workers and its limits;
// poolCounters, the pool's and the crash breaker's counters. In fork mode
// there is no pool to size (--pool is refused): the processes are
// children, one per connection, bounded by Want (MaxChildren, which
// SIGTTIN and SIGTTOU move), and of the pool's counters only the crash
// breaker's are shown, as children's: a child is started for a
// connection, never for the load, a replacement or a reload, but its
// crashes count toward the breaker.
func poolLine(s prefork.Status) string {
	p := s.Pool
	if s.Mode == "fork" {
		return fmt.Sprintf("children: %d idle, %d busy, at most %d alive at once", p.Idle, p.Busy, s.MaxChildren)
	}
	line := fmt.Sprintf("pool %s: %d idle, %d busy, at most %d workers", p.Mode, p.Idle, p.Busy, p.MaxWorkers)
	switch p.Mode {
	case "dynamic":
		line += fmt.Sprintf(", %d to %d spare", p.MinSpare, p.MaxSpare)
	case "ondemand":
		line += fmt.Sprintf(", idle timeout %s", p.IdleTimeout)
	}
	return line
}

func poolCounters(s prefork.Status) string {
	p := s.Pool
	if s.Mode == "fork" {
		return fmt.Sprintf("; children crashed %d, crash breaker trips %d", p.Crashes, p.CrashTrips)
	}
	return fmt.Sprintf("; max workers reached %d, crashes %d, crash breaker trips %d; workers started for load %d, to replace %d, for reloads %d; idle retired %d",
		p.MaxWorkersReached, p.Crashes, p.CrashTrips, p.SpawnsLoad, p.SpawnsReplace, p.SpawnsReload, p.RetiresIdle)
}
