package pipe

// Two-process benchmarks, the Go side of shared/bench-ref's pipeping,
// sockping, pipestream and sockstream. Placement dominates these numbers
// (a wake-up on another, idle vCPU costs tens of microseconds), so the
// thread doing the I/O in each process is pinned, as the C programs' PIN=same
// does: the benchmark's goroutine and the child's working goroutine each
// lock their thread and bind it to CPU 0. Only that thread: the child is
// started before the parent pins itself, because a child that inherited the
// binding on every thread runs its sysmon and other runtime threads on the
// same CPU as the I/O, which measured 1.6x slower than C for the ping-pong
// instead of about 1.0x. IPC_BENCH_PIN=cross puts the child on CPU 1,
// IPC_BENCH_PIN=none pins nothing.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// placement returns the CPUs of the parent and the child, -1 for unpinned.
func placement() (parent, child int) {
	switch os.Getenv("IPC_BENCH_PIN") {
	case "none":
		return -1, -1
	case "cross":
		return 0, 1
	}
	return 0, 0
}

// pin locks the calling goroutine to its thread and binds the thread to
// cpu; the returned function undoes both.
func pin(cpu int) (func(), error) {
	runtime.LockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	return func() {
		unix.SchedSetaffinity(0, &old)
		runtime.UnlockOSThread()
	}, nil
}

func pinChild(arg string) {
	if cpu, _ := strconv.Atoi(arg); cpu >= 0 {
		if _, err := pin(cpu); err != nil {
			fmt.Fprintln(os.Stderr, "pin:", err)
			os.Exit(3)
		}
	}
}

// echoRole: args kind ("pipe": read fd 3, write fd 4; "sock": fd 3 both
// ways), message size, cpu. It returns every message until end of file.
func echoRole(args []string) int {
	pinChild(args[2])
	size, _ := strconv.Atoi(args[1])
	r := os.NewFile(3, "in")
	w := r
	if args[0] == "pipe" {
		w = os.NewFile(4, "out")
	}
	buf := make([]byte, size)
	for {
		if _, err := io.ReadFull(r, buf); err != nil {
			if err == io.EOF {
				return 0
			}
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		if _, err := w.Write(buf); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
	}
}

// sinkRole: args chunk size, cpu. It says "ready" on stdout, reads fd 3 to
// the end and prints how many bytes came.
func sinkRole(args []string) int {
	pinChild(args[1])
	chunk, _ := strconv.Atoi(args[0])
	r := os.NewFile(3, "in")
	buf := make([]byte, chunk)
	fmt.Println("ready")
	var total int64
	for {
		n, err := r.Read(buf)
		total += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
	}
	fmt.Println(total)
	return 0
}

// pinParent pins the benchmark's goroutine and thread to cpu (if >= 0)
// until the benchmark ends.
func pinParent(b *testing.B, cpu int) {
	if cpu < 0 {
		return
	}
	unpin, err := pin(cpu)
	if err != nil {
		b.Skip("cannot pin:", err)
	}
	b.Cleanup(unpin)
}

func benchPingPong(b *testing.B, kind string, size int) {
	parentCPU, childCPU := placement()
	var (
		r, w  *os.File
		extra []*os.File
	)
	if kind == "pipe" {
		toChild, mine, err := pipePair(b)
		if err != nil {
			b.Fatal(err)
		}
		fromChild, theirs, err := pipePair(b)
		if err != nil {
			b.Fatal(err)
		}
		w, r, extra = mine, fromChild, []*os.File{toChild, theirs}
	} else {
		a, c, err := Socketpair(Stream, 0)
		if err != nil {
			b.Fatal(err)
		}
		r, w, extra = a, a, []*os.File{c}
	}
	cmd := child(b, "echo", kind, strconv.Itoa(size), strconv.Itoa(childCPU))
	cmd.ExtraFiles = extra
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	for _, f := range extra {
		f.Close()
	}
	pinParent(b, parentCPU)
	buf := make([]byte, size)
	roundTrip := func() {
		if _, err := w.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(r, buf); err != nil {
			b.Fatal(err)
		}
	}
	for range 2000 { // warm-up, and the child's start
		roundTrip()
	}
	b.ReportAllocs()
	for b.Loop() {
		roundTrip()
	}
	w.Close()
	r.Close()
	if err := cmd.Wait(); err != nil {
		b.Fatal(err)
	}
}

// pipePair returns a pipe as (read end, write end).
func pipePair(b *testing.B) (*os.File, *os.File, error) { return Pipe(0) }

// BenchmarkPipePingPong64: one 64-byte message each way over two pipes; one
// op is one round trip. C: PIN=same ./pipeping 200000 64.
func BenchmarkPipePingPong64(b *testing.B) { benchPingPong(b, "pipe", 64) }

// BenchmarkSocketpairPingPong64: the same over one SOCK_STREAM socketpair.
// C: PIN=same ./sockping 200000 64.
func BenchmarkSocketpairPingPong64(b *testing.B) { benchPingPong(b, "sock", 64) }

func benchStream(b *testing.B, kind string, chunk int) {
	parentCPU, childCPU := placement()
	var r, w *os.File
	var err error
	if kind == "pipe" {
		r, w, err = Pipe(0)
	} else {
		r, w, err = Socketpair(Stream, 0)
	}
	if err != nil {
		b.Fatal(err)
	}
	cmd := child(b, "sink", strconv.Itoa(chunk), strconv.Itoa(childCPU))
	cmd.ExtraFiles = []*os.File{r}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	r.Close()
	pinParent(b, parentCPU)
	out := bufio.NewScanner(stdout)
	if !out.Scan() || out.Text() != "ready" {
		b.Fatalf("sink: %q", out.Text())
	}
	buf := make([]byte, chunk)
	b.SetBytes(int64(chunk))
	b.ReportAllocs()
	b.ResetTimer()
	// Timed as the C programs are: from the first write until the reader
	// has everything and is reaped.
	for range b.N {
		if _, err := w.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()
	out.Scan()
	total := out.Text()
	if err := cmd.Wait(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if want := strconv.Itoa(b.N * chunk); total != want {
		b.Fatalf("sink read %s bytes, want %s", total, want)
	}
}

// BenchmarkPipeStream64K: one-way 64 KiB writes into a default (64 KiB)
// pipe. C: PIN=same ./pipestream.
func BenchmarkPipeStream64K(b *testing.B) { benchStream(b, "pipe", 64<<10) }

// BenchmarkSocketpairStream64K: the same into a SOCK_STREAM socketpair.
// C: PIN=same ./sockstream.
func BenchmarkSocketpairStream64K(b *testing.B) { benchStream(b, "sock", 64<<10) }
