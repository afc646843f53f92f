package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/ipc/proc"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/urfave/cli/v2"
)

const semDemoChild = "sem-demo-child"

func init() {
	register(&cli.Command{
		Name:  "sem-demo",
		Usage: "watch a parent and its child (a re-executed ipc) take turns on a semaphore set",
		Description: `The parent creates a private semaphore set (mode 0600), starts a child and
passes it the set's id. In "turns" mode (the default) the set has two
semaphores, one per process: each waits for its own to be 1, takes it, prints
a line and hands the turn to the other, so the lines strictly alternate. In
"mutex" mode the set has one binary semaphore taken with SEM_UNDO: both
processes try to enter a critical section and one waits while the other holds
it. At the end the parent reaps the child, says how it ended and removes the
set; SIGINT or SIGTERM stops the child and removes the set too.

EXAMPLES:
   ipc sem-demo
   ipc sem-demo --rounds 3 --delay 100ms
   ipc sem-demo --mode mutex --delay 1s`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "rounds", Value: 5, Usage: "turns each process takes"},
			&cli.DurationFlag{Name: "delay", Value: 500 * time.Millisecond, Usage: "how long each turn holds the semaphore"},
			&cli.StringFlag{Name: "mode", Value: "turns", Usage: "turns (strict alternation) or mutex (binary semaphore with SEM_UNDO)"},
		},
		Action: func(c *cli.Context) error {
			d := semDemo{
				speaker: speaker{who: "parent", out: c.App.Writer},
				rounds:  c.Int("rounds"),
				delay:   c.Duration("delay"),
				mutex:   c.String("mode") == "mutex",
			}
			switch {
			case c.NArg() > 0:
				return usagef("sem-demo: unexpected argument %q", c.Args().First())
			case c.String("mode") != "turns" && c.String("mode") != "mutex":
				return usagef("sem-demo: --mode must be turns or mutex, not %q", c.String("mode"))
			case d.rounds < 1:
				return usagef("sem-demo: --rounds must be at least 1")
			case d.delay < 0:
				return usagef("sem-demo: --delay must not be negative")
			}
			return d.runParent()
		},
	})
	proc.Register(semDemoChild, runSemDemoChild)
}

type semDemo struct {
	speaker
	rounds int
	delay  time.Duration
	mutex  bool
	set    *sem.Set
}

// values formats the set's current values for the lines.
func (d *semDemo) values() string {
	vals, err := d.set.Values()
	if err != nil {
		return "values unavailable: " + err.Error()
	}
	if d.mutex {
		w, _ := d.set.WaitingForIncrease(0)
		return fmt.Sprintf("value %d, %d blocked waiting", vals[0], w)
	}
	// GETNCNT shows the other process blocked in semop, waiting for its turn.
	pw, _ := d.set.WaitingForIncrease(parentTurn)
	cw, _ := d.set.WaitingForIncrease(childTurn)
	return fmt.Sprintf("values parent=%d child=%d, blocked waiting: parent=%d child=%d", vals[0], vals[1], pw, cw)
}

// Semaphore numbers in turns mode: each process waits on its own.
const (
	parentTurn = 0
	childTurn  = 1
)

func (d *semDemo) runParent() error {
	nsems := 2
	if d.mutex {
		nsems = 1
	}
	set, err := sem.Create(ipc.Private, nsems, ipc.DefaultMode)
	if err != nil {
		return err
	}
	d.set = set
	defer func() {
		if err := set.Remove(); err != nil {
			printErr(os.Stderr, err)
			return
		}
		d.say("removed semaphore set %d", set.ID())
	}()
	// The parent's semaphore starts at 1 (it goes first); in mutex mode the
	// one semaphore starts unlocked.
	if err := set.SetValue(0, 1); err != nil {
		return err
	}
	mode := "turns"
	if d.mutex {
		mode = "mutex"
	}
	d.say("created semaphore set %d (%d semaphore(s), mode %s)", set.ID(), nsems, ipc.DefaultMode)
	child := proc.Command(semDemoChild, strconv.Itoa(set.ID()), strconv.Itoa(d.rounds), d.delay.String(), mode)
	return superviseDemo(d.speaker, child, d.loop)
}

func runSemDemoChild(args []string) int {
	nums, delay, rest, err := demoChildArgs(args, 2, true)
	if err == nil && len(rest) != 1 {
		err = fmt.Errorf("want a mode after the delay, got %q", rest)
	}
	if err != nil {
		return childFailed(semDemoChild, err)
	}
	rounds, mode := nums[1], rest[0]
	set, err := sem.FromID(nums[0])
	if err != nil {
		return childFailed(semDemoChild, err)
	}
	d := semDemo{speaker: speaker{who: "child", out: os.Stdout}, rounds: rounds, delay: delay, mutex: mode == "mutex", set: set}
	if err := d.loop(context.Background()); err != nil {
		return childFailed(semDemoChild, err)
	}
	return 0
}

// loop takes this process's turns.
func (d *semDemo) loop(ctx context.Context) error {
	if d.mutex {
		return d.mutexLoop(ctx)
	}
	own, other := parentTurn, childTurn
	if d.who == "child" {
		own, other = childTurn, parentTurn
	}
	for i := 1; i <= d.rounds; i++ {
		if err := d.set.DoContext(ctx, sem.Dec(own, 1, 0)); err != nil {
			return err
		}
		if err := sleepContext(ctx, d.delay); err != nil {
			return err
		}
		// Printed at the end of the turn, when the other process has had
		// time to block waiting for it.
		d.say("round %d/%d: took semaphore %d, held the turn %v; %s; passing the turn", i, d.rounds, own, d.delay, d.values())
		if err := d.set.Do(sem.Inc(other, 1, 0)); err != nil {
			return err
		}
	}
	return nil
}

func (d *semDemo) mutexLoop(ctx context.Context) error {
	m := sem.NewMutex(d.set, 0)
	for i := 1; i <= d.rounds; i++ {
		d.say("round %d/%d: trying to get the binary semaphore (%s)", i, d.rounds, d.values())
		if err := m.LockContext(ctx); err != nil {
			return err
		}
		d.say("round %d/%d: got it, holding it for %v (%s)", i, d.rounds, d.delay, d.values())
		if err := sleepContext(ctx, d.delay); err != nil {
			_ = m.Unlock()
			return err
		}
		d.say("round %d/%d: releasing it (%s)", i, d.rounds, d.values())
		if err := m.Unlock(); err != nil {
			return err
		}
		// Give the other process the chance to take it before trying again,
		// so the demo shows both of them winning.
		if err := sleepContext(ctx, d.delay/2); err != nil {
			return err
		}
	}
	return nil
}

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
