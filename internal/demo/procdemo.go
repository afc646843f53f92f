package demo

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ipctoolkit/ipc/ipc/proc"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

const procDemoChild = "proc-demo-child"

func init() {
	commands = append(commands, &cli.Command{
		Name:      "proc-demo",
		Usage:     "watch the process chapter: a zombie, wait's statuses, WNOHANG polling, a SIGCHLD reaper, stop and continue",
		UsageText: "ipc proc-demo [--delay D]",
		Description: `The chapter the IPC demos start from, in five steps. Each child is this same
binary started again (Go cannot fork without exec), and the parent says what
happens to it:

1. A child exits while the parent sleeps: until the parent waits for it, it
is a zombie, state Z in /proc/PID/stat as ps shows it; the wait reaps it and
its /proc entry is gone.
2. Two children exit with statuses 3 and 7, and the parent decodes the wait
status words as the textbooks' wait.c does (WIFEXITED, WEXITSTATUS).
3. The parent polls a busy child with WNOHANG, never blocking, until it ends.
4. Three children end at different times and a SIGCHLD handler reaps and
reports each as it ends.
5. A child is stopped (SIGSTOP, state T) and continued (SIGCONT), then
terminated (SIGTERM), and the parent reports each change of state.

SIGINT or SIGTERM kills and reaps every child first, then exits 128+signal.

EXAMPLES:
   ipc proc-demo
   ipc proc-demo --delay 1s`,
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "delay", Value: 200 * time.Millisecond, Usage: "the pace of each step, so a person can follow"},
		},
		Action: func(c *cli.Context) error {
			delay := c.Duration("delay")
			switch {
			case c.NArg() > 0:
				return usagef("proc-demo: unexpected argument %q", c.Args().First())
			case delay < 0:
				return usagef("proc-demo: --delay must not be negative")
			}
			d := &procDemo{speaker: speaker{who: "parent", out: c.App.Writer}, delay: delay}
			return d.run()
		},
	})
	proc.Register(procDemoChild, runProcDemoChild)
}

type procDemo struct {
	speaker
	delay time.Duration
	live  []*proc.Cmd // started and not yet reaped
}

func (d *procDemo) run() error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	go func() {
		select {
		case s := <-sigs:
			cancel(caught{s.(syscall.Signal)})
		case <-ctx.Done():
		}
	}()
	d.say("each child below is this same binary started again (%s): Go cannot fork without exec", proc.Self)
	err := d.steps(ctx)
	if c, ok := context.Cause(ctx).(caught); ok {
		d.say("caught %v: killing and reaping %d child(ren)", c.sig, len(d.live))
		d.killAll()
		return exitStatus(128 + int(c.sig))
	}
	d.killAll()
	return err
}

func (d *procDemo) steps(ctx context.Context) error {
	for _, step := range []func(context.Context) error{d.zombie, d.waitStatuses, d.poll, d.sigchld, d.stopContinue} {
		if err := step(ctx); err != nil {
			return err
		}
		if err := sleepContext(ctx, d.delay); err != nil {
			return err
		}
	}
	d.say("done: every child reaped, no zombie left")
	return nil
}

// start starts a child running "exit CODE AFTER" or "loop EVERY".
func (d *procDemo) start(args ...string) (*proc.Cmd, error) {
	c := proc.Command(procDemoChild, args...)
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("start child: %w", err)
	}
	d.live = append(d.live, c)
	return c, nil
}

// reap waits for c and forgets it.
func (d *procDemo) reap(c *proc.Cmd) (proc.Status, error) {
	st, err := c.Wait()
	for i, x := range d.live {
		if x == c {
			d.live = append(d.live[:i], d.live[i+1:]...)
			break
		}
	}
	return st, err
}

// killAll kills and reaps the children still running, saying how each
// ended, so that none is left behind, not even as a zombie.
func (d *procDemo) killAll() {
	for _, c := range d.live {
		_ = c.Signal(syscall.SIGKILL)
		if st, err := c.Wait(); err == nil {
			d.say("reaped child %d: %s", c.Pid(), st)
		}
	}
	d.live = nil
}

// 1. A zombie: ended, not yet waited for.
func (d *procDemo) zombie(ctx context.Context) error {
	d.say("step 1: a child that exits while its parent sleeps becomes a zombie")
	c, err := d.start("exit", "0", (d.delay / 2).String())
	if err != nil {
		return err
	}
	d.say("started child %d; not waiting for it, sleeping %v", c.Pid(), d.delay)
	if err := sleepContext(ctx, d.delay); err != nil {
		return err
	}
	// Look without reaping (waitid with WNOWAIT), in case the machine is
	// slow, so that the zombie is there to be seen.
	if _, err := c.WaitEvent(); err != nil {
		return err
	}
	d.say("child %d has ended; /proc/%d/stat says state %s: a zombie, its exit status kept for the parent", c.Pid(), c.Pid(), procState(c.Pid()))
	st, err := d.reap(c)
	if err != nil {
		return err
	}
	d.say("waited for child %d: %s; now /proc/%d is %s", c.Pid(), st, c.Pid(), procState(c.Pid()))
	return nil
}

// 2. Exit statuses 3 and 7, decoded as wait.c does.
func (d *procDemo) waitStatuses(ctx context.Context) error {
	d.say("step 2: two children exit with statuses 3 and 7; the parent decodes what wait returns")
	var kids []*proc.Cmd
	for _, code := range []string{"3", "7"} {
		c, err := d.start("exit", code, d.delay.String())
		if err != nil {
			return err
		}
		d.say("started child %d, which will call exit(%s)", c.Pid(), code)
		kids = append(kids, c)
	}
	for _, c := range kids {
		st, err := d.reap(c)
		if err != nil {
			return err
		}
		d.say("child %d: %s", c.Pid(), decode(st))
	}
	return nil
}

// decode reads a wait status word the way the textbooks' pr_exit does.
func decode(st proc.Status) string {
	ws := st.WaitStatus()
	raw := fmt.Sprintf("status word 0x%04x: ", uint32(ws))
	switch {
	case st.Exited():
		return raw + fmt.Sprintf("WIFEXITED, normal termination, exit status = %d (WEXITSTATUS)", st.ExitCode())
	case st.Signaled():
		core := ""
		if st.CoreDump() {
			core = " (core file generated)"
		}
		return raw + fmt.Sprintf("WIFSIGNALED, abnormal termination, signal number = %d (%v)%s", st.Signal(), st.Signal(), core)
	case st.Stopped():
		return raw + fmt.Sprintf("WIFSTOPPED, child stopped, signal number = %d (%v)", st.StopSignal(), st.StopSignal())
	case st.Continued():
		return raw + "WIFCONTINUED, child continued"
	}
	return raw + "unknown"
}

// ended polls c with WNOHANG: has it ended? WNOWAIT leaves it to be
// reaped by Wait, which then gives its status.
func ended(c *proc.Cmd) bool {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_PID, c.Pid(), &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	return err == nil && info.Signo == int32(unix.SIGCHLD)
}

// 3. Polling with WNOHANG.
func (d *procDemo) poll(ctx context.Context) error {
	d.say("step 3: polling a busy child with WNOHANG, which never blocks (waitid, with WNOWAIT: each poll only looks, and a wait reaps the child once it has ended)")
	c, err := d.start("exit", "0", (2 * d.delay).String())
	if err != nil {
		return err
	}
	d.say("started child %d, which works for %v", c.Pid(), 2*d.delay)
	for polls := 1; ; polls++ {
		if ended(c) {
			st, err := d.reap(c)
			if err != nil {
				return err
			}
			d.say("poll %d: waitid(WEXITED|WNOHANG) found child %d ended: %s", polls, c.Pid(), st)
			return nil
		}
		d.say("poll %d: waitid(WEXITED|WNOHANG) returned at once: child %d still running (state %s); doing other work", polls, c.Pid(), procState(c.Pid()))
		if err := sleepContext(ctx, d.delay/2+time.Millisecond); err != nil {
			return err
		}
	}
}

// 4. A SIGCHLD handler that reaps each child as it ends.
func (d *procDemo) sigchld(ctx context.Context) error {
	d.say("step 4: three children end at different times; a SIGCHLD handler reaps each as it ends")
	chld := make(chan os.Signal, 8)
	signal.Notify(chld, syscall.SIGCHLD)
	defer signal.Stop(chld)
	var pending []*proc.Cmd // in the order they were started
	for k, code := range []string{"0", "1", "2"} {
		after := time.Duration(3-k) * d.delay
		c, err := d.start("exit", code, after.String())
		if err != nil {
			return err
		}
		pending = append(pending, c)
		d.say("started child %d, which exits with %s after %v", c.Pid(), code, after)
	}
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-chld:
		case <-time.After(time.Second + 4*d.delay):
			// Signals coalesce and can be missed by a slow handler; look
			// anyway rather than hang.
		}
		// One SIGCHLD may stand for several children: reap every one that
		// has ended, as a handler looping on waitpid(WNOHANG) does.
		for _, c := range slices.Clone(pending) {
			if !ended(c) {
				continue
			}
			st, err := d.reap(c)
			if err != nil {
				return err
			}
			pending = slices.DeleteFunc(pending, func(x *proc.Cmd) bool { return x == c })
			d.say("SIGCHLD: reaped child %d: %s (%d left)", c.Pid(), st, len(pending))
		}
	}
	return nil
}

// 5. Stopped, continued, terminated.
func (d *procDemo) stopContinue(ctx context.Context) error {
	d.say("step 5: a child stopped and continued by signals, then terminated")
	c, err := d.start("loop", d.delay.String())
	if err != nil {
		return err
	}
	d.say("started child %d, which says it works every %v", c.Pid(), d.delay)
	if err := sleepContext(ctx, 2*d.delay); err != nil {
		return err
	}
	for _, sig := range []syscall.Signal{syscall.SIGSTOP, syscall.SIGCONT, syscall.SIGTERM} {
		d.say("sending %s to child %d", signalName(sig), c.Pid())
		if err := c.Signal(sig); err != nil {
			return err
		}
		ev, err := c.WaitEvent()
		if err != nil {
			return err
		}
		if ev.Final() {
			st, err := d.reap(c)
			if err != nil {
				return err
			}
			d.say("child %d %s; %s", c.Pid(), st, decode(st))
			return nil
		}
		d.say("child %d %s; /proc/%d/stat says state %s; %s", c.Pid(), ev, c.Pid(), procState(c.Pid()), decode(ev))
		if err := sleepContext(ctx, 2*d.delay); err != nil {
			return err
		}
	}
	return nil
}

func signalName(sig syscall.Signal) string {
	return map[syscall.Signal]string{syscall.SIGSTOP: "SIGSTOP", syscall.SIGCONT: "SIGCONT", syscall.SIGTERM: "SIGTERM"}[sig]
}

// procState is the state letter /proc/PID/stat shows (as ps does), in
// words: "Z (zombie)", "T (stopped)".
func procState(pid int) string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "gone"
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 || i+2 >= len(s) {
		return "unknown"
	}
	letter := s[i+2 : i+3]
	words := map[string]string{"R": "running", "S": "sleeping", "D": "in uninterruptible wait", "Z": "zombie",
		"T": "stopped", "t": "stopped by a tracer", "X": "dead", "I": "idle"}
	return letter + " (" + words[letter] + ")"
}

// runProcDemoChild is a child of proc-demo: "exit CODE AFTER" sleeps and
// exits with CODE; "loop EVERY" says it works every EVERY until a signal
// ends it.
func runProcDemoChild(args []string) int {
	sp := speaker{who: "child", out: os.Stdout}
	if len(args) == 3 && args[0] == "exit" {
		code, err1 := strconv.Atoi(args[1])
		after, err2 := time.ParseDuration(args[2])
		if err1 != nil || err2 != nil {
			return childFailed(procDemoChild, fmt.Errorf("bad arguments %q", args))
		}
		time.Sleep(after)
		sp.say("calling exit(%d)", code)
		return code
	}
	if len(args) == 2 && args[0] == "loop" {
		every, err := time.ParseDuration(args[1])
		if err != nil {
			return childFailed(procDemoChild, err)
		}
		for n := 1; ; n++ {
			sp.say("working (%d)", n)
			time.Sleep(every)
		}
	}
	return childFailed(procDemoChild, fmt.Errorf("want exit CODE AFTER or loop EVERY, got %q", args))
}
