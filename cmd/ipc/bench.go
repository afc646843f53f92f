package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"text/tabwriter"

	"github.com/ipctoolkit/ipc/internal/bench"
	"github.com/urfave/cli/v2"
)

func init() {
	register(&cli.Command{
		Name:      "bench",
		Usage:     "measure each mechanism between two real processes: round trips, streams, shm bandwidth",
		UsageText: "ipc bench [sem|msgq|pipe|socketpair|shm|all|serve] [--rounds N] [--size BYTES] [--cpu same|cross|any] [--json] [--ref [--repeat N]]",
		Description: `Ping-pong round trips (sem split and combined, msgq, pipe, socketpair, shm
with a semaphore handshake) and one-way streams (msgq at 64, 1024 and 8000
bytes; pipe and socketpair in 64 KiB chunks), plus the bandwidth of copying
into a 64 MiB segment. The partner is this binary re-executed. sem-bare-raw
and sem-bare-plain are the split round trip as two bare Go loops of
unix.RawSyscall or unix.Syscall: the floor the package is measured against.

--cpu decides where the two processes run, which matters more than anything
else: "same" puts both on CPU 0, "cross" the parent on 0 and the child on 1,
"any" leaves it to the scheduler (the widest spread). --ref builds the C
reference program carried in this binary with the system's C compiler ($CC,
or cc; once, into the user's cache directory), runs it for the same cases,
placement and rounds, each right after its Go run, and adds its times and
the Go/C ratio. On a shared machine whose speed drifts, --repeat 5 gives
medians (of the times, and of the per-run ratios) that hold still.

EXAMPLES:
   ipc bench
   ipc bench sem --cpu cross --rounds 50000
   ipc bench all --ref --repeat 5 --json`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "rounds", Aliases: []string{"n"}, Value: 20000, Usage: "round trips per case (streams send 10 times as many messages or chunks; shm copy makes at most 20 copies)"},
			&cli.StringFlag{Name: "size", Usage: "bytes per message for every case (default: each case's own)"},
			&cli.StringFlag{Name: "cpu", Value: "same", Usage: "same, cross or any"},
			&cli.BoolFlag{Name: "json", Usage: "one JSON document"},
			&cli.BoolFlag{Name: "ref", Usage: "build the C reference program with cc and compare with it"},
			&cli.IntFlag{Name: "repeat", Value: 1, Usage: "run each case this many times (Go and C taking turns) and report medians"},
		},
		Action:      runBench,
		Subcommands: []*cli.Command{benchServeCommand()}, // benchserve.go
	})
}

func runBench(c *cli.Context) error {
	mech := "all"
	if c.NArg() > 1 {
		return usagef("bench: want at most one mechanism")
	}
	if c.NArg() == 1 {
		mech = c.Args().First()
	}
	cfg := bench.Config{Rounds: c.Int("rounds"), CPU: bench.Placement(c.String("cpu")), Repeat: c.Int("repeat")}
	if c.IsSet("size") {
		size, err := parseSize(c.String("size"))
		if err != nil || size == 0 || size > 1<<31 {
			return usagef("bench: invalid --size %q", c.String("size"))
		}
		cfg.Size = int(size)
	}
	switch {
	case mech != "all" && !slices.Contains(bench.Mechanisms, mech):
		return usagef("bench: unknown mechanism %q: want sem, msgq, pipe, socketpair, shm or all", mech)
	case cfg.CPU != bench.SameCPU && cfg.CPU != bench.CrossCPU && cfg.CPU != bench.AnyCPU:
		return usagef("bench: --cpu must be same, cross or any, not %q", cfg.CPU)
	case cfg.Rounds < 1:
		return usagef("bench: --rounds must be at least 1")
	case cfg.Repeat < 1:
		return usagef("bench: --repeat must be at least 1")
	}
	if c.Bool("ref") {
		// Before any case runs: a missing compiler is one line, at once.
		prog, err := bench.BuildRef("")
		if err != nil {
			return fmt.Errorf("bench: --ref: %w", err)
		}
		cfg.Ref = prog
	}
	if isTerminal(os.Stderr) {
		cfg.Progress = func(name string, i, n int) {
			fmt.Fprintf(c.App.ErrWriter, "\r\033[Kbench: %d/%d %s", i, n, name)
		}
		defer fmt.Fprint(c.App.ErrWriter, "\r\033[K")
	}
	// A signal removes what the run has made before the process ends.
	caught, done := onStopSignal(bench.Abort) // benchserve.go
	defer done()
	results, err := bench.Run(mech, cfg)
	if s := caught(); s != 0 {
		return statusError(128 + int(s))
	}
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			CPU     bench.Placement `json:"cpu"`
			Results []bench.Result  `json:"results"`
		}{cfg.CPU, results})
	}
	fmt.Fprintf(c.App.Writer, "cpu placement: %s (%s)\n", cfg.CPU, placementText[cfg.CPU])
	w := tabwriter.NewWriter(c.App.Writer, 0, 8, 2, ' ', tabwriter.AlignRight)
	ref := cfg.Ref != ""
	head := "mechanism\tpattern\tsize\trounds\tns/op\tops/s\tMB/s\t"
	if ref {
		head += "C ns/op\tGo/C\t"
	}
	fmt.Fprintln(w, head)
	for _, r := range results {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%.0f\t%.0f\t%.1f\t", r.Mechanism, r.Pattern, r.Size, r.Rounds, r.NsPerOp, r.OpsPerSec, r.MBPerSec)
		if ref {
			if r.CNsPerOp != nil {
				fmt.Fprintf(w, "%.0f\t%.2f\t", *r.CNsPerOp, *r.Ratio)
			} else {
				fmt.Fprint(w, "-\t-\t")
			}
		}
		fmt.Fprintln(w)
	}
	return w.Flush()
}

var placementText = map[bench.Placement]string{
	bench.SameCPU:  "both processes on CPU 0",
	bench.CrossCPU: "parent on CPU 0, child on CPU 1",
	bench.AnyCPU:   "the scheduler decides",
}
