package prefork

import (
	"encoding/binary"
)

// Control messages travel on the server's one queue. mtype 1 is the
// supervisor's inbox; mtype slot+2 is the inbox of the worker in that slot.
// A message is a fixed 24-byte header and an optional text:
//
//	0  kind        uint8
//	2  slot        uint16
//	4  pid         int32   sender (to the supervisor) or addressee (to a worker)
//	8  generation  uint64  the worker's generation
//	16 arg         uint64  kind-specific (an exit reason, a count)
//	24 text        ...
//
// A worker drops a message whose pid and generation are not its own: it was
// meant for an earlier occupant of its slot. The supervisor also drains a
// slot's inbox when it reaps the slot's worker.
const (
	supervisorType = 1
	msgHeader      = 24
	// msgBufSize holds any message the kernel accepts (msgmax is 8192 by
	// default); longer ones are truncated on receipt, never rejected.
	msgBufSize = 8192
	// maxBroadcast is the longest text Broadcast sends in one message.
	maxBroadcast = msgBufSize - msgHeader
)

func workerType(slot int) int64 { return int64(slot) + 2 }

type msgKind uint8

const (
	kindReady     msgKind = iota + 1 // worker → supervisor: serving
	kindExiting                      // worker → supervisor: draining, arg = reason, text = words
	kindFailed                       // worker → supervisor: cannot start, text = why
	kindBroadcast                    // both ways: text to every other worker
	kindReport                       // supervisor → worker: log your counters; worker → supervisor: here they are
	kindStop                         // supervisor → worker: stop gracefully, text = why
)

// Kinds (and the exit reasons below) 16 to 63 are in bands, one for each
// part of the server that adds its own, as the scoreboard's words are: 16 to
// 31 the modes, 32 to 47 the pool, 48 to 63 the operator's.

// Exit reasons a worker gives in kindExiting's arg.
const (
	reasonStop uint64 = iota + 1
	reasonMaxRequests
	reasonParentGone
	reasonIPCGone
	reasonSignal
	reasonListener
)

// reasonWords says why a worker stopped, from the code it left in its
// scoreboard slot, for when its own words (kindExiting) did not arrive
// before it was reaped.
func reasonWords(code, requests uint64) string {
	switch code {
	case reasonStop:
		return "asked to stop"
	case reasonMaxRequests:
		return "served its " + itoa(requests) + " requests (--max-requests)"
	case reasonParentGone:
		return "the supervisor is gone"
	case reasonIPCGone:
		return "the server's IPC objects were removed"
	case reasonSignal:
		return "SIGTERM"
	case reasonListener:
		return "the listener failed"
	}
	return modeReasonWords(code)
}

type message struct {
	kind msgKind
	slot int
	pid  int
	gen  uint64
	arg  uint64
	text []byte
}

// encode writes m into buf (which must hold msgHeader+len(text) bytes) and
// returns the bytes to send.
func (m *message) encode(buf []byte) []byte {
	n := msgHeader + len(m.text)
	if n > len(buf) {
		n = len(buf)
	}
	b := buf[:n]
	clear(b[:msgHeader])
	b[0] = byte(m.kind)
	binary.LittleEndian.PutUint16(b[2:], uint16(m.slot))
	binary.LittleEndian.PutUint32(b[4:], uint32(int32(m.pid)))
	binary.LittleEndian.PutUint64(b[8:], m.gen)
	binary.LittleEndian.PutUint64(b[16:], m.arg)
	copy(b[msgHeader:], m.text)
	return b
}

// decode reads a message; its text aliases b. A message shorter than the
// header is refused.
func decode(b []byte) (message, bool) {
	if len(b) < msgHeader {
		return message{}, false
	}
	return message{
		kind: msgKind(b[0]),
		slot: int(binary.LittleEndian.Uint16(b[2:])),
		pid:  int(int32(binary.LittleEndian.Uint32(b[4:]))),
		gen:  binary.LittleEndian.Uint64(b[8:]),
		arg:  binary.LittleEndian.Uint64(b[16:]),
		text: b[msgHeader:],
	}, true
}
