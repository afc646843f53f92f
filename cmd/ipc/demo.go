package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/ipctoolkit/ipc/ipc/proc"
	"github.com/urfave/cli/v2"
)

// speaker prints the demos' lines: "[<pid>] parent ..." or "[<pid>] child
// ...", each in one write so that the two processes' lines never mix.
type speaker struct {
	who string
	out io.Writer
}

func (s speaker) say(format string, a ...any) {
	fmt.Fprintf(s.out, "[%d] %-6s %s\n", os.Getpid(), s.who, fmt.Sprintf(format, a...))
}

// demoFlags are --rounds and --delay, which every demo takes.
func demoFlags(rounds int, delay time.Duration) []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "rounds", Value: rounds, Usage: "how many rounds to run"},
		&cli.DurationFlag{Name: "delay", Value: delay, Usage: "pause between steps, so a person can follow"},
	}
}

// demoArgs checks the demo flags.
func demoArgs(c *cli.Context) (int, time.Duration, error) {
	rounds, delay := c.Int("rounds"), c.Duration("delay")
	switch {
	case c.NArg() > 0:
		return 0, 0, usagef("%s: unexpected argument %q", c.Command.Name, c.Args().First())
	case rounds < 1:
		return 0, 0, usagef("%s: --rounds must be at least 1", c.Command.Name)
	case delay < 0:
		return 0, 0, usagef("%s: --delay must not be negative", c.Command.Name)
	}
	return rounds, delay, nil
}

// superviseDemo starts child, runs the parent's part, and ends the demo the
// same way for every demo: it reaps the child and says how it ended. On
// SIGINT or SIGTERM it stops the child first, so that no child line follows
// the parent's last, and returns the status 128+signal; the caller's
// deferred cleanup then removes the objects.
func superviseDemo(sp speaker, child *proc.Cmd, parent func(ctx context.Context) error) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var caught os.Signal
	go func() {
		select {
		case caught = <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()

	if err := child.Start(); err != nil {
		return fmt.Errorf("start child: %w", err)
	}
	sp.say("started child %d", child.Pid())
	perr := parent(ctx)
	if ctx.Err() != nil && caught != nil {
		sig := caught.(syscall.Signal)
		sp.say("caught %v: stopping child %d", sig, child.Pid())
		_ = child.Signal(syscall.SIGTERM)
		if st, err := child.Wait(); err == nil {
			sp.say("child %d %s", child.Pid(), st)
		}
		return statusError(128 + int(sig))
	}
	if perr != nil {
		_ = child.Signal(syscall.SIGTERM)
	}
	st, err := child.Wait()
	if err != nil {
		return fmt.Errorf("wait for child %d: %w", child.Pid(), err)
	}
	sp.say("child %d %s", child.Pid(), st)
	if perr != nil {
		return perr
	}
	if !st.Success() {
		return fmt.Errorf("child %d %s", child.Pid(), st)
	}
	return nil
}

// childFailed reports a child role's error on stderr and gives its status.
func childFailed(role string, err error) int {
	printErr(os.Stderr, fmt.Errorf("%s: %w", role, err))
	return 1
}

// demoChildArgs reads the arguments a demo's parent gives its child: n
// decimal numbers (ids, rounds), then a duration if withDelay, then the
// rest as they are.
func demoChildArgs(args []string, n int, withDelay bool) (nums []int, delay time.Duration, rest []string, err error) {
	want := n
	if withDelay {
		want++
	}
	if len(args) < want {
		return nil, 0, nil, fmt.Errorf("want at least %d arguments, got %d", want, len(args))
	}
	for _, a := range args[:n] {
		v, err := strconv.Atoi(a)
		if err != nil {
			return nil, 0, nil, err
		}
		nums = append(nums, v)
	}
	if withDelay {
		if delay, err = time.ParseDuration(args[n]); err != nil {
			return nil, 0, nil, err
		}
	}
	return nums, delay, args[want:], nil
}
