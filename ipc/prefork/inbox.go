package prefork

import (
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/msgq"
)

// The queue is a doorbell: a message makes the supervisor or a worker look
// sooner, but what it says is also in the scoreboard, so that a full queue
// delays nothing for more than a tick. It can fill: with every worker's
// chat broadcasts for one that does not read (stopped, or stuck in its
// OnBroadcast), or with messages some other process sent. So a slot's
// backlog of broadcasts is capped, and a full queue is logged at most once
// every backlogEvery, saying who holds its room.
const (
	backlogEvery = 2 * time.Second
	// A slot's unread broadcasts may take at most 1/backlogShare of the
	// queue's bytes; past that, its broadcasts are dropped (and counted).
	backlogShare = 4
)

type backlogLog struct {
	fullAt, dropAt time.Time
	full, dropped  int
}

func (sv *supervisor) onMessage(m message) {
	if m.slot >= len(sv.slots) {
		return
	}
	s := sv.slots[m.slot]
	c := s.c
	if c == nil || c.pid != m.pid || c.gen != m.gen {
		return // from a worker already reaped
	}
	now := time.Now()
	switch m.kind {
	case kindReady:
		sv.markReady(c, now, "")
	case kindExiting:
		if !c.draining {
			sv.retiring(c, string(m.text), now)
		}
	case kindFailed:
		sv.log.Error("worker cannot start", "slot", s.i, "pid", c.pid, "why", string(m.text))
		c.reason = "cannot start: " + string(m.text)
		if !sv.announced {
			sv.fail(serverErr("start a worker of", errors.New(string(m.text)), ""))
		}
	case kindReport:
		sv.log.Info("worker report", "slot", s.i, "pid", c.pid, "generation", c.gen, "report", string(m.text))
	case kindBroadcast:
		sv.relay(m, now)
	}
	sv.reconcile(now)
}

// unread is how many messages and bytes slot s has not taken from its
// inbox yet.
func (sv *supervisor) unread(s *slot) (msgs, bytes uint64) {
	w := &sv.board.slots[s.i]
	r, rb := w[wInboxRead].Load(), w[wInboxBytes].Load()
	if r > s.sent || rb > s.sentBytes {
		return 0, 0
	}
	return s.sent - r, s.sentBytes - rb
}

// sendTo puts b in slot s's inbox without waiting, counting it; a full
// queue is logged.
func (sv *supervisor) sendTo(s *slot, b []byte) error {
	err := sv.q.Send(workerType(s.i), b, msgq.NoWait)
	if err == nil {
		s.sent++
		s.sentBytes += uint64(len(b))
		return nil
	}
	if errors.Is(err, ipc.ErrWouldBlock) {
		sv.backlog.full++
		if time.Since(sv.backlog.fullAt) >= backlogEvery {
			info, _ := sv.q.Stat()
			var behind uint64
			for _, s := range sv.slots {
				if s.c != nil {
					m, _ := sv.unread(s)
					behind += m
				}
			}
			// The rest: the supervisor's own inbox, or another process's
			// messages (the signature is one).
			other := max(int64(info.QNum)-int64(behind)-1, 0)
			sv.log.Warn("the queue is full", "messages", info.QNum, "bytes", info.CBytes, "capacity", info.QBytes,
				"last_sender", info.LSPID, "unread", sv.backlogWords(), "not_for_a_worker", other, "sends_failed", sv.backlog.full)
			sv.backlog.fullAt, sv.backlog.full = time.Now(), 0
		}
	}
	return err
}

// backlogWords names the slots with unread messages, the most first:
// "slot 2 (pid 7891, stopped) 14 messages 14336 bytes; ...".
func (sv *supervisor) backlogWords() string {
	type entry struct {
		s           *slot
		msgs, bytes uint64
	}
	var es []entry
	for _, s := range sv.slots {
		if s.c == nil {
			continue
		}
		if m, b := sv.unread(s); m > 0 {
			es = append(es, entry{s, m, b})
		}
	}
	if len(es) == 0 {
		return "no worker is behind: the messages are for the supervisor or another process (see not_for_a_worker, last_sender)"
	}
	sort.Slice(es, func(i, j int) bool { return es[i].bytes > es[j].bytes })
	var parts []string
	for _, e := range es[:min(len(es), 4)] {
		what := "slot " + strconv.Itoa(e.s.i) + " (pid " + strconv.Itoa(e.s.c.pid)
		if e.s.c.stopped || procStopped(e.s.c.pid) {
			what += ", stopped"
		}
		parts = append(parts, what+") "+itoa(e.msgs)+" messages "+itoa(e.bytes)+" bytes")
	}
	return strings.Join(parts, "; ")
}

// relay passes a broadcast on to every other worker, without waiting. A
// worker whose unread broadcasts already take its share of the queue misses
// it (counted, and logged once every backlogEvery), so that one worker that
// does not read cannot fill the queue for everyone.
func (sv *supervisor) relay(m message, now time.Time) {
	var buf [msgBufSize]byte
	from := m.slot
	capacity := sv.qbytes
	if capacity == 0 {
		capacity = 16384 // MSGMNB's default
	}
	var behind []string
	for _, s := range sv.slots {
		c := s.c
		if c == nil || s.i == from || c.draining {
			continue
		}
		out := message{kind: kindBroadcast, slot: s.i, pid: c.pid, gen: c.gen, arg: uint64(from), text: m.text}
		b := out.encode(buf[:])
		if _, unread := sv.unread(s); unread+uint64(len(b)) > capacity/backlogShare {
			sv.backlog.dropped++
			behind = append(behind, strconv.Itoa(s.i))
			continue
		}
		if sv.sendTo(s, b) != nil {
			sv.backlog.dropped++
		}
	}
	if len(behind) > 0 && now.Sub(sv.backlog.dropAt) >= backlogEvery {
		sv.log.Warn("a worker does not read its inbox; dropping its broadcasts", "slots", strings.Join(behind, ","),
			"unread", sv.backlogWords(), "dropped", sv.backlog.dropped)
		sv.backlog.dropAt, sv.backlog.dropped = now, 0
	}
}

// purge drops what is left in a reaped worker's inbox, so that its
// successor in the slot starts with an empty one.
func (sv *supervisor) purge(slot int) {
	var buf [msgHeader]byte
	for {
		if _, _, err := sv.q.Receive(buf[:], msgq.Type(workerType(slot)), msgq.NoWait|msgq.Truncate); err != nil {
			return
		}
	}
}
