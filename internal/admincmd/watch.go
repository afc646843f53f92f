package admincmd

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ipctoolkit/ipc/internal/admin"
)

// watch is ipc ls --watch: every --interval, the namespace's queues with
// what they hold and how fast messages go in and out, until --count frames
// have been shown, or SIGINT, SIGTERM or SIGHUP. On a terminal each frame
// replaces the last; elsewhere frames follow each other, a blank line
// apart, so the output can be logged.
func watch(t *adminTool, o *adminOpts) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	var prev *admin.Snapshot
	for frame := 1; ; frame++ {
		snap, err := admin.TakeSnapshot()
		if err != nil {
			return err
		}
		if t.tty {
			t.printf("\x1b[H\x1b[2J")
		} else if frame > 1 {
			t.printf("\n")
		}
		printFrame(t, o, prev, snap)
		if err := t.out.Flush(); err != nil {
			return err
		}
		if o.countSet && frame >= o.count {
			return nil
		}
		prev = &snap
		select {
		case <-sigs:
			return nil
		case <-tick.C:
		}
	}
}

func printFrame(t *adminTool, o *adminOpts, prev *admin.Snapshot, snap admin.Snapshot) {
	t.printf("%s  every %v: %s, %s, %s\n", snap.At.Local().Format("2006-01-02 15:04:05"), o.interval,
		admin.Plural(len(snap.Queues), "queue"), admin.Plural(snap.Segments, "segment"), admin.Plural(snap.Sets, "semaphore set"))
	if len(snap.Queues) == 0 {
		return
	}
	var rates []admin.QueueRate
	if prev != nil {
		rates = admin.Rates(*prev, snap)
	}
	tw := tabwriter.NewWriter(t.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "KEY\tID\tOWNER\tMESSAGES\tBYTES\tIN/s\tOUT/s\tNET/s\tBYTES/s\t\n")
	for i, q := range snap.Queues {
		in, out, net, bps := "-", "-", "-", "-"
		if rates != nil && !rates[i].New {
			r := rates[i]
			in, out = rate(r.In, r.InExact), rate(r.Out, r.OutExact)
			net, bps = strconv.FormatFloat(r.Net, 'f', 1, 64), strconv.FormatFloat(r.NetBytes, 'f', 0, 64)
			if r.Net > 0 {
				net = "+" + net
			}
			if r.NetBytes > 0 {
				bps = "+" + bps
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t\n", q.Perm.Key, q.ID, t.ownerName(q.Perm.UID), q.QNum, q.CBytes, in, out, net, bps)
	}
	tw.Flush()
}

// rate prints a rate, with ">=" when it is only a lower bound (messages
// went both ways in the interval).
func rate(v float64, exact bool) string {
	s := strconv.FormatFloat(v, 'f', 1, 64)
	if !exact {
		return ">=" + s
	}
	return s
}
