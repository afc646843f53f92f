package msgq

import (
	"context"
	"encoding/binary"
	"strconv"

	"github.com/ipctoolkit/ipc/internal/sys"
	"github.com/ipctoolkit/ipc/ipc"
	"golang.org/x/sys/unix"
)

// Selector says which message a receive takes. The zero Selector is Any.
type Selector struct {
	kind selKind
	typ  int64
}

type selKind uint8

const (
	selAny selKind = iota
	selType
	selUpTo
	selExcept
)

// Any takes the oldest message, whatever its type: the queue as a FIFO
// (msgtyp 0).
func Any() Selector { return Selector{} }

// Type takes the oldest message of type t, which must be > 0 (msgtyp t).
// Several readers sharing one queue each take their own type this way, as
// a server's clients take the replies addressed to their pid.
func Type(t int64) Selector { return Selector{kind: selType, typ: t} }

// UpTo takes the message of the lowest type <= t, the oldest among equals,
// making the types priorities where 1 is the most urgent (msgtyp -t). t must
// be > 0.
func UpTo(t int64) Selector { return Selector{kind: selUpTo, typ: t} }

// Except takes the oldest message whose type is not t (MSG_EXCEPT), t > 0.
func Except(t int64) Selector { return Selector{kind: selExcept, typ: t} }

// String describes the selector as the errors about it do: "any type",
// "type 3", "lowest type <= 3", "any type but 3".
func (s Selector) String() string {
	t := strconv.FormatInt(s.typ, 10)
	switch s.kind {
	case selType:
		return "type " + t
	case selUpTo:
		return "lowest type <= " + t
	case selExcept:
		return "any type but " + t
	}
	return "any type"
}

// args returns msgrcv's msgtyp and the flag to add, or ok false if the
// selector's type is out of range.
func (s Selector) args() (msgtyp int64, flag int, ok bool) {
	switch s.kind {
	case selAny:
		return 0, 0, true
	case selType:
		return s.typ, 0, s.typ > 0
	case selUpTo:
		return -s.typ, 0, s.typ > 0
	case selExcept:
		return s.typ, sys.MSG_EXCEPT, s.typ > 0
	}
	return 0, 0, false
}

// Flags change how a send or a receive behaves; combine them with |. 0 is
// the default: wait, and refuse a message longer than the buffer.
type Flags int

const (
	// NoWait makes the call fail at once instead of waiting (IPC_NOWAIT): a
	// send to a full queue with an error matching ipc.ErrWouldBlock, a
	// receive that finds no matching message with one matching
	// ipc.ErrNoMessage (and ipc.ErrWouldBlock). It suits a sender that must
	// never stall, such as a supervisor writing to its workers.
	NoWait Flags = unix.IPC_NOWAIT
	// Truncate lets a message longer than the buffer be received cut to the
	// buffer's length, the rest lost (MSG_NOERROR). Without it such a
	// message fails the receive with ipc.ErrTooBig and stays queued. A send
	// refuses it.
	Truncate Flags = sys.MSG_NOERROR
)

const recvFlagsMask = NoWait | Truncate

// pack writes a message as msgsnd reads it, the type as a C long and then
// the text, into b, which has room for both.
func pack(b []byte, typ int64, text []byte) {
	binary.NativeEndian.PutUint64(b, uint64(typ))
	copy(b[sys.LongSize:], text)
}

// unpack copies the n-byte text msgrcv left in b into buf and returns the
// message's type.
func unpack(b, buf []byte, n int) int64 {
	copy(buf, b[sys.LongSize:sys.LongSize+n])
	return int64(binary.NativeEndian.Uint64(b))
}

// Send queues a message of type typ (> 0) with text as its body, waiting
// while the queue is full unless flags has NoWait. The text is copied: the
// caller may reuse it as soon as Send returns. A text longer than
// kernel.msgmax fails with an error that matches ipc.ErrTooBig.
//
// A message larger than the queue's capacity (Info.QBytes) can never be
// queued, and Send would wait for ever: use SendContext with a deadline
// where that can happen.
func (q *Queue) Send(typ int64, text []byte, flags Flags) error {
	if err := q.checkSend(typ, len(text), flags); err != nil {
		return err
	}
	var e unix.Errno
	if len(text) <= stackText {
		var a [sys.LongSize + stackText]byte
		b := a[:sys.LongSize+len(text)]
		pack(b, typ, text)
		e = q.snd(b, len(text), int(flags))
	} else {
		p := getScratch(len(text))
		pack(*p, typ, text)
		e = q.snd(*p, len(text), int(flags))
		putScratch(p)
	}
	if e != 0 {
		return q.sendErr(e, len(text), nil)
	}
	return nil
}

// SendContext is Send that gives up when ctx is done, returning an error
// that matches ctx.Err() (and, for a deadline, os.ErrDeadlineExceeded). A
// message that was queued is reported as sent even if ctx ended meanwhile.
func (q *Queue) SendContext(ctx context.Context, typ int64, text []byte, flags Flags) error {
	if ctx.Done() == nil || flags&NoWait != 0 {
		return q.Send(typ, text, flags)
	}
	if err := q.checkSend(typ, len(text), flags); err != nil {
		return err
	}
	p := getScratch(len(text))
	pack(*p, typ, text)
	e, err := withContext(ctx, func(f int, raw bool) unix.Errno { return q.snd1(*p, len(text), int(flags)|f, raw) })
	putScratch(p)
	if e != 0 || err != nil {
		return q.sendErr(e, len(text), err)
	}
	return nil
}

func (q *Queue) checkSend(typ int64, size int, flags Flags) error {
	if err := q.check("send to"); err != nil {
		return err
	}
	if typ <= 0 {
		return q.err("send to", "", unix.EINVAL, "message type must be > 0")
	}
	if flags&^NoWait != 0 {
		return q.err("send to", "", unix.EINVAL, "send flags 0x"+strconv.FormatInt(int64(flags&^NoWait), 16)+": only NoWait")
	}
	if size > 1<<maxClass {
		// Larger than any pooled buffer: check msgmax before allocating
		// one for a send the kernel would refuse.
		var info sys.Msginfo
		if _, ie := sys.MsgctlInfo(sys.IPC_INFO, &info); ie == 0 && size > int(info.Msgmax) {
			return q.err("send to", "", unix.E2BIG, strconv.Itoa(size)+" > msgmax "+strconv.Itoa(int(info.Msgmax)))
		}
	}
	return nil
}

// ctxErr is the cause to report for a wait that a context ended: its
// deadline reads and matches as every timeout does.
func ctxErr(err error) error {
	if err == context.DeadlineExceeded {
		return ipc.ErrTimeout
	}
	return err
}

// sendErr words a failed msgsnd, or a wait that a context ended (ended not
// nil).
func (q *Queue) sendErr(e unix.Errno, size int, ended error) error {
	if ended != nil {
		return q.err("send to", "msgsnd", ctxErr(ended), "")
	}
	detail := noQueueDetail(e)
	switch e {
	case unix.EINVAL:
		// msgsnd says EINVAL for a text longer than msgmax too; callers
		// branch on ipc.ErrTooBig for that, so it is reported as E2BIG.
		var info sys.Msginfo
		if _, ie := sys.MsgctlInfo(sys.IPC_INFO, &info); ie == 0 && size > int(info.Msgmax) {
			return q.err("send to", "msgsnd", unix.E2BIG,
				strconv.Itoa(size)+" > msgmax "+strconv.Itoa(int(info.Msgmax)))
		}
	case unix.EIDRM:
		detail = "the queue was removed while waiting for room"
	case unix.EAGAIN:
		var ds sys.MsqidDS
		if _, se := sys.MsgctlDS(q.id, unix.IPC_STAT, &ds); se == 0 && uint64(size) > ds.Qbytes {
			detail = "the message (" + strconv.Itoa(size) + " bytes) is larger than the queue's capacity (" +
				strconv.FormatUint(ds.Qbytes, 10) + ")"
		} else {
			detail = "the queue is full"
		}
	}
	return q.err("send to", "msgsnd", e, detail)
}

// Receive takes a message that sel selects into buf, waiting until there is
// one unless flags has NoWait, and returns its type and the length of its
// text. A message longer than buf fails with an error that matches
// ipc.ErrTooBig and stays queued, unless flags has Truncate. Removal of the
// queue while waiting gives an error matching ipc.ErrRemoved.
func (q *Queue) Receive(buf []byte, sel Selector, flags Flags) (typ int64, n int, err error) {
	msgtyp, f, err := q.checkRecv(sel, flags)
	if err != nil {
		return 0, 0, err
	}
	var e unix.Errno
	if len(buf) <= stackText {
		var a [sys.LongSize + stackText]byte
		b := a[:sys.LongSize+len(buf)]
		if n, e = q.rcv(b, len(buf), msgtyp, f); e == 0 {
			typ = unpack(b, buf, n)
		}
	} else {
		p := getScratch(len(buf))
		if n, e = q.rcv(*p, len(buf), msgtyp, f); e == 0 {
			typ = unpack(*p, buf, n)
		}
		putScratch(p)
	}
	if e != 0 {
		return 0, 0, q.recvErr(e, len(buf), nil)
	}
	return typ, n, nil
}

// ReceiveContext is Receive that gives up when ctx is done, returning an
// error that matches ctx.Err() (and, for a deadline,
// os.ErrDeadlineExceeded). A message that was taken is returned even if ctx
// ended meanwhile, so none is lost.
func (q *Queue) ReceiveContext(ctx context.Context, buf []byte, sel Selector, flags Flags) (typ int64, n int, err error) {
	if ctx.Done() == nil || flags&NoWait != 0 {
		return q.Receive(buf, sel, flags)
	}
	msgtyp, f, err := q.checkRecv(sel, flags)
	if err != nil {
		return 0, 0, err
	}
	p := getScratch(len(buf))
	e, err := withContext(ctx, func(flags int, raw bool) (e unix.Errno) {
		n, e = q.rcv1(*p, len(buf), msgtyp, f|flags, raw)
		return e
	})
	if e == 0 && err == nil {
		typ = unpack(*p, buf, n)
	}
	putScratch(p)
	if e != 0 || err != nil {
		return 0, 0, q.recvErr(e, len(buf), err)
	}
	return typ, n, nil
}

// Peek copies the message at index (0 is the oldest) into buf without
// taking it off the queue (MSG_COPY), for tools that show what a queue
// holds. It never waits: an index past the last message gives an error
// matching ipc.ErrNoMessage. buf must hold the whole text (else
// ipc.ErrTooBig; the kernel cannot truncate a copy). Kernels built without
// CONFIG_CHECKPOINT_RESTORE lack MSG_COPY: the error then matches
// errors.ErrUnsupported (ENOSYS).
func (q *Queue) Peek(buf []byte, index int) (typ int64, n int, err error) {
	if err := q.check("peek into"); err != nil {
		return 0, 0, err
	}
	if index < 0 {
		return 0, 0, q.err("peek into", "", unix.EINVAL, "index "+strconv.Itoa(index)+" is negative")
	}
	p := getScratch(len(buf))
	n, e := sys.MsgrcvRaw(q.id, *p, len(buf), int64(index), sys.MSG_COPY|unix.IPC_NOWAIT)
	if e == 0 {
		typ = unpack(*p, buf, n)
	}
	putScratch(p)
	if e != 0 {
		detail := noQueueDetail(e)
		switch e {
		case unix.ENOSYS:
			return 0, 0, &ipc.Error{Pkg: pkg, Op: "peek into", Kind: ipc.Queue, ID: q.id, Call: "msgrcv(MSG_COPY)",
				Err: e, Detail: "MSG_COPY is not supported: the kernel lacks CONFIG_CHECKPOINT_RESTORE"}
		case unix.ENOMSG:
			detail = "no message at index " + strconv.Itoa(index)
		case unix.E2BIG:
			detail = "the message is longer than the " + strconv.Itoa(len(buf)) + "-byte buffer"
		}
		return 0, 0, q.err("peek into", "msgrcv(MSG_COPY)", e, detail)
	}
	return typ, n, nil
}

func (q *Queue) checkRecv(sel Selector, flags Flags) (msgtyp int64, f int, err error) {
	if err := q.check("receive from"); err != nil {
		return 0, 0, err
	}
	msgtyp, f, ok := sel.args()
	if !ok {
		return 0, 0, q.err("receive from", "", unix.EINVAL, "selector "+sel.String()+": the type must be > 0")
	}
	if flags&^recvFlagsMask != 0 {
		return 0, 0, q.err("receive from", "", unix.EINVAL, "unknown receive flags 0x"+strconv.FormatInt(int64(flags&^recvFlagsMask), 16))
	}
	return msgtyp, f | int(flags), nil
}

func (q *Queue) recvErr(e unix.Errno, size int, ended error) error {
	if ended != nil {
		return q.err("receive from", "msgrcv", ctxErr(ended), "")
	}
	detail := noQueueDetail(e)
	switch e {
	case unix.E2BIG:
		detail = "the message is longer than the " + strconv.Itoa(size) +
			"-byte buffer and stays queued; receive with Truncate or a larger buffer"
	case unix.EIDRM:
		detail = "the queue was removed while waiting for a message"
	}
	return q.err("receive from", "msgrcv", e, detail)
}
