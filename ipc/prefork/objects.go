package prefork

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/msgq"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/ipctoolkit/ipc/shm"
)

// The server's semaphore set has five semaphores:
//
//	0 the accept lock (1 free, 0 taken; taken with SEM_UNDO)
//	1 members: the supervisor and every attached worker add 1 with
//	  SEM_UNDO, so the kernel takes it back when they die however they die;
//	  the janitor waits for it to reach 0 (see janitor.go)
//	2-4 the signature, 15 bits in each
//
// The queue holds one message of type sigType with the same signature,
// which nobody ever receives. Before removing objects a state file names
// (after a kill -9), a start, `ipc status --clean` or the janitor checks
// that they carry the signature the file records: key, owner and ctime
// alone matched a set and queue a planted state file named.
const (
	semLock    = 0
	semMembers = 1
	semSig     = 2
	semCount   = 5
	sigType    = 1 << 62
	sigBits    = 45
)

// objects are the supervisor's IPC objects.
type objects struct {
	set    *sem.Set
	q      *msgq.Queue
	m      *shm.Mapping
	board  *board
	sig    uint64
	qbytes uint64
}

func newSignature() uint64 { return rand.Uint64()&(1<<sigBits-1) | 1 }

func sigValues(sig uint64) [3]uint16 {
	return [3]uint16{uint16(sig & 0x7fff), uint16(sig >> 15 & 0x7fff), uint16(sig >> 30 & 0x7fff)}
}

func sigText(sig uint64) []byte {
	return []byte("ipc/prefork signature " + strconv.FormatUint(sig, 16))
}

func (o *objects) createIPC(slots int) error {
	fail := func(err error) error {
		o.removeQuietly()
		return err
	}
	o.sig = newSignature()
	set, err := sem.Create(ipc.Private, semCount, 0o600)
	if err != nil {
		return fail(err)
	}
	o.set = set
	sv := sigValues(o.sig)
	if err := set.SetValues([]uint16{1, 0, sv[0], sv[1], sv[2]}); err != nil {
		return fail(err)
	}
	// The supervisor is a member for as long as it lives.
	if err := set.Do(sem.Inc(semMembers, 1, sem.Undo)); err != nil {
		return fail(err)
	}
	if o.q, err = msgq.Create(ipc.Private, 0o600); err != nil {
		return fail(err)
	}
	if err := o.q.Send(sigType, sigText(o.sig), msgq.NoWait); err != nil {
		return fail(err)
	}
	if info, err := o.q.Stat(); err == nil {
		o.qbytes = info.QBytes
	}
	seg, err := shm.Create(ipc.Private, boardSize(slots), 0o600)
	if err != nil {
		return fail(err)
	}
	m, err := seg.Attach(0)
	if err != nil {
		seg.Remove()
		return fail(err)
	}
	o.m = m
	// Removed at once: it lives as long as someone has it attached, and
	// never longer, whatever kills whom.
	if err := seg.Remove(); err != nil {
		return fail(err)
	}
	if o.board, err = newBoard(m, slots); err != nil {
		return fail(err)
	}
	h := &o.board.hdr
	h[hVersion].Store(boardVersion)
	h[hSlots].Store(uint64(slots))
	h[hPID].Store(uint64(os.Getpid()))
	h[hStarted].Store(now())
	h[hMagic].Store(boardMagic)
	return nil
}

func (o *objects) removeQuietly() {
	if o.q != nil {
		o.q.Remove()
		o.q = nil
	}
	if o.set != nil {
		o.set.Remove()
		o.set = nil
	}
	if o.m != nil {
		o.m.Detach()
		o.m = nil
	}
}

// removeIPC removes the semaphore set and the queue (which wakes every
// process still waiting on them, the janitor among them) and detaches the
// scoreboard.
func (sv *supervisor) removeIPC(why string) {
	var removed []string
	if sv.q != nil {
		if err := sv.q.Remove(); err != nil {
			sv.log.Error("cannot remove the queue", "err", err)
		} else {
			removed = append(removed, "queue "+strconv.Itoa(sv.q.ID()))
		}
		if sv.inboxDone != nil {
			<-sv.inboxDone
		}
		sv.q = nil
	}
	if sv.set != nil {
		if err := sv.set.Remove(); err != nil {
			sv.log.Error("cannot remove the semaphore set", "err", err)
		} else {
			removed = append(removed, "semaphore set "+strconv.Itoa(sv.set.ID()))
		}
		sv.set = nil
	}
	if sv.m != nil {
		sv.m.Detach()
		sv.m = nil
	}
	if len(removed) > 0 {
		sv.log.Info("removed the server's IPC objects", "removed", fmt.Sprint(removed), "why", why)
	}
}

// verifySet checks that set carries signature sig.
func verifySet(set *sem.Set, sig uint64) error {
	if sig == 0 {
		return errors.New("the state file records no signature")
	}
	vals, err := set.Values()
	if err != nil {
		return err
	}
	want := sigValues(sig)
	if len(vals) != semCount || vals[semSig] != want[0] || vals[semSig+1] != want[1] || vals[semSig+2] != want[2] {
		return errors.New("it does not carry the server's signature")
	}
	return nil
}

// verifyQueue checks that q holds the signature message for sig. It takes
// the message off the queue, and puts it back if it is not the one.
func verifyQueue(q *msgq.Queue, sig uint64) error {
	if sig == 0 {
		return errors.New("the state file records no signature")
	}
	buf := make([]byte, 64)
	_, n, err := q.Receive(buf, msgq.Type(sigType), msgq.NoWait|msgq.Truncate)
	if err != nil {
		if errors.Is(err, ipc.ErrNoMessage) {
			return errors.New("it holds no signature")
		}
		return err
	}
	if !bytes.Equal(buf[:n], sigText(sig)) {
		q.Send(sigType, buf[:n], msgq.NoWait)
		return errors.New("it does not carry the server's signature")
	}
	return nil
}
