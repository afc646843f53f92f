package msgq

import (
	"encoding/binary"
	"strconv"

	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// Message is one message kept in the layout msgsnd and msgrcv use (the type
// as a C long, then the text, in one buffer), so that SendMessage and
// ReceiveMessage hand it to the kernel as it is. Send and Receive copy the
// text into and out of such a buffer of their own; for large messages at a
// high rate, a Message owned by the caller saves those copies. The zero
// Message is empty, with room for nothing; a Message is not safe for
// concurrent use.
type Message struct {
	buf []byte // LongSize + capacity
	n   int    // length of the text
}

// NewMessage returns an empty Message with room for a text of capacity
// bytes.
func NewMessage(capacity int) *Message {
	return &Message{buf: make([]byte, sys.LongSize+max(capacity, 0))}
}

// Type is the message's type.
func (m *Message) Type() int64 {
	if len(m.buf) < sys.LongSize {
		return 0
	}
	return int64(binary.NativeEndian.Uint64(m.buf))
}

// SetType sets the type the message is sent with (it must be > 0 then).
func (m *Message) SetType(t int64) {
	m.grow(0)
	binary.NativeEndian.PutUint64(m.buf, uint64(t))
}

// Text is the message's text, to read or to fill in place. It aliases the
// Message's buffer: a later ReceiveMessage overwrites it.
func (m *Message) Text() []byte {
	if len(m.buf) < sys.LongSize {
		return nil
	}
	return m.buf[sys.LongSize : sys.LongSize+m.n]
}

// Cap is the longest text the message has room for.
func (m *Message) Cap() int { return max(len(m.buf)-sys.LongSize, 0) }

// SetLen sets the text's length to n, which is clamped to [0, ...]: bytes
// already there are kept, new ones are whatever the buffer held. A length
// past Cap grows the buffer (an allocation).
func (m *Message) SetLen(n int) {
	n = max(n, 0)
	m.grow(n)
	m.n = n
}

// SetText sets the text to a copy of p.
func (m *Message) SetText(p []byte) {
	m.SetLen(len(p))
	copy(m.Text(), p)
}

// grow makes room for n bytes of text, keeping the type and text.
func (m *Message) grow(n int) {
	if len(m.buf) >= sys.LongSize+n {
		return
	}
	b := make([]byte, sys.LongSize+n)
	copy(b, m.buf)
	m.buf = b
}

// SendMessage sends m with its type and text, as Send does but without
// copying the text. flags may be NoWait, making it SendNoWait.
func (q *Queue) SendMessage(m *Message, flags RecvFlags) error {
	if m == nil {
		return q.err("send to", "", unix.EINVAL, "nil *Message")
	}
	if err := q.checkSend(m.Type(), m.n); err != nil {
		return err
	}
	if flags&^NoWait != 0 {
		return q.err("send to", "", unix.EINVAL, "send flags 0x"+strconv.FormatInt(int64(flags&^NoWait), 16)+": only NoWait")
	}
	if e := q.msgsnd(m.buf, m.n, int(flags)); e != 0 {
		return q.sendErr(e, m.n, waitEnded{})
	}
	return nil
}

// ReceiveMessage receives into m, as Receive does into a buffer of m.Cap()
// bytes, without copying: afterwards m.Type() and m.Text() are the message
// taken. On error m is unchanged.
func (q *Queue) ReceiveMessage(m *Message, sel Selector, flags RecvFlags) error {
	msgtyp, f, err := q.checkRecv(sel, flags)
	if err != nil {
		return err
	}
	if m == nil {
		return q.err("receive from", "", unix.EINVAL, "nil *Message")
	}
	m.grow(0)
	n, e := q.msgrcv(m.buf, m.Cap(), msgtyp, f)
	if e != 0 {
		return q.recvErr(e, m.Cap(), waitEnded{})
	}
	m.n = n
	return nil
}
