package prefork

import (
	"bytes"
	"encoding/binary"
	"sync/atomic"
	"time"

	"github.com/ipctoolkit/ipc/shm"
)

// The scoreboard is one System V shared memory segment: a header, then one
// slot per worker. Every field is a 64-bit word read and written with atomic
// loads and stores, so no lock is ever held across processes (a lock held by
// a process killed mid-update would be released by SEM_UNDO, but its
// half-written record would stay). Each slot has one writer at a time: the
// supervisor when it hands the slot out and after it has reaped the worker,
// the worker in between.
const (
	boardMagic   = 0x3146524f4e525043 // "CPRNORF1" read as little endian bytes
	boardVersion = 2
	headerSize   = 512
	slotSize     = 512
	headerWords  = headerSize / 8
	slotWords    = slotSize / 8
)

// Header words.
const (
	hMagic      = iota
	hVersion    // layout version
	hSlots      // number of slots
	hPID        // the supervisor's pid
	hGeneration // the generation new workers are started in
	hStarted    // the supervisor's start, unix nanoseconds
	hWant       // the number of workers the pool is kept at
	hDeadConns  // counters of the workers already reaped, summed
	hDeadRequests
	hDeadBytesIn
	hDeadBytesOut
	hHolder      // the pid holding the accept lock, as the supervisor last saw it (0: none)
	hHolderSince // since when it holds it, unix nanoseconds
)

// Header words 16 to 63 are laid out in bands, one for each part of the
// server that keeps its own counters, so that each names its words in its
// own file: 16 to 23 the server's modes (fork, pass, reuseport), 24 to 31
// the pool's manager (dynamic and ondemand pools, the crash breaker), 32 to
// 47 the operator's counters (request timeouts, the slow log, the metrics);
// 48 to 63 are free.

// Slot words.
const (
	wPID        = iota
	wGeneration // the generation the worker was started in
	wState      // lifecycle: stateFree, stateStarting, stateReady, stateStopping
	wConns      // connections accepted
	wActive     // connections open now
	wRequests   // connections, or HTTP requests for an http.Handler
	wBytesIn
	wBytesOut
	wStarted    // unix nanoseconds
	wLastActive // unix nanoseconds of the last accept, read or close
	wHeartbeat  // unix nanoseconds; the accept loop beats at least once a second
	wWakeups    // times the listener woke this worker (poll said readable)
	wFutile     // wakeups that found no connection to accept (the herd)
	wLocks      // times this worker took the accept lock
	wPanics     // handler panics recovered
	wHolding    // 1 while the worker holds the accept lock (hHolderSince says since when)
	wReason     // why the worker is stopping (a reason* code), read when it is reaped
	// Written by the supervisor, read by the worker: an order that holds
	// even when its doorbell (the control message) was lost.
	wOrder
	wInboxRead  // messages the worker took from its inbox
	wInboxBytes // and their bytes: with what the supervisor sent, who fills the queue
	// wWhy starts textWords words of text: why the worker could not start,
	// written before it exits, read once it is reaped (its message may
	// arrive after its end).
	wWhy
)

// textWords is the length of a slot's text, which ends at word 32, where
// the bands begin: as the header's, 32 to 39 for the modes, 40 to 47 for
// the pool, 48 to 59 for the operator's counters; 60 to 63 are free.
const textWords = 32 - wWhy

// Orders in wOrder.
const (
	orderNone uint64 = iota
	orderStop
)

// Lifecycle states kept in wState: the scoreboard, not the queue, is what
// the supervisor's decisions rest on. The supervisor writes stateStarting
// before it starts a worker and stateFree once it has reaped it; the worker
// writes stateReady when it serves and stateStopping when it drains.
const (
	stateFree uint64 = iota
	stateStarting
	stateReady
	stateStopping
)

// board is an attached scoreboard: the counters of the header and of every
// slot, resolved once so that updating one is a single atomic instruction
// with no allocation.
type board struct {
	m     *shm.Mapping
	hdr   [headerWords]*atomic.Uint64
	slots [][slotWords]*atomic.Uint64
}

func boardSize(slots int) int { return headerSize + slots*slotSize }

// newBoard resolves the words of a mapping laid out for n slots.
func newBoard(m *shm.Mapping, n int) (*board, error) {
	b := &board{m: m, slots: make([][slotWords]*atomic.Uint64, n)}
	for i := range b.hdr {
		w, err := m.Uint64(i * 8)
		if err != nil {
			return nil, err
		}
		b.hdr[i] = w
	}
	for s := range b.slots {
		for i := range b.slots[s] {
			w, err := m.Uint64(headerSize + s*slotSize + i*8)
			if err != nil {
				return nil, err
			}
			b.slots[s][i] = w
		}
	}
	return b, nil
}

// slotCount reads how many slots a mapping's header announces, and whether
// the header is one this package wrote, without trusting it beyond the
// mapping's size.
func slotCount(m *shm.Mapping) (int, bool) {
	magic, err1 := m.Uint64(hMagic * 8)
	version, err2 := m.Uint64(hVersion * 8)
	slots, err3 := m.Uint64(hSlots * 8)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, false
	}
	if magic.Load() != boardMagic || version.Load() != boardVersion {
		return 0, false
	}
	n := slots.Load()
	if n == 0 || n > uint64((m.Len()-headerSize)/slotSize) {
		return 0, false
	}
	return int(n), true
}

func now() uint64 { return uint64(time.Now().UnixNano()) }

// clear empties slot s, keeping nothing of its previous worker.
func (b *board) clear(s int) {
	for _, w := range b.slots[s] {
		w.Store(0)
	}
}

// putText stores up to textWords*8 bytes of t in slot s's text.
func (b *board) putText(s int, t string) {
	w := &b.slots[s]
	var buf [textWords * 8]byte
	copy(buf[:], t)
	for i := range textWords {
		w[wWhy+i].Store(binary.LittleEndian.Uint64(buf[i*8:]))
	}
}

// text reads slot s's text.
func (b *board) text(s int) string {
	w := &b.slots[s]
	var buf [textWords * 8]byte
	for i := range textWords {
		binary.LittleEndian.PutUint64(buf[i*8:], w[wWhy+i].Load())
	}
	t := buf[:]
	if i := bytes.IndexByte(t, 0); i >= 0 {
		t = t[:i]
	}
	return string(t)
}

// retire adds the counters of the reaped worker in slot s to the header's
// totals and empties the slot.
func (b *board) retire(s int) {
	w := &b.slots[s]
	b.hdr[hDeadConns].Add(w[wConns].Load())
	b.hdr[hDeadRequests].Add(w[wRequests].Load())
	b.hdr[hDeadBytesIn].Add(w[wBytesIn].Load())
	b.hdr[hDeadBytesOut].Add(w[wBytesOut].Load())
	b.clear(s)
}

func unixTime(ns uint64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(ns)).UTC()
}

// snapshot reads the whole board into a Status.
func (b *board) snapshot() Status {
	st := Status{
		PID:        int(b.hdr[hPID].Load()),
		Generation: b.hdr[hGeneration].Load(),
		Started:    unixTime(b.hdr[hStarted].Load()),
		Want:       int(b.hdr[hWant].Load()),
		Exited: Totals{
			Connections: b.hdr[hDeadConns].Load(),
			Requests:    b.hdr[hDeadRequests].Load(),
			BytesIn:     b.hdr[hDeadBytesIn].Load(),
			BytesOut:    b.hdr[hDeadBytesOut].Load(),
		},
		Workers:       []WorkerStatus{},
		LockHolder:    int(b.hdr[hHolder].Load()),
		LockHeldSince: unixTime(b.hdr[hHolderSince].Load()),
	}
	st.Total = st.Exited
	for s := range b.slots {
		w := &b.slots[s]
		state := w[wState].Load()
		pid := w[wPID].Load()
		if state == stateFree || pid == 0 {
			continue
		}
		ws := WorkerStatus{
			Slot:        s,
			PID:         int(pid),
			Generation:  w[wGeneration].Load(),
			Connections: w[wConns].Load(),
			Active:      w[wActive].Load(),
			Requests:    w[wRequests].Load(),
			BytesIn:     w[wBytesIn].Load(),
			BytesOut:    w[wBytesOut].Load(),
			Started:     unixTime(w[wStarted].Load()),
			LastActive:  unixTime(w[wLastActive].Load()),
			Heartbeat:   unixTime(w[wHeartbeat].Load()),
			Wakeups:     w[wWakeups].Load(),
			Futile:      w[wFutile].Load(),
			Locks:       w[wLocks].Load(),
			Panics:      w[wPanics].Load(),
		}
		switch {
		case state == stateStarting:
			ws.State = "starting"
		case state == stateStopping:
			ws.State = "stopping"
		case ws.Active > 0:
			ws.State = "busy"
		case w[wHolding].Load() != 0:
			ws.State = "accepting"
		default:
			ws.State = "idle"
		}
		b.modeWorker(s, &ws)
		st.Workers = append(st.Workers, ws)
		st.Total.Connections += ws.Connections
		st.Total.Requests += ws.Requests
		st.Total.BytesIn += ws.BytesIn
		st.Total.BytesOut += ws.BytesOut
	}
	b.modeStatus(&st)
	return st
}

// Status is a snapshot of a running server's scoreboard, as `ipc status`
// prints it and the http handler's /status serves it.
type Status struct {
	// PID is the supervisor's process id.
	PID int `json:"pid"`
	// Addr is the address the server listens on (from its state file;
	// empty when read from inside a worker).
	Addr string `json:"addr,omitempty"`
	// Generation is the generation new workers start in; SIGHUP adds one.
	Generation uint64 `json:"generation"`
	// Want is the number of workers the supervisor keeps running.
	Want    int       `json:"want"`
	Started time.Time `json:"started"`
	// LockHolder is the worker holding the accept lock as the supervisor
	// last saw it (it looks every 100 ms), 0 when nobody does; LockHeldSince
	// is since when. A holder that is stopped or hung is killed.
	LockHolder    int       `json:"lock_holder,omitempty"`
	LockHeldSince time.Time `json:"lock_held_since,omitzero"`
	// Workers lists the occupied slots, in slot order.
	Workers []WorkerStatus `json:"workers"`
	// Exited sums the counters of the workers already gone; Total adds
	// those of the running ones.
	Exited Totals `json:"exited"`
	Total  Totals `json:"total"`

	// The modes (mode.go). Mode is the server's ("prefork", "fork",
	// "pass", "reuseport"). In fork mode Workers are the live children,
	// Children their number, MaxChildren the bound (Want) and Forked the
	// children started so far. In pass mode Passed counts the connections
	// the supervisor passed, to all workers since the start.
	Mode        string `json:"mode,omitempty"`
	Children    int    `json:"children,omitempty"`
	MaxChildren int    `json:"max_children,omitempty"`
	Forked      uint64 `json:"forked,omitempty"`
	Passed      uint64 `json:"passed,omitempty"`
}

// Totals are counters summed over several workers.
type Totals struct {
	Connections uint64 `json:"connections"`
	Requests    uint64 `json:"requests"`
	BytesIn     uint64 `json:"bytes_in"`
	BytesOut    uint64 `json:"bytes_out"`
}

// WorkerStatus is one worker's slot of the scoreboard.
type WorkerStatus struct {
	Slot       int    `json:"slot"`
	PID        int    `json:"pid"`
	Generation uint64 `json:"generation"`
	// State is "starting", "idle" (waiting for the accept lock),
	// "accepting" (holding it, waiting for a connection), "busy" (serving
	// at least one connection) or "stopping".
	State string `json:"state"`
	// Connections counts the connections the worker accepted; Active is
	// how many are open now. Requests counts connections, or HTTP
	// requests for a server with an http.Handler: --max-requests counts
	// these.
	Connections uint64    `json:"connections"`
	Active      uint64    `json:"active"`
	Requests    uint64    `json:"requests"`
	BytesIn     uint64    `json:"bytes_in"`
	BytesOut    uint64    `json:"bytes_out"`
	Started     time.Time `json:"started"`
	LastActive  time.Time `json:"last_active"`
	Heartbeat   time.Time `json:"heartbeat"`
	// Wakeups counts the times the listener woke this worker; Futile, those
	// that found nothing to accept because another process took the
	// connection first (the thundering herd the accept lock prevents).
	// Locks counts the times the worker took the accept lock.
	Wakeups uint64 `json:"wakeups"`
	Futile  uint64 `json:"futile_wakeups"`
	Locks   uint64 `json:"lock_acquisitions"`
	Panics  uint64 `json:"panics"`

	// The modes (mode.go): Passed, in pass mode, counts the connections
	// the supervisor passed to this worker; Socket, in reuseport mode, is
	// the inode of the worker's own listening socket (as in
	// /proc/PID/fd and /proc/net/tcp); Child, in fork mode, says the slot
	// is a child serving one connection.
	Passed uint64 `json:"passed,omitempty"`
	Socket uint64 `json:"socket_inode,omitempty"`
	Child  bool   `json:"child,omitempty"`
}
