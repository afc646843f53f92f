package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/msgq"
	"github.com/urfave/cli/v2"
)

func init() {
	register(&cli.Command{
		Name:  "msgq",
		Usage: "create, inspect, send to, receive from and remove message queues",
		Subcommands: []*cli.Command{
			{
				Name:      "create",
				Usage:     "make a queue and print its id",
				UsageText: "ipc msgq create --key K|--path P [--proj N]|--private [--mode 0600] [--exclusive]",
				Description: `Without --exclusive an existing queue of the key is opened instead.

EXAMPLES:
   q=$(ipc msgq create --private)
   ipc msgq create --key 0x1234 --mode 0660 --exclusive`,
				Flags: createFlags(),
				Action: func(c *cli.Context) error {
					k, mode, err := createTarget(c)
					if err != nil {
						return err
					}
					q, _, err := createOrOpen(c,
						func() (*msgq.Queue, error) { return msgq.Create(k, mode) },
						func() (*msgq.Queue, error) { return msgq.Get(k, ipc.Create, mode) })
					if err != nil {
						return err
					}
					fmt.Fprintln(c.App.Writer, q.ID())
					return nil
				},
			},
			getCommand("msgq", "queue", idOf(msgq.Open)),
			statCommand("msgq", "-q", exists(msgq.FromID)),
			{
				Name:      "set",
				Usage:     "set a queue's capacity, mode or owner",
				UsageText: "ipc msgq set ID [--qbytes N] [--mode M] [--uid U --gid G]",
				Description: `Raising --qbytes above kernel.msgmnb needs CAP_SYS_RESOURCE.

EXAMPLES:
   ipc msgq set 3 --qbytes 65536`,
				Flags: append(setFlags(), &cli.StringFlag{Name: "qbytes", Usage: "capacity in bytes of text (K, M suffixes)"}),
				Action: func(c *cli.Context) error {
					id, err := idArg(c, false)
					if err != nil {
						return err
					}
					change, err := permChange[*msgq.Queue](c)
					if err != nil {
						return err
					}
					var qbytes uint64
					if c.IsSet("qbytes") {
						if qbytes, err = parseSize(c.String("qbytes")); err != nil {
							return usagef("msgq set: invalid --qbytes %q", c.String("qbytes"))
						}
					} else if change == nil {
						return usagef("msgq set: nothing to set: give --qbytes, --mode or --uid/--gid")
					}
					q, err := msgq.FromID(id)
					if err != nil {
						return err
					}
					if c.IsSet("qbytes") {
						if err := q.SetMaxBytes(qbytes); err != nil {
							return err
						}
					}
					if change != nil {
						return change(q)
					}
					return nil
				},
			},
			{
				Name:      "send",
				Usage:     "send one message: the TEXT argument, --file, or standard input, byte for byte",
				UsageText: "ipc msgq send ID --type T [TEXT | --file F] [--nowait] [--timeout D]",
				Description: `EXAMPLES:
   ipc msgq send 3 --type 1 hello
   printf 'a\0b' | ipc msgq send 3 --type 2
   ipc msgq send 3 --type 5 --file report.bin --timeout 2s`,
				Flags: []cli.Flag{
					&cli.Int64Flag{Name: "type", Aliases: []string{"t"}, Usage: "message type, at least 1 (required)"},
					&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "send this file's bytes"},
					&cli.BoolFlag{Name: "nowait", Usage: "fail at once if the queue is full"},
					&cli.DurationFlag{Name: "timeout", Usage: "give up after this long if the queue stays full"},
				},
				Action: msgqSend,
			},
			{
				Name:      "recv",
				Usage:     "receive messages and write their text to standard output exactly",
				UsageText: "ipc msgq recv ID [--type T] [--except] [--truncate] [--nowait] [--timeout D] [--count N] [--json]",
				Description: `--type 0 (the default) takes the first message; T > 0 the first of type T;
T < 0 the first of the lowest type not above |T|; --except with T > 0 the
first of any other type. A message larger than msgmax cannot exist; one
larger than --max-size fails unless --truncate.

EXAMPLES:
   ipc msgq recv 3
   ipc msgq recv 3 --type -10 --count 5 --json
   ipc msgq recv 3 --type 1 --except --nowait`,
				Flags: []cli.Flag{
					&cli.Int64Flag{Name: "type", Aliases: []string{"t"}, Usage: "which message: 0 first, T first of type T, -T lowest type <= T"},
					&cli.BoolFlag{Name: "except", Usage: "the first message not of --type (MSG_EXCEPT)"},
					&cli.BoolFlag{Name: "truncate", Usage: "cut a message longer than --max-size instead of failing"},
					&cli.BoolFlag{Name: "nowait", Usage: "fail at once (exit 1) if no message is there"},
					&cli.DurationFlag{Name: "timeout", Usage: "give up after this long"},
					&cli.IntFlag{Name: "count", Aliases: []string{"n"}, Value: 1, Usage: "receive this many messages"},
					&cli.IntFlag{Name: "max-size", Usage: "largest text to accept (default: the kernel's msgmax)"},
					&cli.BoolFlag{Name: "json", Usage: `{"type":T,"size":N,"text":...}; base64 text when not UTF-8`},
				},
				Action: msgqRecv,
			},
			{
				Name:      "rm",
				Usage:     "remove queues by id",
				UsageText: "ipc msgq rm ID...",
				Action:    func(c *cli.Context) error { return removeIDs(c, ipc.Queue) },
			},
		},
	})
}

func msgqSend(c *cli.Context) error {
	id, err := idArg(c, true)
	if err != nil {
		return err
	}
	typ := c.Int64("type")
	if !c.IsSet("type") || typ <= 0 {
		return usagef("msgq send: --type must be given and at least 1")
	}
	if c.NArg() > 2 || c.NArg() == 2 && c.IsSet("file") {
		return usagef("msgq send: give the text once: as one argument, with --file, or on standard input")
	}
	if c.Bool("nowait") && c.IsSet("timeout") {
		return usagef("msgq send: --nowait and --timeout exclude each other")
	}
	q, err := msgq.FromID(id)
	if err != nil {
		return err
	}
	var text []byte
	switch {
	case c.NArg() == 2:
		text = []byte(c.Args().Get(1))
	case c.IsSet("file"):
		text, err = os.ReadFile(c.String("file"))
	default:
		text, err = io.ReadAll(c.App.Reader)
	}
	if err != nil {
		return fmt.Errorf("msgq send: read the text: %w", err)
	}
	if lim, err := ipc.ReadLimits(); err == nil && uint64(len(text)) > lim.MSGMAX {
		return usagef("msgq send: the text is %d bytes, over the limit of %d (kernel.msgmax)", len(text), lim.MSGMAX)
	}
	switch {
	case c.Bool("nowait"):
		return q.Send(typ, text, msgq.NoWait)
	case c.IsSet("timeout"):
		ctx, cancel := context.WithTimeout(context.Background(), c.Duration("timeout"))
		defer cancel()
		return q.SendContext(ctx, typ, text, 0)
	}
	return q.Send(typ, text, 0)
}

// message is one received message as --json prints it.
type message struct {
	Type     int64  `json:"type"`
	Size     int    `json:"size"`
	Text     string `json:"text"`
	Encoding string `json:"encoding,omitempty"` // "base64" when the text is not UTF-8
}

func msgqRecv(c *cli.Context) error {
	id, err := idArg(c, false)
	if err != nil {
		return err
	}
	typ, count := c.Int64("type"), c.Int("count")
	var sel msgq.Selector
	switch {
	case c.Bool("except") && typ <= 0:
		return usagef("msgq recv: --except needs a --type of at least 1")
	case c.Bool("except"):
		sel = msgq.Except(typ)
	case typ > 0:
		sel = msgq.Type(typ)
	case typ < 0:
		sel = msgq.UpTo(-typ)
	default:
		sel = msgq.Any()
	}
	if count < 1 {
		return usagef("msgq recv: --count must be at least 1")
	}
	if c.Bool("nowait") && c.IsSet("timeout") {
		return usagef("msgq recv: --nowait and --timeout exclude each other")
	}
	size := c.Int("max-size")
	if !c.IsSet("max-size") {
		lim, err := ipc.ReadLimits()
		if err != nil {
			return err
		}
		size = int(lim.MSGMAX)
	}
	if size < 0 {
		return usagef("msgq recv: --max-size must not be negative")
	}
	q, err := msgq.FromID(id)
	if err != nil {
		return err
	}
	var flags msgq.Flags
	if c.Bool("truncate") {
		flags |= msgq.Truncate
	}
	if c.Bool("nowait") {
		flags |= msgq.NoWait
	}
	buf := make([]byte, size)
	var got []message
	for range count {
		var t int64
		var n int
		if c.IsSet("timeout") {
			ctx, cancel := context.WithTimeout(context.Background(), c.Duration("timeout"))
			t, n, err = q.ReceiveContext(ctx, buf, sel, flags)
			cancel()
		} else {
			t, n, err = q.Receive(buf, sel, flags)
		}
		if err != nil {
			break
		}
		if !c.Bool("json") {
			if _, err := c.App.Writer.Write(buf[:n]); err != nil {
				return err
			}
			continue
		}
		m := message{Type: t, Size: n, Text: string(buf[:n])}
		if !utf8.Valid(buf[:n]) {
			m.Text, m.Encoding = base64.StdEncoding.EncodeToString(buf[:n]), "base64"
		}
		got = append(got, m)
	}
	if c.Bool("json") && len(got) > 0 {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetEscapeHTML(false)
		var doc any = got
		if count == 1 {
			doc = got[0]
		}
		if err := enc.Encode(doc); err != nil {
			return err
		}
	}
	return err
}
