package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"

	"github.com/ipctoolkit/ipc/internal/benchserve"
	"github.com/urfave/cli/v2"
)

// benchServeCommand is `ipc bench serve`: the server designs measured as
// UNIX Network Programming ch.30 measures them (internal/benchserve).
func benchServeCommand() *cli.Command {
	return &cli.Command{
		Name:      "serve",
		Usage:     "measure the server designs as UNP ch.30 does: server CPU per connection, rate, each worker's share",
		UsageText: "ipc bench serve [--modes M,M,...] [--clients C] [--connections N] [--bytes B] [--workers W] [--json]",
		Description: `For each design (--modes, in order) a server starts as a process of its
own: prefork (workers take turns accepting under the accept lock),
prefork-hold (the worker that accepted keeps the lock while it keeps up),
prefork-shared (every idle worker polls the listener: the herd), fork (the
supervisor accepts and starts a child per connection), pass (the supervisor
accepts and passes each connection to an idle worker over a socketpair),
reuseport (each worker its own SO_REUSEPORT socket), and single (one Go
process, a goroutine per connection: what a Go program does without this
library, the baseline). These are 'ipc serve --mode' designs, run by the
same supervisor. Client processes (this binary again) then open
--clients concurrent streams of --connections connections each on loopback;
on each connection the client writes a byte count and reads that many bytes
(UNP's protocol: the server's handler answers the count it reads).

Reported per design: wall time from the clients' start to the last one's
end, connections per second, the server's CPU time during the load (user and
system, the supervisor's and every child's, running or reaped, from
/proc/PID/stat), CPU per connection, failed connections, and each worker's
share of the connections (min, max and standard deviation), from the
scoreboard; in fork mode the workers column is the children started, each
serving one connection. life-cpu is the server's whole life (start and stop included,
from getrusage of the reaped server). The machine's load average at each
design's start is printed with it: on a shared machine compare designs of
one run, never figures of two.

EXAMPLES:
   ipc bench serve
   ipc bench serve --modes prefork,single --clients 8 --connections 2000 --bytes 100
   ipc bench serve --json | jq '.results[] | {mode, cpu_us_per_connection}'`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "modes", Usage: "designs to measure, in order: " + strings.Join(benchserve.Modes, ", "), DefaultText: strings.Join(benchserve.Modes, ",")},
			&cli.IntFlag{Name: "clients", Value: benchserve.DefaultClients, Usage: "concurrent streams of connections"},
			&cli.IntFlag{Name: "connections", Value: benchserve.DefaultConnections, Usage: "connections each stream opens, one after the other"},
			&cli.StringFlag{Name: "bytes", Value: fmt.Sprint(benchserve.DefaultBytes), Usage: "bytes each connection asks for (k, M suffixes)"},
			&cli.IntFlag{Name: "workers", Value: benchserve.DefaultWorkers, Usage: "worker processes of the prefork designs"},
			&cli.BoolFlag{Name: "json", Usage: "one JSON document"},
		},
		Action: runBenchServe,
	}
}

func runBenchServe(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("bench serve: unexpected argument %q", c.Args().First())
	}
	cfg := benchserve.Config{Clients: c.Int("clients"), Connections: c.Int("connections"), Workers: c.Int("workers")}
	if c.IsSet("modes") {
		cfg.Modes = strings.Split(c.String("modes"), ",")
	}
	size, err := parseSize(c.String("bytes"))
	if err != nil || size > benchserve.MaxBytes {
		return usagef("bench serve: invalid --bytes %q", c.String("bytes"))
	}
	cfg.Bytes = int(size)
	if cfg.Bytes == 0 {
		return usagef("bench serve: --bytes must be at least 1")
	}
	if err := cfg.Check(); err != nil {
		return usagef("bench serve: %v", err)
	}
	if isTerminal(c.App.ErrWriter) {
		cfg.Progress = func(mode string, i, n, served, total int) {
			if served >= 0 {
				fmt.Fprintf(c.App.ErrWriter, "\r\033[Kbench serve: %d/%d %s: %d of %d connections", i, n, mode, served, total)
			} else {
				fmt.Fprintf(c.App.ErrWriter, "\r\033[Kbench serve: %d/%d %s", i, n, mode)
			}
		}
		defer fmt.Fprint(c.App.ErrWriter, "\r\033[K")
	}
	// A signal stops the design under way, whose processes are stopped and
	// reaped (the server removes its objects) before the process ends.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	caught, done := onStopSignal(cancel)
	defer done()
	rep, err := benchserve.Run(ctx, cfg)
	if s := caught(); s != 0 {
		return statusError(128 + int(s))
	}
	if err != nil {
		return fmt.Errorf("bench serve: %w", err)
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return printBenchServe(c.App.Writer, rep)
}

// onStopSignal calls stop on the first SIGINT or SIGTERM. caught says
// which came (0: none); done stops listening.
func onStopSignal(stop func()) (caught func() syscall.Signal, done func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	var got atomic.Value
	go func() {
		if s, ok := <-sigs; ok {
			got.Store(s)
			stop()
		}
	}()
	caught = func() syscall.Signal {
		s, _ := got.Load().(syscall.Signal)
		return s
	}
	return caught, func() { signal.Stop(sigs) }
}

// printBenchServe prints the report as UNP's table, a row per design.
func printBenchServe(out io.Writer, rep *benchserve.Report) error {
	fmt.Fprintf(out, "%d clients x %d connections of %d bytes (%d client processes), %d workers, %d CPUs\n",
		rep.Clients, rep.Connections, rep.Bytes, rep.ClientProcesses, rep.Workers, rep.CPUs)
	w := tabwriter.NewWriter(out, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "mode\tworkers\tconns\tfailed\twall s\tconn/s\tcpu s\tuser s\tsys s\tcpu us/conn\tlife-cpu s\tshare min\tmax\tstddev\tload\t")
	for _, r := range rep.Results {
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%.2f\t%.0f\t%.2f\t%.2f\t%.2f\t%.1f\t%.2f\t%d\t%d\t%.1f\t%.2f\t\n",
			r.Mode, r.Workers, r.Connections, r.Failed, r.WallSeconds, r.PerSecond,
			r.CPU.Total, r.CPU.User, r.CPU.Sys, r.CPUPerConnection, r.LifeCPU.Total,
			r.Shares.Min, r.Shares.Max, r.Shares.Stddev, r.LoadAverage[0])
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, r := range rep.Results {
		for e, n := range r.Errors {
			fmt.Fprintf(out, "%s: %d connections failed: %s\n", r.Mode, n, e)
		}
	}
	return nil
}
