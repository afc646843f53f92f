package main

import (
	"fmt"
	"io"
	"os"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/shm"
	"github.com/urfave/cli/v2"
)

func init() {
	register(&cli.Command{
		Name:  "shm",
		Usage: "create, inspect, read, write and remove shared memory segments",
		Subcommands: []*cli.Command{
			{
				Name:      "create",
				Usage:     "make a segment and print its id",
				UsageText: "ipc shm create --key K|--path P [--proj N]|--private --size N [--mode 0600] [--exclusive] [--hugetlb] [--noreserve]",
				Description: `--size takes bytes or K, M, G (powers of 1024). Without --exclusive an
existing segment of the key is opened instead (it must be at least --size).

EXAMPLES:
   id=$(ipc shm create --private --size 1M)
   ipc shm create --key 0x1234 --size 4096 --mode 0640 --exclusive`,
				Flags: append(createFlags(),
					&cli.StringFlag{Name: "size", Aliases: []string{"s"}, Usage: "size in bytes (required)"},
					&cli.BoolFlag{Name: "hugetlb", Usage: "back it with huge pages (SHM_HUGETLB)"},
					&cli.BoolFlag{Name: "noreserve", Usage: "reserve no swap for it (SHM_NORESERVE)"},
				),
				Action: shmCreate,
			},
			getCommand("shm", "segment", idOf(shm.Open)),
			statCommand("shm", "-m", exists(shm.FromID)),
			{
				Name:      "set",
				Usage:     "set a segment's mode or owner",
				UsageText: "ipc shm set ID [--mode M] [--uid U --gid G]",
				Flags:     setFlags(),
				Action: func(c *cli.Context) error {
					id, err := idArg(c, false)
					if err != nil {
						return err
					}
					change, err := permChange[*shm.Segment](c)
					if err != nil {
						return err
					}
					if change == nil {
						return usagef("shm set: nothing to set: give --mode or --uid/--gid")
					}
					s, err := shm.FromID(id)
					if err != nil {
						return err
					}
					return change(s)
				},
			},
			{
				Name:      "lock",
				Usage:     "pin a segment in memory (SHM_LOCK)",
				UsageText: "ipc shm lock ID",
				Action:    func(c *cli.Context) error { return shmLock(c, true) },
			},
			{
				Name:      "unlock",
				Usage:     "let a segment be swapped again (SHM_UNLOCK)",
				UsageText: "ipc shm unlock ID",
				Action:    func(c *cli.Context) error { return shmLock(c, false) },
			},
			{
				Name:      "read",
				Usage:     "write a segment's bytes to standard output",
				UsageText: "ipc shm read ID [--offset O] [--length L]",
				Description: `Without --length, reads to the end of the segment.

EXAMPLES:
   ipc shm read 3 --length 16 | xxd`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "offset", Aliases: []string{"o"}, Value: "0", Usage: "first byte"},
					&cli.StringFlag{Name: "length", Aliases: []string{"l"}, Usage: "bytes to read"},
				},
				Action: shmRead,
			},
			{
				Name:      "write",
				Usage:     "copy standard input or --file into a segment",
				UsageText: "ipc shm write ID [--offset O] [--file F]",
				Description: `The data must fit between --offset and the end of the segment.

EXAMPLES:
   echo hello | ipc shm write 3
   ipc shm write 3 --offset 4096 --file page.bin`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "offset", Aliases: []string{"o"}, Value: "0", Usage: "first byte"},
					&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "write this file's bytes"},
				},
				Action: shmWrite,
			},
			{
				Name:      "rm",
				Usage:     "remove segments by id (destroyed at the last detach)",
				UsageText: "ipc shm rm ID...",
				Action:    func(c *cli.Context) error { return removeIDs(c, ipc.Segment) },
			},
		},
	})
}

func shmCreate(c *cli.Context) error {
	k, mode, err := createTarget(c)
	if err != nil {
		return err
	}
	if !c.IsSet("size") {
		return usagef("shm create: --size is required")
	}
	size, err := parseSize(c.String("size"))
	if err != nil || size == 0 {
		return usagef("shm create: invalid --size %q: want a positive number of bytes, or K, M, G", c.String("size"))
	}
	if lim, err := ipc.ReadLimits(); err == nil && size > lim.SHMMAX {
		return usagef("shm create: --size %d is over the limit of %d bytes (kernel.shmmax)", size, lim.SHMMAX)
	}
	var flags ipc.Flags
	if c.Bool("hugetlb") {
		flags |= shm.HugeTLB
	}
	if c.Bool("noreserve") {
		flags |= shm.NoReserve
	}
	s, _, err := createOrOpen(c,
		func() (*shm.Segment, error) { return shm.Get(k, int(size), ipc.Create|ipc.Exclusive|flags, mode) },
		func() (*shm.Segment, error) { return shm.Get(k, int(size), ipc.Create|flags, mode) })
	if err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, s.ID())
	return nil
}

func shmLock(c *cli.Context, lock bool) error {
	id, err := idArg(c, false)
	if err != nil {
		return err
	}
	s, err := shm.FromID(id)
	if err != nil {
		return err
	}
	if lock {
		return s.LockMemory()
	}
	return s.UnlockMemory()
}

// byteRange reads --offset and --length (-1 when not given).
func byteRange(c *cli.Context) (off, length int64, err error) {
	o, err := parseSize(c.String("offset"))
	if err != nil || o > 1<<62 {
		return 0, 0, usagef("%s: invalid --offset %q", c.Command.FullName(), c.String("offset"))
	}
	length = -1
	if c.IsSet("length") {
		l, err := parseSize(c.String("length"))
		if err != nil || l > 1<<62 {
			return 0, 0, usagef("%s: invalid --length %q", c.Command.FullName(), c.String("length"))
		}
		length = int64(l)
	}
	return int64(o), length, nil
}

func shmRead(c *cli.Context) error {
	id, err := idArg(c, false)
	if err != nil {
		return err
	}
	off, length, err := byteRange(c)
	if err != nil {
		return err
	}
	s, err := shm.FromID(id)
	if err != nil {
		return err
	}
	m, err := s.Attach(shm.ReadOnly)
	if err != nil {
		return err
	}
	defer m.Detach()
	if off > int64(m.Len()) || length >= 0 && off+length > int64(m.Len()) {
		return fmt.Errorf("shm read: bytes %d to %d are past the end of segment %d (%d bytes)", off, off+max(length, 0), id, m.Len())
	}
	if length < 0 {
		length = int64(m.Len()) - off
	}
	_, err = io.Copy(c.App.Writer, io.NewSectionReader(m, off, length))
	return err
}

func shmWrite(c *cli.Context) error {
	id, err := idArg(c, false)
	if err != nil {
		return err
	}
	off, _, err := byteRange(c)
	if err != nil {
		return err
	}
	s, err := shm.FromID(id)
	if err != nil {
		return err
	}
	var data []byte
	if c.IsSet("file") {
		data, err = os.ReadFile(c.String("file"))
	} else {
		data, err = io.ReadAll(c.App.Reader)
	}
	if err != nil {
		return fmt.Errorf("shm write: read the data: %w", err)
	}
	m, err := s.Attach(0)
	if err != nil {
		return err
	}
	defer m.Detach()
	if off+int64(len(data)) > int64(m.Len()) {
		return fmt.Errorf("shm write: %d bytes at offset %d do not fit segment %d (%d bytes); nothing written", len(data), off, id, m.Len())
	}
	_, err = m.WriteAt(data, off)
	return err
}
