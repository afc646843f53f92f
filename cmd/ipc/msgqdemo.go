package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/ipc/proc"
	"github.com/ipctoolkit/ipc/msgq"
	"github.com/urfave/cli/v2"
)

const msgqDemoChild = "msgq-demo-child"

// The batch the parent sends each round, and the mailbox types that keep
// the two processes in step on the same queue.
var msgqDemoBatch = []struct {
	typ  int64
	text string
}{{3, "c1"}, {1, "a1"}, {2, "b1"}, {1, "a2"}, {5, "e1"}, {3, "c2"}}

const (
	batchSent = 100 // parent -> child: the batch is complete
	batchRead = 101 // child -> parent: the batch is drained
)

// msgqDemoReads is the order in which the child takes the batch: each
// selector shows one of msgrcv's rules.
var msgqDemoReads = []struct {
	sel  msgq.Selector
	rule string
}{
	{msgq.Type(1), "type 1: the first message of type 1"},
	{msgq.Type(1), "type 1 again: the next of type 1, in the order sent"},
	{msgq.UpTo(3), "type -3: the lowest type <= 3, whatever was sent first"},
	{msgq.UpTo(3), "type -3 again: 2 is gone, so the first of type 3"},
	{msgq.Except(3), "type 3 with MSG_EXCEPT: the first message of any other type"},
	{msgq.Any(), "type 0: simply the first message left"},
}

func init() {
	register(&cli.Command{
		Name:  "msgq-demo",
		Usage: "watch a child receive a parent's messages by type: exact, lowest first, except",
		Description: `The parent creates a private queue (mode 0600), starts a child (a
re-executed ipc) and, each round, sends six messages of types 3 1 2 1 5 3
and then a type-100 "batch sent" message. The child waits for that one by
its type, then takes the batch in the order msgrcv's type rules give: type 1
exactly, the lowest type not above 3, any type except 3, and the first left.
It answers with a type-101 message, which is all the parent waits for: one
queue serves as two typed mailboxes. The queue is removed at the end, also
on SIGINT or SIGTERM.

EXAMPLES:
   ipc msgq-demo
   ipc msgq-demo --rounds 1 --delay 0`,
		Flags: demoFlags(2, 300*time.Millisecond),
		Action: func(c *cli.Context) error {
			rounds, delay, err := demoArgs(c)
			if err != nil {
				return err
			}
			sp := speaker{who: "parent", out: c.App.Writer}
			q, err := msgq.Create(ipc.Private, ipc.DefaultMode)
			if err != nil {
				return err
			}
			defer func() {
				if err := q.Remove(); err != nil {
					printErr(c.App.ErrWriter, err)
					return
				}
				sp.say("removed queue %d", q.ID())
			}()
			sp.say("created queue %d (mode %s)", q.ID(), ipc.DefaultMode)
			child := proc.Command(msgqDemoChild, strconv.Itoa(q.ID()), strconv.Itoa(rounds), delay.String())
			return superviseDemo(sp, child, func(ctx context.Context) error {
				buf := make([]byte, 64)
				for r := 1; r <= rounds; r++ {
					for _, m := range msgqDemoBatch {
						if err := q.SendContext(ctx, m.typ, []byte(m.text), 0); err != nil {
							return err
						}
						sp.say("round %d/%d: sent type %d %q (%s)", r, rounds, m.typ, m.text, queueState(q))
						if err := sleepContext(ctx, delay/4); err != nil {
							return err
						}
					}
					if err := q.SendContext(ctx, batchSent, []byte("sent"), 0); err != nil {
						return err
					}
					sp.say("round %d/%d: sent type %d: batch complete; waiting for type %d", r, rounds, batchSent, batchRead)
					if _, _, err := q.ReceiveContext(ctx, buf, msgq.Type(batchRead), 0); err != nil {
						return err
					}
					sp.say("round %d/%d: got type %d: the child drained the batch (%s)", r, rounds, batchRead, queueState(q))
				}
				return nil
			})
		},
	})
	proc.Register(msgqDemoChild, runMsgqDemoChild)
}

func runMsgqDemoChild(args []string) int {
	nums, delay, _, err := demoChildArgs(args, 2, true)
	if err != nil {
		return childFailed(msgqDemoChild, err)
	}
	rounds := nums[1]
	q, err := msgq.FromID(nums[0])
	if err != nil {
		return childFailed(msgqDemoChild, err)
	}
	sp := speaker{who: "child", out: os.Stdout}
	buf := make([]byte, 64)
	for r := 1; r <= rounds; r++ {
		if _, _, err := q.Receive(buf, msgq.Type(batchSent), 0); err != nil {
			return childFailed(msgqDemoChild, err)
		}
		sp.say("round %d/%d: got type %d, the batch is in (%s)", r, rounds, batchSent, queueState(q))
		for _, rd := range msgqDemoReads {
			typ, n, err := q.Receive(buf, rd.sel, msgq.NoWait)
			if err != nil {
				return childFailed(msgqDemoChild, err)
			}
			sp.say("round %d/%d: asked for %s -> type %d %q", r, rounds, rd.rule, typ, buf[:n])
			time.Sleep(delay / 4)
		}
		if err := q.Send(batchRead, []byte("drained"), 0); err != nil {
			return childFailed(msgqDemoChild, err)
		}
	}
	return 0
}

// queueState says how many messages and bytes wait in q.
func queueState(q *msgq.Queue) string {
	info, err := q.Stat()
	if err != nil {
		return "state unknown: " + err.Error()
	}
	return fmt.Sprintf("%d queued, %d bytes", info.QNum, info.CBytes)
}
