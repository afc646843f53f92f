package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/ipc/proc"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/ipctoolkit/ipc/shm"
	"github.com/urfave/cli/v2"
)

const shmDemoChild = "shm-demo-child"

// The semaphores of the shm demo: whose turn it is to use the segment.
const (
	shmParentTurn = 0
	shmChildTurn  = 1
	shmDemoSize   = 4096
	shmShown      = 24 // bytes shown of the segment in each line
)

func init() {
	register(&cli.Command{
		Name:  "shm-demo",
		Usage: "watch a parent and its child share a memory segment, taking turns on a semaphore",
		Description: `The parent creates a private 4 KiB segment and a set of two semaphores
(both mode 0600), attaches the segment and starts a child (a re-executed
ipc), which attaches it too. They take turns: the parent writes a message at
the start of the segment and gives the child its turn; the child reads it
there, writes its answer in capitals and gives the turn back. The lines show
the bytes of the segment and its attach count (nattch) as the child comes
and goes. Both objects are removed at the end, also on SIGINT or SIGTERM.

EXAMPLES:
   ipc shm-demo
   ipc shm-demo --rounds 5 --delay 100ms`,
		Flags: demoFlags(3, 300*time.Millisecond),
		Action: func(c *cli.Context) error {
			rounds, delay, err := demoArgs(c)
			if err != nil {
				return err
			}
			sp := speaker{who: "parent", out: c.App.Writer}
			seg, err := shm.Create(ipc.Private, shmDemoSize, ipc.DefaultMode)
			if err != nil {
				return err
			}
			defer func() {
				if err := seg.Remove(); err != nil {
					printErr(c.App.ErrWriter, err)
					return
				}
				sp.say("removed segment %d", seg.ID())
			}()
			set, err := sem.Create(ipc.Private, 2, ipc.DefaultMode)
			if err != nil {
				return err
			}
			defer func() {
				if err := set.Remove(); err != nil {
					printErr(c.App.ErrWriter, err)
					return
				}
				sp.say("removed semaphore set %d", set.ID())
			}()
			m, err := seg.Attach(0)
			if err != nil {
				return err
			}
			defer m.Detach()
			sp.say("created segment %d (%d bytes) and semaphore set %d; attached it (%s)", seg.ID(), shmDemoSize, set.ID(), attachState(seg))
			child := proc.Command(shmDemoChild, strconv.Itoa(seg.ID()), strconv.Itoa(set.ID()), strconv.Itoa(rounds), delay.String())
			err = superviseDemo(sp, child, func(ctx context.Context) error {
				for r := 1; r <= rounds; r++ {
					msg := fmt.Sprintf("hello #%d from %d", r, os.Getpid())
					clear(m.Bytes()[:shmShown])
					copy(m.Bytes(), msg)
					sp.say("round %d/%d: wrote %q -> segment %s (%s)", r, rounds, msg, shown(m.Bytes()), attachState(seg))
					if err := sleepContext(ctx, delay); err != nil {
						return err
					}
					if err := set.Do(sem.Inc(shmChildTurn, 1, 0)); err != nil {
						return err
					}
					if err := set.DoContext(ctx, sem.Dec(shmParentTurn, 1, 0)); err != nil {
						return err
					}
					sp.say("round %d/%d: my turn again, the child answered: segment %s", r, rounds, shown(m.Bytes()))
				}
				return nil
			})
			if err == nil {
				sp.say("segment %d after the child exited: %s", seg.ID(), attachState(seg))
			}
			return err
		},
	})
	proc.Register(shmDemoChild, runShmDemoChild)
}

func runShmDemoChild(args []string) int {
	nums, delay, _, err := demoChildArgs(args, 3, true)
	if err != nil {
		return childFailed(shmDemoChild, err)
	}
	setID, rounds := nums[1], nums[2]
	seg, err := shm.FromID(nums[0])
	if err != nil {
		return childFailed(shmDemoChild, err)
	}
	set, err := sem.FromID(setID)
	if err != nil {
		return childFailed(shmDemoChild, err)
	}
	m, err := seg.Attach(0)
	if err != nil {
		return childFailed(shmDemoChild, err)
	}
	sp := speaker{who: "child", out: os.Stdout}
	sp.say("attached segment %d (%s)", seg.ID(), attachState(seg))
	for r := 1; r <= rounds; r++ {
		if err := set.Do(sem.Dec(shmChildTurn, 1, 0)); err != nil {
			return childFailed(shmDemoChild, err)
		}
		text := bytes.TrimRight(m.Bytes()[:shmShown], "\x00")
		sp.say("round %d/%d: my turn, read %q from the segment", r, rounds, text)
		answer := bytes.ToUpper(text)
		clear(m.Bytes()[:shmShown])
		copy(m.Bytes(), answer)
		sp.say("round %d/%d: wrote %q back -> segment %s", r, rounds, answer, shown(m.Bytes()))
		time.Sleep(delay)
		if err := set.Do(sem.Inc(shmParentTurn, 1, 0)); err != nil {
			return childFailed(shmDemoChild, err)
		}
	}
	if err := m.Detach(); err != nil {
		return childFailed(shmDemoChild, err)
	}
	sp.say("detached (%s)", attachState(seg))
	return 0
}

// shown formats the first bytes of the segment as hex and text.
func shown(b []byte) string {
	b = b[:shmShown]
	text := make([]byte, len(b))
	for i, c := range b {
		text[i] = '.'
		if c >= 0x20 && c < 0x7f {
			text[i] = c
		}
	}
	return fmt.Sprintf("[% x ...] |%s|", b[:8], text)
}

// attachState says how many processes have the segment attached.
func attachState(seg *shm.Segment) string {
	info, err := seg.Stat()
	if err != nil {
		return "nattch unknown: " + err.Error()
	}
	return fmt.Sprintf("nattch %d", info.NAttch)
}
