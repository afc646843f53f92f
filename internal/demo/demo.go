// Package demo holds ipc's demos: a parent and its child (this binary
// started again, since Go cannot fork without exec) showing the classic
// Unix patterns live, one line per step: semaphores taking turns
// (sem-demo), typed messages (msgq-demo), shared memory (shm-demo), a pipe,
// a socketpair and a passed descriptor (pipe-demo), and the process
// chapter they all start from: zombies, wait, WNOHANG, SIGCHLD, stop and
// continue (proc-demo).
//
// Every demo prints lines that start with "[<pid>] parent" or "[<pid>]
// child", reaps its child and says how it ended, and removes what it made,
// also on SIGINT or SIGTERM (status 128+signal) and when the child dies in
// the middle: the parent notices while it waits, says "child N killed by
// signal 9 (killed)", cleans up and fails.
//
// Commands gives the demos as urfave/cli commands for cmd/ipc to register.
package demo

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

// commands is filled by the init functions of the demos' files.
var commands []*cli.Command

// Commands returns the demos' commands. Their errors follow ipc's
// convention: an error with an ExitCode method chooses the status (2 for a
// usage error, 128+signal after a signal), any other is a failure (1).
func Commands() []*cli.Command { return commands }

// usage is a mistake in what the user typed: exit status 2.
type usage struct{ error }

func (usage) ExitCode() int { return 2 }

func usagef(format string, a ...any) error { return usage{fmt.Errorf(format, a...)} }

// exitStatus ends ipc with a status, the lines before it having said why.
type exitStatus int

func (exitStatus) Error() string   { return "" }
func (e exitStatus) ExitCode() int { return int(e) }

// speaker prints the demos' lines: "[<pid>] parent ..." or "[<pid>] child
// ...", each in one write so that the two processes' lines never mix.
type speaker struct {
	who string
	out io.Writer
}

func (s speaker) say(format string, a ...any) {
	fmt.Fprintf(s.out, "[%d] %-6s %s\n", os.Getpid(), s.who, fmt.Sprintf(format, a...))
}

// warn prints an error as ipc does: "ipc: <what failed>: <why>".
func warn(w io.Writer, err error) { fmt.Fprintf(w, "ipc: %v\n", err) }

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

// childGrace is how long a parent whose step failed waits for its child to
// end by itself before stopping it: a broken pipe or an end of file is
// usually the child's death, seen a moment before its wait status.
const childGrace = 250 * time.Millisecond

// caught is the cause of a demo's end by SIGINT or SIGTERM.
type caught struct{ sig syscall.Signal }

func (c caught) Error() string { return "caught " + c.sig.String() }

// childDied is the cause of a demo's end by its child's death.
type childDied struct{ st proc.Status }

func (c childDied) Error() string { return fmt.Sprintf("child %d %s", c.st.Pid(), c.st) }

// superviseDemo starts child, runs the parent's part, and ends the demo the
// same way for every demo. A goroutine reaps the child as soon as it ends:
// if it dies before the parent is done (kill -9), the parent's context is
// cancelled, so that a parent blocked on a semaphore, a queue or a socket
// wakes up at once, and the demo fails with "child N killed by signal 9
// (killed)". On SIGINT or SIGTERM it stops the child first, so that no
// child line follows the parent's last, and returns 128+signal. In every
// case the caller's deferred cleanup then removes the objects.
func superviseDemo(sp speaker, child *proc.Cmd, parent func(ctx context.Context) error) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)

	if err := child.Start(); err != nil {
		return fmt.Errorf("start child: %w", err)
	}
	pid := child.Pid()
	sp.say("started child %d: this same binary run again (%s), since Go cannot fork without exec", pid, proc.Self)
	reaped := make(chan struct{})
	go func() {
		defer close(reaped)
		if st, err := child.Wait(); err != nil {
			cancel(err)
		} else if !st.Success() {
			cancel(childDied{st})
		}
	}()
	go func() {
		select {
		case s := <-sigs:
			cancel(caught{s.(syscall.Signal)})
		case <-ctx.Done():
		}
	}()

	perr := parent(ctx)
	stopped := false
	stop := func() {
		stopped = true
		_ = child.Signal(syscall.SIGTERM)
		<-reaped
	}
	if c, ok := context.Cause(ctx).(caught); ok {
		sp.say("caught %v: stopping child %d", c.sig, pid)
		stop()
		if st, err := child.Wait(); err == nil {
			sp.say("child %d %s", pid, st)
		}
		return exitStatus(128 + int(c.sig))
	}
	if perr != nil {
		select {
		case <-reaped:
		case <-time.After(childGrace):
			stop()
		}
	} else {
		// The parent is done; the child finishes its last step. A signal
		// still stops it, as it would any time before.
		select {
		case <-reaped:
		case <-ctx.Done():
			if c, ok := context.Cause(ctx).(caught); ok {
				sp.say("caught %v: stopping child %d", c.sig, pid)
				stop()
				return exitStatus(128 + int(c.sig))
			}
			<-reaped
		}
	}
	st, err := child.Wait()
	if err != nil {
		return fmt.Errorf("wait for child %d: %w", pid, err)
	}
	sp.say("child %d %s", pid, st)
	switch {
	case !st.Success() && !stopped:
		// It died by itself: whatever the parent's step then failed with
		// is a consequence.
		return fmt.Errorf("child %d %s", pid, st)
	case perr != nil:
		return perr
	case !st.Success():
		return fmt.Errorf("child %d %s", pid, st)
	}
	return nil
}

// childFailed reports a child role's error on stderr and gives its status.
func childFailed(role string, err error) int {
	warn(os.Stderr, fmt.Errorf("%s: %w", role, err))
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

// sleepContext pauses for d, or less if ctx is done first.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
