package proc_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc/proc"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	proc.Dispatch()
	if os.Getenv("GORACE") == "" {
		// A -race child otherwise sleeps a second before exiting (the race
		// runtime's atexit_sleep_ms); every child inherits this.
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	ipctest.Main(m)
}

// The roles the tests' children run.
func init() {
	// exit CODE [ARGS...]: prints what a child knows about itself, exits CODE.
	proc.Register("exit", func(args []string) int {
		code, _ := strconv.Atoi(args[0])
		_, marker := os.LookupEnv("IPC_PROC_CHILD")
		fmt.Printf("role=%s child=%t parent-ok=%t marker=%t args=%q\n",
			proc.Role(), proc.IsChild(), proc.ParentPID() == os.Getppid(), marker, args[1:])
		return code
	})
	// write TEXT...: writes each TEXT to ExtraFiles[i].
	proc.Register("write", func(args []string) int {
		for i, s := range args {
			f := proc.InheritedFile(i, "out"+strconv.Itoa(i))
			if f == nil {
				fmt.Fprintf(os.Stderr, "no inherited file %d\n", i)
				return 1
			}
			if proc.InheritedFile(i, "again") != f {
				fmt.Fprintln(os.Stderr, "InheritedFile gave two files for one descriptor")
				return 1
			}
			if _, err := f.WriteString(s); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			f.Close()
		}
		if proc.InheritedFile(len(args), "beyond") != nil {
			fmt.Fprintln(os.Stderr, "a file beyond ExtraFiles")
			return 1
		}
		return 0
	})
	// stdin: echoes its standard input, upper-cased, with its length.
	proc.Register("stdin", func(args []string) int {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("%d %s", len(b), bytes.ToUpper(b))
		return 0
	})
	// deployer PATH: this binary, run from PATH, replaces PATH with another
	// program (as a deploy would) and then starts a child, which must still
	// be this binary.
	proc.Register("deployer", func(args []string) int {
		if err := os.Remove(args[0]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := os.WriteFile(args[0], []byte("#!/bin/sh\necho the new binary\nexit 42\n"), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		st, err := proc.Command("exit", "0").Run()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("child", st)
		return 0
	})
	proc.Register("sleep", func(args []string) int {
		time.Sleep(time.Minute)
		return 0
	})
	proc.Register("panic", func(args []string) int { panic("boom") })
	// segv [core]: dies of SIGSEGV, with a core file if asked and allowed.
	proc.Register("segv", func(args []string) int {
		if len(args) > 0 && args[0] == "core" {
			// Raise the soft limit to the hard one; dump no memory mappings
			// (the race detector's shadow alone would take minutes), only
			// the headers, which is enough for the kernel to say "core
			// dumped".
			var rl unix.Rlimit
			unix.Getrlimit(unix.RLIMIT_CORE, &rl)
			rl.Cur = rl.Max
			unix.Setrlimit(unix.RLIMIT_CORE, &rl)
			os.WriteFile("/proc/self/coredump_filter", []byte("0"), 0)
		}
		// The Go runtime turns SIGSEGV into a panic or a crash with status
		// 2; give it back its default action so the kernel kills us.
		var act [4]uint64 // struct sigaction: SIG_DFL, no flags, no mask
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGSEGV), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0); e != 0 {
			fmt.Fprintln(os.Stderr, "rt_sigaction:", e)
			return 1
		}
		unix.Kill(os.Getpid(), unix.SIGSEGV)
		time.Sleep(time.Minute)
		return 1
	})
	// middle [term|watch]: starts a grandchild and reports its pid on
	// ExtraFiles[0] ("sleep", with the default Pdeathsig or SIGTERM), or passes ExtraFiles[0] on to a
	// "watcher" grandchild that has no Pdeathsig; then sleeps.
	proc.Register("middle", func(args []string) int {
		out := proc.InheritedFile(0, "report")
		var g *proc.Cmd
		if len(args) > 0 && args[0] == "watch" {
			g = proc.Command("watcher")
			g.NoPdeathsig = true
			g.ExtraFiles = []*os.File{out}
		} else {
			g = proc.Command("sleep")
			if len(args) > 0 && args[0] == "term" {
				g.Pdeathsig = syscall.SIGTERM
			}
		}
		if err := g.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Fprintf(out, "grandchild %d\n", g.Pid())
		time.Sleep(time.Minute)
		return 0
	})
	// quietwatcher: WatchParent's cost while the parent lives, and its end
	// with ctx. Prints the context switches over a second of the thread
	// that sleeps in poll for it, then whether the watch's eventfd is
	// closed once ctx is cancelled.
	proc.Register("quietwatcher", func(args []string) int {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// The runtime's netpoller has one, made with the first descriptor
		// it polls.
		if r, w, err := os.Pipe(); err == nil {
			r.Close()
			w.Close()
		}
		base := eventfds()
		gone := proc.WatchParent(ctx)
		var tid int
		for end := time.Now().Add(5 * time.Second); tid == 0 && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
			tid = threadIn("poll")
		}
		if tid == 0 {
			if threadIn("_") == 0 {
				fmt.Println("no wchan") // hidden by this kernel
				return 0
			}
			fmt.Println("no thread sleeps in poll")
			return 1
		}
		before := ipctest.ThreadSwitches(os.Getpid(), tid)
		time.Sleep(time.Second)
		fmt.Printf("switches %d\n", ipctest.ThreadSwitches(os.Getpid(), tid)-before)
		if n := eventfds(); n != base+1 {
			fmt.Printf("%d eventfds while watching, want %d\n", n, base+1)
			return 1
		}
		cancel()
		for end := time.Now().Add(5 * time.Second); eventfds() != base; {
			if time.Now().After(end) {
				fmt.Println("the eventfd is still open 5s after ctx ended")
				return 1
			}
			time.Sleep(5 * time.Millisecond)
		}
		select {
		case <-gone:
			fmt.Println("gone closed though the parent lives")
			return 1
		default:
		}
		fmt.Println("stopped")
		return 0
	})
	// watcher: says when WatchParent sees its parent gone, on ExtraFiles[0].
	proc.Register("watcher", func(args []string) int {
		out := proc.InheritedFile(0, "report")
		gone := proc.WatchParent(context.Background())
		fmt.Fprintln(out, "watching")
		select {
		case <-gone:
			// getppid may still name the dying parent: its descriptors,
			// the life pipe's writer among them, close before it is
			// reaped and this process adopted.
			fmt.Fprintf(out, "parent %d gone\n", proc.ParentPID())
			return 0
		case <-time.After(time.Minute):
			return 1
		}
	})
}

// start starts a child and makes sure the test does not leave it behind.
func start(t *testing.T, c *proc.Cmd) *proc.Cmd {
	t.Helper()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Signal(syscall.SIGKILL)
		c.Wait()
	})
	return c
}

// readLine reads one line from r within d.
func readLine(t *testing.T, r *bufio.Reader, d time.Duration) string {
	t.Helper()
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := r.ReadString('\n')
		ch <- result{s, err}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatalf("read: %v (got %q)", res.err, res.s)
		}
		return strings.TrimSuffix(res.s, "\n")
	case <-time.After(d):
		t.Fatalf("no line within %v", d)
		return ""
	}
}

// procState is a process's state letter from /proc/PID/stat ('R', 'S',
// 'T', 'Z', ...), or 0 if there is no such process, and its parent.
func procState(pid int) (state byte, ppid int) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0
	}
	s := string(b)
	// pid (comm) state ppid ...: comm may hold spaces and parentheses.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	ppid, _ = strconv.Atoi(f[1])
	return f[0][0], ppid
}

// children lists this process's children and their states.
func children(t *testing.T) map[int]byte {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	me := os.Getpid()
	out := map[int]byte{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ppid := procState(pid); ppid == me {
			out[pid] = st
		}
	}
	return out
}

// threadIn returns the id of a thread of this process whose wchan (the
// kernel function it sleeps in) contains fn, or 0.
func threadIn(fn string) int {
	pid := os.Getpid()
	for _, tid := range ipctest.Threads(pid) {
		if strings.Contains(ipctest.Wchan(pid, tid), fn) {
			return tid
		}
	}
	return 0
}

// eventfds counts this process's eventfd descriptors.
func eventfds() int {
	n := 0
	for _, l := range ipctest.FDs(os.Getpid()) {
		if l == "anon_inode:[eventfd]" {
			n++
		}
	}
	return n
}
