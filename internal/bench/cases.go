package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/ipc/proc"
	"github.com/ipctoolkit/ipc/msgq"
	"github.com/ipctoolkit/ipc/pipe"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/ipctoolkit/ipc/shm"
)

const childRole = "ipc-bench-partner"

func init() { proc.Register(childRole, runPartner) }

// Semaphore numbers of the ping-pong sets: the parent waits on its own and
// posts the child's, and the other way round.
const (
	parentSem = 0
	childSem  = 1
)

// semPingPong: "split" posts and waits in two semop calls, as semping does;
// "combined" waits for its own and posts the other's in one, as semping
// MODE=combined (and lmbench's lat_sem) does.
func semPingPong(mode string) func(Config, int) (time.Duration, error) {
	return func(cfg Config, _ int) (time.Duration, error) {
		set, err := sem.Create(ipc.Private, 2, 0o600)
		if err != nil {
			return 0, err
		}
		defer owned(set.Remove)()
		child, err := partner(cfg, "sem", nil, strconv.Itoa(set.ID()), mode)
		if err != nil {
			return 0, err
		}
		post, wait := sem.Inc(childSem, 1, 0), sem.Dec(parentSem, 1, 0)
		one := func() error {
			if err := set.Do(post); err != nil {
				return err
			}
			return set.Do(wait)
		}
		if mode == "combined" {
			if err := set.Do(post); err != nil { // the first serve
				return 0, child.finish(err)
			}
			one = func() error { return set.Do(wait, post) }
		}
		d, err := timed(warmup(cfg.Rounds), cfg.Rounds, one)
		return d, child.finish(err)
	}
}

// startQueue makes a queue and starts the partner part on it; the caller
// defers release, which removes the queue.
func startQueue(cfg Config, part string, size int) (q *msgq.Queue, child *partnerProc, release func(), err error) {
	if q, err = msgq.Create(ipc.Private, 0o600); err != nil {
		return nil, nil, nil, err
	}
	release = owned(q.Remove)
	if child, err = partner(cfg, part, nil, strconv.Itoa(q.ID()), strconv.Itoa(size)); err != nil {
		release()
		return nil, nil, nil, err
	}
	return q, child, release, nil
}

func msgqPingPong(cfg Config, size int) (time.Duration, error) {
	q, child, release, err := startQueue(cfg, "msgq-pong", size)
	if err != nil {
		return 0, err
	}
	defer release()
	buf := make([]byte, size)
	d, err := timed(warmup(cfg.Rounds), cfg.Rounds, func() error {
		if err := q.Send(1, buf, 0); err != nil {
			return err
		}
		_, _, err := q.Receive(buf, msgq.Type(2), 0)
		return err
	})
	return d, child.finish(err)
}

func msgqStream(cfg Config, size int) (time.Duration, error) {
	q, child, release, err := startQueue(cfg, "msgq-sink", size)
	if err != nil {
		return 0, err
	}
	defer release()
	buf := make([]byte, size)
	// The child says it is ready, so its start is not timed.
	if _, _, err := q.Receive(buf, msgq.Type(2), msgq.Truncate); err != nil {
		return 0, child.finish(err)
	}
	start := time.Now()
	for range cfg.Rounds {
		if err = q.Send(1, buf, 0); err != nil {
			return 0, child.finish(err)
		}
	}
	_, _, err = q.Receive(buf, msgq.Type(2), msgq.Truncate) // all taken
	return time.Since(start), child.finish(err)
}

// fdPair makes the two channels of a descriptor case: parent to child and
// back, as two pipes (pipeping) or one stream socketpair (sockping).
func fdPair(kind string) (mine [2]*os.File, theirs [2]*os.File, err error) {
	if kind == "socketpair" {
		a, b, err := pipe.Socketpair(pipe.Stream, 0)
		return [2]*os.File{a, a}, [2]*os.File{b, b}, err
	}
	toR, toW, err := pipe.Pipe(0)
	if err != nil {
		return mine, theirs, err
	}
	backR, backW, err := pipe.Pipe(0)
	if err != nil {
		toR.Close()
		toW.Close()
		return mine, theirs, err
	}
	return [2]*os.File{backR, toW}, [2]*os.File{toR, backW}, nil
}

// startFD makes the two channels of kind, starts the partner part on their
// far ends and wraps the near ones; the caller defers release, which closes
// them.
func startFD(cfg Config, kind, part string, size int) (in, out *pipe.Handoff, child *partnerProc, release func(), err error) {
	mine, theirs, err := fdPair(kind)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	release = func() { closeAll(mine) }
	child, err = partner(cfg, part, theirs[:], strconv.Itoa(size))
	closeAll(theirs) // the partner has its own copies
	if err != nil {
		release()
		return nil, nil, nil, nil, err
	}
	if in, out, err = handoffs(mine); err != nil {
		err = child.finish(err)
		release()
		return nil, nil, nil, nil, err
	}
	return in, out, child, release, nil
}

// handoffs wraps the two channels for short waits (see pipe.Handoff), as a
// program exchanging requests and replies with another process would.
func handoffs(fs [2]*os.File) (in, out *pipe.Handoff, err error) {
	if in, err = pipe.NewHandoff(fs[0]); err == nil {
		out, err = pipe.NewHandoff(fs[1])
	}
	return in, out, err
}

func closeAll(fs [2]*os.File) {
	fs[0].Close()
	if fs[1] != fs[0] {
		fs[1].Close()
	}
}

func fdPingPong(kind string) func(Config, int) (time.Duration, error) {
	return func(cfg Config, size int) (time.Duration, error) {
		in, out, child, release, err := startFD(cfg, kind, "fd-pong", size)
		if err != nil {
			return 0, err
		}
		defer release()
		buf := make([]byte, size)
		d, err := timed(warmup(cfg.Rounds), cfg.Rounds, func() error {
			if _, err := out.Write(buf); err != nil {
				return err
			}
			_, err := io.ReadFull(in, buf)
			return err
		})
		return d, child.finish(err)
	}
}

func fdStream(kind string) func(Config, int) (time.Duration, error) {
	return func(cfg Config, size int) (time.Duration, error) {
		in, out, child, release, err := startFD(cfg, kind, "fd-sink", size)
		if err != nil {
			return 0, err
		}
		defer release()
		ack := make([]byte, 1)
		if _, err := io.ReadFull(in, ack); err != nil { // ready
			return 0, child.finish(err)
		}
		buf := make([]byte, size)
		start := time.Now()
		for range cfg.Rounds {
			if _, err = out.Write(buf); err != nil {
				return 0, child.finish(err)
			}
		}
		_, err = io.ReadFull(in, ack) // all read
		return time.Since(start), child.finish(err)
	}
}

// shmPingPong: the parent writes size bytes into the segment and posts;
// the child copies them out, writes its answer and posts back.
func shmPingPong(cfg Config, size int) (time.Duration, error) {
	seg, err := shm.Create(ipc.Private, size, 0o600)
	if err != nil {
		return 0, err
	}
	defer owned(seg.Remove)()
	set, err := sem.Create(ipc.Private, 2, 0o600)
	if err != nil {
		return 0, err
	}
	defer owned(set.Remove)()
	m, err := seg.Attach(0)
	if err != nil {
		return 0, err
	}
	defer m.Detach()
	child, err := partner(cfg, "shm-pong", nil, strconv.Itoa(seg.ID()), strconv.Itoa(set.ID()))
	if err != nil {
		return 0, err
	}
	mem, buf := m.Bytes(), make([]byte, size)
	post, wait := sem.Inc(childSem, 1, 0), sem.Dec(parentSem, 1, 0)
	d, err := timed(warmup(cfg.Rounds), cfg.Rounds, func() error {
		copy(mem, buf)
		if err := set.Do(post); err != nil {
			return err
		}
		if err := set.Do(wait); err != nil {
			return err
		}
		copy(buf, mem)
		return nil
	})
	return d, child.finish(err)
}

// shmCopy is memcpy bandwidth into an attached segment, first touch
// excluded, as shmcopy's shm_warm_GB_per_s. Rounds are capped: each is a
// whole copy of the segment.
func shmCopy(cfg Config, size int) (time.Duration, error) {
	seg, err := shm.Create(ipc.Private, size, 0o600)
	if err != nil {
		return 0, err
	}
	defer owned(seg.Remove)()
	m, err := seg.Attach(0)
	if err != nil {
		return 0, err
	}
	defer m.Detach()
	src := make([]byte, size)
	for i := range src {
		src[i] = byte(i)
	}
	mem := m.Bytes()
	copy(mem, src) // first touch faults the pages in
	start := time.Now()
	for range cfg.Rounds {
		copy(mem, src)
	}
	return time.Since(start), nil
}

// runPartner is the child side of every case: args are the part, the
// placement, the rounds, then the part's own.
func runPartner(args []string) int {
	if err := partnerMain(args); err != nil {
		fmt.Fprintln(os.Stderr, "ipc bench partner:", err)
		return 1
	}
	return 0
}

func partnerMain(args []string) error {
	if len(args) < 3 {
		return errors.New("too few arguments")
	}
	part, place := args[0], Placement(args[1])
	rounds, err := strconv.Atoi(args[2])
	if err != nil {
		return err
	}
	ints := make([]int, 0, 2)
	for _, a := range args[3:] {
		if n, err := strconv.Atoi(a); err == nil {
			ints = append(ints, n)
		}
	}
	runtime.LockOSThread() // the thread pinned is the one that works
	if err := pin(place, true); err != nil {
		return err
	}
	total := warmup(rounds) + rounds
	switch part {
	case "sem":
		set, err := sem.FromID(ints[0])
		if err != nil {
			return err
		}
		wait, post := sem.Dec(childSem, 1, 0), sem.Inc(parentSem, 1, 0)
		for range total {
			if args[4] == "combined" {
				err = set.Do(wait, post)
			} else if err = set.Do(wait); err == nil {
				err = set.Do(post)
			}
			if err != nil {
				return err
			}
		}
	case "msgq-pong":
		q, err := msgq.FromID(ints[0])
		if err != nil {
			return err
		}
		buf := make([]byte, ints[1])
		for range total {
			if _, _, err := q.Receive(buf, msgq.Type(1), 0); err != nil {
				return err
			}
			if err := q.Send(2, buf, 0); err != nil {
				return err
			}
		}
	case "msgq-sink":
		q, err := msgq.FromID(ints[0])
		if err != nil {
			return err
		}
		buf := make([]byte, ints[1])
		if err := q.Send(2, []byte{1}, 0); err != nil {
			return err
		}
		for range rounds {
			if _, _, err := q.Receive(buf, msgq.Type(1), 0); err != nil {
				return err
			}
		}
		return q.Send(2, []byte{1}, 0)
	case "fd-pong", "fd-sink":
		inf, outf := proc.InheritedFile(0, "in"), proc.InheritedFile(1, "out")
		if inf == nil || outf == nil {
			return errors.New("no descriptors passed")
		}
		in, out, err := handoffs([2]*os.File{inf, outf})
		if err != nil {
			return err
		}
		buf := make([]byte, ints[0])
		if part == "fd-pong" {
			for range total {
				if _, err := io.ReadFull(in, buf); err != nil {
					return err
				}
				if _, err := out.Write(buf); err != nil {
					return err
				}
			}
			return nil
		}
		if _, err := out.Write([]byte{1}); err != nil {
			return err
		}
		// Read with the chunk-sized buffer itself: io.Copy into io.Discard
		// would read 8 KiB at a time and measure that instead.
		for left := int64(rounds) * int64(len(buf)); left > 0; {
			n, err := in.Read(buf[:min(int64(len(buf)), left)])
			if err != nil {
				return err
			}
			left -= int64(n)
		}
		_, err = out.Write([]byte{1})
		return err
	case "shm-pong":
		seg, err := shm.FromID(ints[0])
		if err != nil {
			return err
		}
		set, err := sem.FromID(ints[1])
		if err != nil {
			return err
		}
		m, err := seg.Attach(0)
		if err != nil {
			return err
		}
		defer m.Detach()
		mem := m.Bytes()
		buf := make([]byte, len(mem))
		wait, post := sem.Dec(childSem, 1, 0), sem.Inc(parentSem, 1, 0)
		for range total {
			if err := set.Do(wait); err != nil {
				return err
			}
			copy(buf, mem)
			copy(mem, buf)
			if err := set.Do(post); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unknown part %q", part)
	}
	return nil
}
