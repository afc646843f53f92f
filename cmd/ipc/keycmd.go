package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/urfave/cli/v2"
)

func init() {
	register(&cli.Command{
		Name:      "key",
		Usage:     "print the key ftok derives from a file and a project id",
		UsageText: "ipc key PATH [--proj N]",
		Description: `The key is what glibc's ftok(3) gives for the same file and project id:
the low 8 bits of the project, the low 8 bits of the device number and the
low 16 bits of the inode. Two files can share a key.

EXAMPLES:
   ipc key /etc/passwd
   ipc sem create --key $(ipc key /var/run/app.pid --proj 7) --nsems 1`,
		Flags: []cli.Flag{&cli.IntFlag{Name: "proj", Value: 1, Usage: "project id, 1-255"}},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("key: want exactly one PATH")
			}
			proj := c.Int("proj")
			if proj < 1 || proj > 255 {
				return usagef("key: --proj must be 1-255, not %d", proj)
			}
			k, err := ipc.Ftok(c.Args().First(), proj)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, k)
			return nil
		},
	}, &cli.Command{
		Name:      "limits",
		Usage:     "print the kernel's System V IPC limits for this IPC namespace",
		UsageText: "ipc limits [--json]",
		Description: `The names are the sysctl ones (kernel.msgmax, kernel.sem's four fields,
kernel.shm*). ipc ls -l prints the same in ipcs's layout.`,
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "one JSON object, names in lower case"}},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			l, err := ipc.ReadLimits()
			if err != nil {
				return err
			}
			rows := []struct {
				name  string
				value uint64
				what  string
			}{
				{"MSGMNI", l.MSGMNI, "queues, system wide"},
				{"MSGMAX", l.MSGMAX, "bytes in one message"},
				{"MSGMNB", l.MSGMNB, "bytes in a new queue"},
				{"SHMMNI", l.SHMMNI, "segments, system wide"},
				{"SHMMAX", l.SHMMAX, "bytes in one segment"},
				{"SHMALL", l.SHMALL, "pages of all segments together (page: " + strconv.Itoa(l.PageSize) + " bytes)"},
				{"SHMMIN", l.SHMMIN, "bytes in one segment, at least"},
				{"SEMMNI", uint64(l.SEMMNI), "semaphore sets, system wide"},
				{"SEMMSL", uint64(l.SEMMSL), "semaphores in one set"},
				{"SEMMNS", uint64(l.SEMMNS), "semaphores, system wide"},
				{"SEMOPM", uint64(l.SEMOPM), "operations in one semop call"},
				{"SEMVMX", uint64(l.SEMVMX), "largest semaphore value"},
			}
			if c.Bool("json") {
				doc := map[string]uint64{"pagesize": uint64(l.PageSize)}
				for _, r := range rows {
					doc[strings.ToLower(r.name)] = r.value
				}
				return json.NewEncoder(c.App.Writer).Encode(doc)
			}
			w := tabwriter.NewWriter(c.App.Writer, 0, 8, 2, ' ', tabwriter.AlignRight)
			for _, r := range rows {
				fmt.Fprintf(w, "%s\t%d\t  %s\n", r.name, r.value, r.what)
			}
			return w.Flush()
		},
	})
}
