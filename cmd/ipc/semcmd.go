package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/urfave/cli/v2"
)

func init() {
	register(&cli.Command{
		Name:  "sem",
		Usage: "create, inspect, operate on and remove semaphore sets",
		Subcommands: []*cli.Command{
			{
				Name:      "create",
				Usage:     "make a semaphore set and print its id",
				UsageText: "ipc sem create --key K|--path P [--proj N]|--private --nsems N [--value V] [--mode 0600] [--exclusive]",
				Description: `Without --exclusive an existing set of the key is opened instead (IPC_CREAT).
--value sets every semaphore of a set this command made.

EXAMPLES:
   id=$(ipc sem create --private --nsems 2 --value 1)
   ipc sem create --key 0x1234 --nsems 1 --mode 0640 --exclusive`,
				Flags: append(createFlags(),
					&cli.IntFlag{Name: "nsems", Aliases: []string{"n"}, Usage: "semaphores in the set (required)"},
					&cli.IntFlag{Name: "value", Usage: "initial value of every semaphore, 0-32767"},
				),
				Action: semCreate,
			},
			getCommand("sem", "set", idOf(sem.Open)),
			statCommand("sem", "-s", exists(sem.FromID)),
			{
				Name:      "set",
				Usage:     "set values, mode or owner of a set",
				UsageText: "ipc sem set ID (--num I --value V | --all V,V,... | --mode M | --uid U --gid G)",
				Description: `EXAMPLES:
   ipc sem set 3 --num 0 --value 1
   ipc sem set 3 --all 1,0,0
   ipc sem set 3 --mode 0660`,
				Flags: append(setFlags(),
					&cli.IntFlag{Name: "num", Usage: "semaphore number (with --value)"},
					&cli.IntFlag{Name: "value", Usage: "new value of semaphore --num, 0-32767"},
					&cli.StringFlag{Name: "all", Usage: "new values of every semaphore, comma separated"},
				),
				Action: semSet,
			},
			{
				Name:      "op",
				Usage:     "apply operations atomically (semop): NUM:+N adds, NUM:-N takes (waiting), NUM:0 waits for zero",
				UsageText: "ipc sem op ID NUM:OP... [--undo] [--nowait] [--timeout D]",
				Description: `All operations happen at once or not at all. --undo makes the kernel
reverse them when ipc exits, which it does at once: useful with --nowait to
test whether a lock is free.

EXAMPLES:
   ipc sem op 3 0:-1 1:+1      take from semaphore 0 and give to 1, atomically
   ipc sem op 3 2:0 --timeout 5s
   ipc sem op 3 0:-1 --nowait || echo busy`,
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "undo", Usage: "SEM_UNDO on every operation"},
					&cli.BoolFlag{Name: "nowait", Usage: "fail at once (exit 1) instead of waiting"},
					&cli.DurationFlag{Name: "timeout", Usage: "give up after this long (semtimedop)"},
				},
				Action: semOp,
			},
			{
				Name:      "rm",
				Usage:     "remove sets by id",
				UsageText: "ipc sem rm ID...",
				Action:    func(c *cli.Context) error { return removeIDs(c, ipc.Semaphore) },
			},
		},
	})
}

func semCreate(c *cli.Context) error {
	k, mode, err := createTarget(c)
	if err != nil {
		return err
	}
	n, v := c.Int("nsems"), c.Int("value")
	if !c.IsSet("nsems") || n <= 0 {
		return usagef("sem create: --nsems must be at least 1")
	}
	if lim, err := ipc.ReadLimits(); err == nil && n > lim.SEMMSL {
		return usagef("sem create: --nsems %d is over the limit of %d semaphores in a set (kernel.sem SEMMSL)", n, lim.SEMMSL)
	}
	if v < 0 || v > 32767 {
		return usagef("sem create: --value must be 0-32767")
	}
	s, made, err := createOrOpen(c,
		func() (*sem.Set, error) { return sem.Create(k, n, mode) },
		func() (*sem.Set, error) { return sem.Get(k, n, ipc.Create, mode) })
	if err != nil {
		return err
	}
	if made && c.IsSet("value") {
		vals := make([]uint16, n)
		for i := range vals {
			vals[i] = uint16(v)
		}
		if err := s.SetValues(vals); err != nil {
			_ = s.Remove() // nothing half-made is left behind
			return err
		}
	}
	fmt.Fprintln(c.App.Writer, s.ID())
	return nil
}

func semSet(c *cli.Context) error {
	id, err := idArg(c, false)
	if err != nil {
		return err
	}
	hasVal, hasAll := c.IsSet("value") || c.IsSet("num"), c.IsSet("all")
	if hasVal && hasAll {
		return usagef("sem set: --value and --all exclude each other")
	}
	if hasVal && !(c.IsSet("value") && c.IsSet("num")) {
		return usagef("sem set: --num and --value go together")
	}
	var vals []uint16
	if hasAll {
		for _, f := range strings.Split(c.String("all"), ",") {
			v, err := strconv.ParseUint(strings.TrimSpace(f), 10, 16)
			if err != nil || v > 32767 {
				return usagef("sem set: --all: invalid value %q: want 0-32767", f)
			}
			vals = append(vals, uint16(v))
		}
	}
	if hasVal && (c.Int("value") < 0 || c.Int("value") > 32767 || c.Int("num") < 0) {
		return usagef("sem set: --value must be 0-32767 and --num not negative")
	}
	change, err := permChange[*sem.Set](c)
	if err != nil {
		return err
	}
	if !hasVal && !hasAll && change == nil {
		return usagef("sem set: nothing to set: give --num and --value, --all, --mode or --uid/--gid")
	}
	s, err := sem.FromID(id)
	if err != nil {
		return err
	}
	switch {
	case hasAll:
		if s.Len() > 0 && len(vals) != s.Len() {
			return usagef("sem set: --all has %d values, the set %d semaphores", len(vals), s.Len())
		}
		err = s.SetValues(vals)
	case hasVal:
		err = s.SetValue(c.Int("num"), c.Int("value"))
	}
	if err == nil && change != nil {
		err = change(s)
	}
	return err
}

func semOp(c *cli.Context) error {
	id, err := idArg(c, true)
	if err != nil {
		return err
	}
	if c.NArg() < 2 {
		return usagef("sem op: give at least one operation NUM:OP, such as 0:-1")
	}
	var ops []sem.Op
	for _, a := range c.Args().Slice()[1:] {
		num, delta, ok := strings.Cut(a, ":")
		n, err1 := strconv.ParseUint(num, 10, 16)
		d, err2 := strconv.ParseInt(delta, 10, 16)
		if !ok || err1 != nil || err2 != nil {
			return usagef("sem op: invalid operation %q: want NUM:OP such as 0:-1, 1:+1 or 2:0", a)
		}
		var flags sem.Flags
		if c.Bool("undo") {
			flags |= sem.Undo
		}
		if c.Bool("nowait") {
			flags |= sem.NoWait
		}
		switch {
		case d > 0:
			ops = append(ops, sem.Inc(int(n), int(d), flags))
		case d < 0:
			ops = append(ops, sem.Dec(int(n), int(-d), flags))
		default:
			ops = append(ops, sem.WaitZero(int(n), flags))
		}
	}
	if c.IsSet("timeout") && c.Duration("timeout") < 0 {
		return usagef("sem op: --timeout must not be negative")
	}
	s, err := sem.FromID(id)
	if err != nil {
		return err
	}
	if c.IsSet("timeout") {
		return s.DoTimeout(c.Duration("timeout"), ops...)
	}
	return s.Do(ops...)
}
