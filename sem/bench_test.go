package sem_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/bench"
	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/sem"
	"golang.org/x/sys/unix"
)

// BenchmarkDo is the cost of one uncontended semop from Go.
func BenchmarkDo(b *testing.B) {
	s := newSet(b, 1)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Do(sem.Inc(0, 1, 0)); err != nil {
			b.Fatal(err)
		}
		if err := s.Do(sem.Dec(0, 1, 0)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDoTimeout(b *testing.B) {
	s := newSet(b, 1)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.DoTimeout(1e9, sem.Inc(0, 1, 0)); err != nil {
			b.Fatal(err)
		}
		if err := s.DoTimeout(1e9, sem.Dec(0, 1, 0)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPingPong is a round trip between this process and a child, both
// on CPU 0 ("same") or on CPUs 0 and 1 ("cross"), as the C reference
// (internal/bench/cref) does with sem-split and sem-combined: "split" posts
// and waits in two semops, "combined" waits for its turn and gives the
// other one in a single semop.
//
// "split-timed" is "split" with this side's wait a DoTimeout of a second
// (a LockTimeout's hand-off, as ipc/prefork's accept lock makes it).
//
// "bare-raw" and "bare-plain" are the floor the package is measured
// against: split round trips from two bare loops of
// unix.RawSyscall(SYS_SEMOP) or unix.Syscall(SYS_SEMOP), on both sides,
// with nothing of the package in the way (internal/bench.BareSemop, as
// ipc bench's sem-bare-raw and sem-bare-plain rows).
func BenchmarkPingPong(b *testing.B) {
	for _, mode := range []string{"split", "split-timed", "combined", "bare-raw", "bare-plain"} {
		for _, place := range []string{"same", "cross"} {
			b.Run(mode+"/"+place, func(b *testing.B) { pingPong(b, mode, place) })
		}
	}
}

func pingPong(b *testing.B, mode, place string) {
	childCPU := "0"
	if place == "cross" {
		childCPU = "1"
	}
	s := newSet(b, 2)
	pin(b, 0)
	cmd := ipctest.Command(b, "pong", strconv.Itoa(s.ID()), mode, childCPU)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ping, pong := sem.Inc(1, 1, 0), sem.Dec(0, 1, 0)
	if mode == "combined" {
		// Kick once; then each call waits for the answer and pings again.
		if err := s.Do(ping); err != nil {
			b.Fatal(err)
		}
	}
	roundTrip := func() error {
		switch mode {
		case "bare-raw", "bare-plain":
			return bareRoundTrip(s.ID(), mode == "bare-raw")
		case "split":
			if err := s.Do(ping); err != nil {
				return err
			}
			return s.Do(pong)
		case "split-timed":
			if err := s.Do(ping); err != nil {
				return err
			}
			return s.DoTimeout(time.Second, pong)
		}
		return s.Do(pong, ping)
	}
	// Warm up, so the child's start is not timed (semping does the same).
	for range 1000 {
		if err := roundTrip(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := roundTrip(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	_ = s.Remove() // the child's wait fails with EIDRM and it exits
	_ = cmd.Wait()
}

// childPong answers every post on semaphore 1 with one on semaphore 0 until
// the set is removed.
func childPong(args []string) int {
	id, _ := strconv.Atoi(args[0])
	cpu, _ := strconv.Atoi(args[2])
	s, err := sem.FromID(id)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	runtime.LockOSThread() // the thread pinned is the one that works
	var set unix.CPUSet
	set.Set(cpu)
	_ = unix.SchedSetaffinity(0, &set)
	wait, post := sem.Dec(1, 1, 0), sem.Inc(0, 1, 0)
	switch args[1] {
	case "bare-raw", "bare-plain":
		raw := args[1] == "bare-raw"
		for bench.BareSemop(id, 1, -1, raw) == nil && bench.BareSemop(id, 0, 1, raw) == nil {
		}
		return 0
	case "split", "split-timed":
		for s.Do(wait) == nil && s.Do(post) == nil {
		}
		return 0
	}
	for s.Do(wait, post) == nil {
	}
	return 0
}

// bareRoundTrip is the parent's half of a bare split round trip.
func bareRoundTrip(id int, raw bool) error {
	if err := bench.BareSemop(id, 1, 1, raw); err != nil {
		return err
	}
	return bench.BareSemop(id, 0, -1, raw)
}

// pin places the benchmark's own thread on one CPU. Only that thread: a
// whole Go process pinned to one CPU makes its runtime threads compete with
// the one that works (measured by package pipe's benchmarks: 1.6x slower).
func pin(b *testing.B, cpu int) {
	runtime.LockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		b.Fatal(err)
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		b.Skip("cannot pin:", err)
	}
	b.Cleanup(func() {
		_ = unix.SchedSetaffinity(0, &old)
		runtime.UnlockOSThread()
	})
}
