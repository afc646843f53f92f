package msgq_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/sys"
	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/ipc/proc"
	"github.com/ipctoolkit/ipc/msgq"
	"golang.org/x/sys/unix"
)

// The two-process benchmarks mirror ../shared/bench-ref's msgping and
// msgstream: same queue usage, same message sizes, and (by default) both
// processes pinned to CPU 0 as PIN=same does there. Compare ns/op with
// msgping's ns_per_rtt and msgs/s with msgstream's msgs_per_s in the same
// session.

func init() {
	// echo QUEUE SIZE CPU [plain]: receive type 1, send it back as type 2,
	// until the queue is removed.
	proc.Register("echo", func(args []string) int {
		q, size, err := childSetup(args)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		buf := make([]byte, size)
		for {
			var err error
			var n int
			if _, n, err = q.Receive(buf, msgq.Type(1), 0); err == nil {
				err = q.Send(2, buf[:n], 0)
			}
			if errors.Is(err, ipc.ErrRemoved) || errors.Is(err, unix.EINVAL) {
				return 0
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
	})
	// sink QUEUE SIZE CPU CONTROL: receive any message; a type 2 message
	// ends a run, acknowledged
	// with type 1 on the control queue (the first one, sent before the
	// timing starts, says the child is ready).
	proc.Register("sink", func(args []string) int {
		q, size, err := childSetup(args)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		id, _ := strconv.Atoi(args[3])
		ctl, err := msgq.FromID(id)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		buf := make([]byte, size)
		for {
			typ, _, err := q.Receive(buf, msgq.Any(), 0)
			if err == nil && typ == 2 {
				err = ctl.Send(1, nil, 0)
			}
			if errors.Is(err, ipc.ErrRemoved) || errors.Is(err, unix.EINVAL) {
				return 0
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
	})
}

func childSetup(args []string) (*msgq.Queue, int, error) {
	if len(args) < 3 {
		return nil, 0, errors.New("usage: QUEUE SIZE CPU")
	}
	if len(args) > 3 && args[3] == "plain" {
		msgq.SetRawWaits(false)
	}
	id, _ := strconv.Atoi(args[0])
	size, _ := strconv.Atoi(args[1])
	cpu, _ := strconv.Atoi(args[2])
	if cpu >= 0 {
		if _, err := pinProcess(cpu); err != nil {
			return nil, 0, err
		}
	}
	q, err := msgq.FromID(id)
	return q, size, err
}

// startChild starts role on q and stops it (by removing q) when the
// benchmark ends.
func startChild(b *testing.B, q *msgq.Queue, role string, args ...string) {
	b.Helper()
	c := proc.Command(role, args...)
	c.Stdout = io.Discard
	if err := c.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		q.Remove()
		st, err := c.Wait()
		if err != nil || !st.Success() {
			b.Errorf("child %s: %v %v", role, st, err)
		}
	})
}

func pinParent(b *testing.B) {
	if cpu := pinCPU(0); cpu >= 0 {
		restore, err := pinProcess(cpu)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(restore)
	}
}

var sizes = []int{64, 1024, 8000}

// BenchmarkPingPong is a round trip between two processes on one queue:
// type 1 there, type 2 back (msgping). ns/op is ns per round trip. The
// plain/ variants never try the raw way first, in either process, to show
// what that buys; timeout/ receives with ReceiveContext and a deadline.
func BenchmarkPingPong(b *testing.B) {
	for _, size := range sizes {
		b.Run(strconv.Itoa(size), func(b *testing.B) { pingPong(b, size, "") })
	}
	b.Run("plain/64", func(b *testing.B) { pingPong(b, 64, "plain") })
	b.Run("timeout/64", func(b *testing.B) { pingPong(b, 64, "timeout") })
}

func pingPong(b *testing.B, size int, mode string) {
	q := newQueue(b)
	args := []string{strconv.Itoa(q.ID()), strconv.Itoa(size), strconv.Itoa(pinCPU(1))}
	switch mode {
	case "plain":
		defer msgq.SetRawWaits(msgq.SetRawWaits(false))
		args = append(args, mode)
	}
	startChild(b, q, "echo", args...)
	pinParent(b)
	msg := make([]byte, size)
	buf := make([]byte, size)
	rtt := func() {
		var n int
		var err error
		if err := q.Send(1, msg, 0); err != nil {
			b.Fatal(err)
		}
		if mode == "timeout" {
			_, n, err = receiveTimeout(q, buf, msgq.Type(2), 0, time.Second)
		} else {
			_, n, err = q.Receive(buf, msgq.Type(2), 0)
		}
		if err != nil || n != size {
			b.Fatal(n, err)
		}
	}
	for range 1000 { // the child is up, both are warm
		rtt()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		rtt()
	}
}

// BenchmarkStream sends one way (msgstream): type 1 messages that the child
// receives with Any, so at most msg_qbytes of text are in flight. ns/op is
// per message; msgs/s is reported for comparison with msgstream.
func BenchmarkStream(b *testing.B) {
	for _, size := range sizes {
		b.Run(strconv.Itoa(size), func(b *testing.B) { stream(b, size) })
	}
}

func stream(b *testing.B, size int) {
	q, ctl := newQueue(b), newQueue(b)
	args := []string{strconv.Itoa(q.ID()), strconv.Itoa(size), strconv.Itoa(pinCPU(1)), strconv.Itoa(ctl.ID())}
	startChild(b, q, "sink", args...)
	pinParent(b)
	msg := make([]byte, size)
	end := func() {
		if err := q.Send(2, nil, 0); err != nil {
			b.Fatal(err)
		}
		if _, _, err := ctl.Receive(nil, msgq.Any(), 0); err != nil {
			b.Fatal(err)
		}
	}
	end() // the child is up
	b.ReportAllocs()
	b.SetBytes(int64(size))
	b.ResetTimer()
	for range b.N {
		if err := q.Send(1, msg, 0); err != nil {
			b.Fatal(err)
		}
	}
	end()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkSendReceive is one process sending and then receiving its own
// message: the wrapper's cost over the two system calls, and proof that the
// hot path allocates nothing.
func BenchmarkSendReceive(b *testing.B) {
	for _, size := range sizes {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			q := newQueue(b)
			msg := make([]byte, size)
			buf := make([]byte, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if err := q.Send(1, msg, 0); err != nil {
					b.Fatal(err)
				}
				if _, _, err := q.Receive(buf, msgq.Any(), 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReceiveTimeout is ReceiveContext finding the message already
// there, with a deadline made for each call (timeout/, which allocates the
// context) and with a context that is never done (context/): one system
// call each.
func BenchmarkReceiveTimeout(b *testing.B) {
	q := newQueue(b)
	msg, buf := make([]byte, 64), make([]byte, 64)
	b.Run("timeout", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			q.Send(1, msg, 0)
			if _, _, err := receiveTimeout(q, buf, msgq.Any(), 0, time.Second); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("context", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			q.Send(1, msg, 0)
			if _, _, err := q.ReceiveContext(b.Context(), buf, msgq.Any(), 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRawSyscalls is BenchmarkSendReceive made with the bare system
// calls and a buffer of the caller's: the floor the wrapper is measured
// against.
func BenchmarkRawSyscalls(b *testing.B) {
	for _, size := range sizes {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			q := newQueue(b)
			buf := make([]byte, sys.LongSize+size)
			binary.NativeEndian.PutUint64(buf, 1)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if e := sys.MsgsndRaw(q.ID(), buf, size, 0); e != 0 {
					b.Fatal(e)
				}
				if _, e := sys.MsgrcvRaw(q.ID(), buf, size, 0, 0); e != 0 {
					b.Fatal(e)
				}
			}
		})
	}
}
