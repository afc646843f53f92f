package msgq_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/ipc/proc"
	"github.com/ipctoolkit/ipc/msgq"
	"golang.org/x/sys/unix"
)

func send(t *testing.T, q *msgq.Queue, typ int64, text string) {
	t.Helper()
	if err := q.Send(typ, []byte(text), msgq.NoWait); err != nil {
		t.Fatal(err)
	}
}

// recv takes a message with NoWait and returns it as "type:text".
func recv(t *testing.T, q *msgq.Queue, sel msgq.Selector) string {
	t.Helper()
	buf := make([]byte, 256)
	typ, n, err := q.Receive(buf, sel, msgq.NoWait)
	if err != nil {
		t.Fatalf("receive %v: %v", sel, err)
	}
	return strconv.FormatInt(typ, 10) + ":" + string(buf[:n])
}

// LTP msgsnd01 and msgrcv01: what a send and a receive record.
func TestSendReceiveStat(t *testing.T) {
	q := newQueue(t)
	// The kernel stamps whole seconds of its coarse clock, which lags
	// time.Now by up to a tick: just after a second begins it still says
	// the one before. sem and shm allow a second, as here.
	before := time.Now().Add(-time.Second)
	if err := q.Send(7, []byte("hello, queue"), 0); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	info, _ := q.Stat()
	if info.QNum != 1 || info.CBytes != 12 || info.LSPID != os.Getpid() || info.LRPID != 0 ||
		info.STime.Before(before) || info.STime.After(after) || !info.RTime.IsZero() {
		t.Errorf("after a send: %+v", info)
	}
	buf := make([]byte, 100)
	typ, n, err := q.Receive(buf, msgq.Any(), 0)
	if err != nil || typ != 7 || string(buf[:n]) != "hello, queue" {
		t.Fatalf("Receive = %d, %q, %v", typ, buf[:n], err)
	}
	after = time.Now()
	info, _ = q.Stat()
	if info.QNum != 0 || info.CBytes != 0 || info.LRPID != os.Getpid() || info.RTime.Before(before) || info.RTime.After(after) {
		t.Errorf("after a receive: %+v", info)
	}
}

// Binary text, NUL bytes included, comes back exactly; so does an empty one.
func TestBinaryAndEmpty(t *testing.T) {
	q := newQueue(t)
	text := make([]byte, 8000)
	for i := range text {
		text[i] = byte(rand.IntN(256))
	}
	text[0], text[4000], text[7999] = 0, 0, 0
	if err := q.Send(1, text, 0); err != nil {
		t.Fatal(err)
	}
	if err := q.Send(2, nil, 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8192)
	typ, n, err := q.Receive(buf, msgq.Any(), 0)
	if err != nil || typ != 1 || !bytes.Equal(buf[:n], text) {
		t.Errorf("8000 random bytes: type %d, %d bytes, equal %v, %v", typ, n, bytes.Equal(buf[:n], text), err)
	}
	typ, n, err = q.Receive(nil, msgq.Any(), 0)
	if err != nil || typ != 2 || n != 0 {
		t.Errorf("empty message: type %d, %d bytes, %v", typ, n, err)
	}
}

// Texts on either side of the stack buffer's and the pool classes' limits
// come back whole, into buffers of the exact size and larger.
func TestSizes(t *testing.T) {
	q := newQueue(t)
	for _, size := range []int{1, 63, 64, 65, 511, 512, 513, 1023, 1024, 1025, 4096, 8191, 8192} {
		text := make([]byte, size)
		for i := range text {
			text[i] = byte(rand.IntN(256))
		}
		for _, room := range []int{size, size + 1, 8192} {
			if err := q.Send(int64(size), text, 0); err != nil {
				t.Fatalf("size %d: %v", size, err)
			}
			buf := make([]byte, room)
			typ, n, err := q.Receive(buf, msgq.Any(), 0)
			if err != nil || typ != int64(size) || !bytes.Equal(buf[:n], text) {
				t.Errorf("size %d into %d bytes: type %d, %d bytes, equal %v, %v", size, room, typ, n, bytes.Equal(buf[:n], text), err)
			}
		}
	}
}

// LTP msgrcv07: type 0 is FIFO, > 0 the oldest of that type, < 0 the lowest
// type up to |t|, MSG_EXCEPT the oldest of another type.
func TestSelectors(t *testing.T) {
	q := newQueue(t)
	fill := func() {
		for _, m := range []struct {
			typ  int64
			text string
		}{{3, "a"}, {1, "b"}, {2, "c"}, {1, "d"}, {3, "e"}} {
			send(t, q, m.typ, m.text)
		}
	}
	drain := func(sel msgq.Selector) (got []string) {
		for {
			buf := make([]byte, 16)
			typ, n, err := q.Receive(buf, sel, msgq.NoWait)
			if errors.Is(err, ipc.ErrNoMessage) {
				return got
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, strconv.FormatInt(typ, 10)+":"+string(buf[:n]))
		}
	}
	for _, c := range []struct {
		sel  msgq.Selector
		want string
	}{
		{msgq.Any(), "[3:a 1:b 2:c 1:d 3:e]"},
		{msgq.Selector{}, "[3:a 1:b 2:c 1:d 3:e]"},
		{msgq.Type(1), "[1:b 1:d]"},
		{msgq.Type(3), "[3:a 3:e]"},
		{msgq.Type(4), "[]"},
		{msgq.UpTo(2), "[1:b 1:d 2:c]"},
		{msgq.UpTo(3), "[1:b 1:d 2:c 3:a 3:e]"},
		{msgq.Except(1), "[3:a 2:c 3:e]"},
		{msgq.Except(3), "[1:b 2:c 1:d]"},
	} {
		fill()
		if got := fmt.Sprint(drain(c.sel)); got != c.want {
			t.Errorf("%v: %s, want %s", c.sel, got, c.want)
		}
		drain(msgq.Any())
	}
}

// LTP msgrcv08: a negative type with NoWait|Truncate returns the message
// with its size and type right.
func TestUpToTruncate(t *testing.T) {
	q := newQueue(t)
	send(t, q, 5, "0123456789")
	buf := make([]byte, 4)
	typ, n, err := q.Receive(buf, msgq.UpTo(5), msgq.NoWait|msgq.Truncate)
	if err != nil || typ != 5 || n != 4 || string(buf) != "0123" {
		t.Errorf("Receive = %d, %d %q, %v; want 5, 4 \"0123\"", typ, n, buf, err)
	}
}

// LTP msgrcv02 (E2BIG) and msgrcv07 (MSG_NOERROR): a message longer than
// the buffer stays queued unless Truncate is given.
func TestTooBigForBuffer(t *testing.T) {
	q := newQueue(t)
	send(t, q, 1, "0123456789")
	_, _, err := q.Receive(make([]byte, 9), msgq.Any(), 0)
	checkErr(t, err, unix.E2BIG, "stays queued")
	if !errors.Is(err, ipc.ErrTooBig) {
		t.Errorf("%v should match ipc.ErrTooBig", err)
	}
	if info, _ := q.Stat(); info.QNum != 1 {
		t.Errorf("after E2BIG %d messages queued, want 1", info.QNum)
	}
	buf := make([]byte, 9)
	typ, n, err := q.Receive(buf, msgq.Any(), msgq.Truncate)
	if err != nil || typ != 1 || n != 9 || string(buf) != "012345678" {
		t.Errorf("Truncate: %d, %d %q, %v", typ, n, buf, err)
	}
	if info, _ := q.Stat(); info.QNum != 0 {
		t.Errorf("after a truncated receive %d messages queued, want 0", info.QNum)
	}
}

// LTP msgrcv02: ENOMSG with NoWait, for each kind of selector that finds
// nothing.
func TestNoMessage(t *testing.T) {
	q := newQueue(t)
	send(t, q, 2, "x")
	for _, sel := range []msgq.Selector{msgq.Type(3), msgq.UpTo(1), msgq.Except(2)} {
		_, _, err := q.Receive(make([]byte, 8), sel, msgq.NoWait)
		checkErr(t, err, unix.ENOMSG, "")
		if !errors.Is(err, ipc.ErrNoMessage) || !errors.Is(err, ipc.ErrWouldBlock) {
			t.Errorf("%v should match ipc.ErrNoMessage and ipc.ErrWouldBlock", err)
		}
	}
	q.Receive(make([]byte, 8), msgq.Any(), msgq.NoWait)
	_, _, err := q.Receive(make([]byte, 8), msgq.Any(), msgq.NoWait)
	checkErr(t, err, unix.ENOMSG, "")
}

// LTP msgsnd02: EINVAL for a type <= 0 and for a bad id; a text longer than
// msgmax (EINVAL from the kernel) is reported as too big.
func TestSendInvalid(t *testing.T) {
	q := newQueue(t)
	for _, typ := range []int64{0, -1} {
		err := q.Send(typ, []byte("x"), 0)
		if e := checkErr(t, err, unix.EINVAL, "message type must be > 0"); e.ID != q.ID() {
			t.Errorf("error %q names id %d", err, e.ID)
		}
	}
	lim, err := ipc.ReadLimits()
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, lim.MSGMAX+1)
	err = q.Send(1, big, 0)
	checkErr(t, err, unix.E2BIG, fmt.Sprintf("%d > msgmax %d", lim.MSGMAX+1, lim.MSGMAX))
	if want := fmt.Sprintf("msgq: send to queue %d: too big (%d > msgmax %d)", q.ID(), lim.MSGMAX+1, lim.MSGMAX); err.Error() != want {
		t.Errorf("error text %q, want %q", err, want)
	}
	if err := q.Send(1, big[:lim.MSGMAX], 0); err != nil {
		t.Errorf("a message of exactly msgmax bytes: %v", err)
	}
	// Past the largest pooled buffer the check comes before the copy.
	if lim.MSGMAX < 32<<20 {
		err = q.Send(1, make([]byte, 32<<20), 0)
		if e := checkErr(t, err, unix.E2BIG, fmt.Sprintf("%d > msgmax", 32<<20)); e.Call != "" {
			t.Errorf("error %q names call %q: no system call should have been made", err, e.Call)
		}
	}
	q.Remove()
	checkErr(t, q.Send(1, []byte("x"), 0), unix.EINVAL, "no queue with this id")
	_, _, err = q.Receive(make([]byte, 8), msgq.Any(), 0)
	checkErr(t, err, unix.EINVAL, "no queue with this id")
}

func TestReceiveInvalid(t *testing.T) {
	q := newQueue(t)
	buf := make([]byte, 8)
	for _, sel := range []msgq.Selector{msgq.Type(0), msgq.Type(-2), msgq.UpTo(0), msgq.UpTo(-1), msgq.Except(0), msgq.Except(-5)} {
		_, _, err := q.Receive(buf, sel, msgq.NoWait)
		checkErr(t, err, unix.EINVAL, "the type must be > 0")
	}
	_, _, err := q.Receive(buf, msgq.Any(), msgq.NoWait|0o40000)
	checkErr(t, err, unix.EINVAL, "unknown receive flags")
	_, _, err = receiveTimeout(q, buf, msgq.Type(0), 0, time.Second)
	checkErr(t, err, unix.EINVAL, "the type must be > 0")
	_, _, err = q.ReceiveContext(t.Context(), buf, msgq.UpTo(0), 0)
	checkErr(t, err, unix.EINVAL, "the type must be > 0")
	checkErr(t, sendTimeout(q, 0, buf, time.Second), unix.EINVAL, "message type must be > 0")
	checkErr(t, q.SendContext(t.Context(), -1, buf, 0), unix.EINVAL, "message type must be > 0")
}

// LTP msgsnd02 and msgrcv02: EACCES for nobody without write or read
// permission.
func TestSendReceivePermission(t *testing.T) {
	q := newQueue(t)
	send(t, q, 1, "x")
	id := strconv.Itoa(q.ID())
	for _, c := range []struct {
		mode       ipc.Mode
		send, recv string
	}{{0, "EACCES", "EACCES"}, {0o004, "EACCES", "ok"}, {0o002, "ok", "EACCES"}} {
		if err := q.SetMode(c.mode); err != nil {
			t.Fatal(err)
		}
		if got := runOp(t, true, "send", id); got != c.send {
			t.Errorf("nobody send, mode %o: %s, want %s", c.mode, got, c.send)
		}
		if got := runOp(t, true, "recv", id); got != c.recv {
			t.Errorf("nobody receive, mode %o: %s, want %s", c.mode, got, c.recv)
		}
	}
}

// fillQueue sends 1000-byte messages of type 9 until the queue is full.
func fillQueue(t *testing.T, q *msgq.Queue) {
	t.Helper()
	for {
		err := q.Send(9, make([]byte, 1000), msgq.NoWait)
		if errors.Is(err, ipc.ErrWouldBlock) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// LTP msgsnd05: EAGAIN when the queue is full and NoWait.
func TestSendFull(t *testing.T) {
	q := newQueue(t)
	fillQueue(t, q)
	err := q.Send(1, make([]byte, 1000), msgq.NoWait)
	checkErr(t, err, unix.EAGAIN, "the queue is full")
	if err := q.SetMaxBytes(500); err != nil {
		t.Fatal(err)
	}
	q.Receive(make([]byte, 1000), msgq.Any(), msgq.NoWait)
	err = q.Send(1, make([]byte, 501), msgq.NoWait)
	checkErr(t, err, unix.EAGAIN, "larger than the queue's capacity (500)")
}

// A signal handler running in the thread of a blocked Send or Receive
// makes the call fail with EINTR; the package retries (LTP msgsnd05 and
// msgrcv05 expect the raw EINTR).
func TestSignalsDoNotInterrupt(t *testing.T) {
	q := newQueue(t)
	fillQueue(t, q)
	tids := make(chan int, 2)
	sent, got := make(chan error, 1), make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tids <- unix.Gettid()
		sent <- q.Send(1, make([]byte, 1000), 0)
	}()
	r := newQueue(t)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tids <- unix.Gettid()
		_, _, err := r.Receive(make([]byte, 8), msgq.Any(), 0)
		got <- err
	}()
	waitBlocked(t, os.Getpid(), "do_msgsnd")
	waitBlocked(t, os.Getpid(), "do_msgrcv")
	for _, tid := range []int{<-tids, <-tids} {
		for range 50 {
			if err := unix.Tgkill(os.Getpid(), tid, unix.SIGURG); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	select {
	case err := <-sent:
		t.Fatalf("Send returned before there was room: %v", err)
	case err := <-got:
		t.Fatalf("Receive returned before there was a message: %v", err)
	default:
	}
	q.Receive(make([]byte, 1000), msgq.Any(), msgq.NoWait)
	send(t, r, 1, "x")
	if err := <-sent; err != nil {
		t.Errorf("Send: %v", err)
	}
	if err := <-got; err != nil {
		t.Errorf("Receive: %v", err)
	}
}

// LTP msgsnd06 and msgrcv06: removing the queue wakes the waiters with
// EIDRM.
func TestRemoveWakesWaiters(t *testing.T) {
	q := newQueue(t)
	fillQueue(t, q)
	sent, got := make(chan error, 1), make(chan error, 1)
	go func() { sent <- q.Send(1, make([]byte, 1000), 0) }()
	go func() { _, _, err := q.Receive(make([]byte, 8), msgq.Type(5), 0); got <- err }()
	waitBlocked(t, os.Getpid(), "do_msgsnd")
	waitBlocked(t, os.Getpid(), "do_msgrcv")
	if err := q.Remove(); err != nil {
		t.Fatal(err)
	}
	// A waiter in the kernel gets EIDRM. One that a signal had just
	// interrupted (the runtime's preemption, say) makes its call again
	// after the removal and gets EINVAL for an id that names nothing, which
	// matches ipc.ErrRemoved as well: that is what callers branch on.
	for _, c := range []struct {
		err    error
		detail string
	}{{<-sent, "removed while waiting for room"}, {<-got, "removed while waiting for a message"}} {
		if !errors.Is(c.err, ipc.ErrRemoved) {
			t.Errorf("%v should match ipc.ErrRemoved", c.err)
		}
		if !errors.Is(c.err, unix.EINVAL) {
			checkErr(t, c.err, unix.EIDRM, c.detail)
		}
	}
}

// The same with the waiter in another process.
func TestRemoveWakesChild(t *testing.T) {
	q := newQueue(t)
	c := proc.Command("blockrecv", strconv.Itoa(q.ID()))
	var out bytes.Buffer
	c.Stdout = &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitBlocked(t, c.Pid(), "do_msgrcv")
	if err := q.Remove(); err != nil {
		t.Fatal(err)
	}
	st, err := c.Wait()
	if err != nil || !st.Success() {
		t.Errorf("child: %v, %v; printed %q", st, err, out.String())
	}
}

// A child process sends, this one receives: types, texts and the sender's
// pid come through.
func TestCrossProcess(t *testing.T) {
	q := newQueue(t)
	const n = 200
	c := proc.Command("sender", strconv.Itoa(q.ID()), strconv.Itoa(n))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	for i := range n {
		typ, m, err := receiveTimeout(q, buf, msgq.Any(), 0, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if want := "message " + strconv.Itoa(i); typ != int64(i+1) || string(buf[:m]) != want {
			t.Fatalf("message %d: type %d %q, want type %d %q", i, typ, buf[:m], i+1, want)
		}
	}
	if st, err := c.Wait(); err != nil || !st.Success() {
		t.Fatalf("child: %v, %v", st, err)
	}
	info, _ := q.Stat()
	if info.LSPID != c.Pid() || !ourThread(info.LRPID) {
		t.Errorf("lspid %d lrpid %d, want %d and a thread of %d", info.LSPID, info.LRPID, c.Pid(), os.Getpid())
	}

	// msg_lrpid is the receiving thread's id, not the process's, when the
	// kernel hands a message straight to a receiver already waiting
	// (pipelined_send in ipc/msg.c), which is what made this test fail
	// about one run in six when it wanted the pid: a receiver blocked on a
	// thread other than the main one shows it every time.
	tid := make(chan int, 1)
	got := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid <- unix.Gettid()
		_, _, err := q.Receive(buf, msgq.Type(999), 0)
		got <- err
	}()
	receiver := <-tid
	waitBlocked(t, os.Getpid(), "do_msgrcv")
	send(t, q, 999, "straight to the receiver")
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	info, _ = q.Stat()
	if info.LRPID != receiver || !ourThread(info.LRPID) {
		t.Errorf("lrpid %d after a pipelined send, want the receiving thread %d", info.LRPID, receiver)
	}
}

// ourThread reports whether tid is the id of a thread of this process.
func ourThread(tid int) bool {
	_, err := os.Stat("/proc/self/task/" + strconv.Itoa(tid))
	return tid > 0 && err == nil
}

// LTP msgrcv03 and msgrcv07: MSG_COPY copies the message at an index and
// leaves the queue as it was.
func TestPeek(t *testing.T) {
	q := newQueue(t)
	send(t, q, 4, "first")
	send(t, q, 2, "second")
	buf := make([]byte, 16)
	typ, n, err := q.Peek(buf, 1)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("no MSG_COPY here: %v", err)
	}
	if err != nil || typ != 2 || string(buf[:n]) != "second" {
		t.Errorf("Peek(1) = %d %q, %v", typ, buf[:n], err)
	}
	if typ, n, err := q.Peek(buf, 0); err != nil || typ != 4 || string(buf[:n]) != "first" {
		t.Errorf("Peek(0) = %d %q, %v", typ, buf[:n], err)
	}
	if info, _ := q.Stat(); info.QNum != 2 || info.LRPID != 0 {
		t.Errorf("after Peek: %+v; want both messages queued, none received", info)
	}
	_, _, err = q.Peek(buf, 2)
	checkErr(t, err, unix.ENOMSG, "no message at index 2")
	_, _, err = q.Peek(buf, -1)
	checkErr(t, err, unix.EINVAL, "negative")
	_, _, err = q.Peek(buf[:3], 0)
	checkErr(t, err, unix.E2BIG, "longer than the 3-byte buffer")
	if got := recv(t, q, msgq.Any()); got != "4:first" {
		t.Errorf("after Peek, Receive = %s", got)
	}
	if got := runOp(t, true, "peek", strconv.Itoa(q.ID())); got != "EACCES" {
		t.Errorf("nobody Peek: %s, want EACCES", got)
	}
}

// within fails unless start+d <= now <= start+d+slack.
func within(t *testing.T, start time.Time, d, slack time.Duration) {
	t.Helper()
	if el := time.Since(start); el < d || el > d+slack {
		t.Errorf("returned after %v, want %v (+%v)", el, d, slack)
	}
}

// A context's deadline ends a receive with ipc.ErrTimeout, which matches
// both os.ErrDeadlineExceeded and context.DeadlineExceeded.
func TestReceiveDeadline(t *testing.T) {
	q := newQueue(t)
	buf := make([]byte, 8)
	start := time.Now()
	_, _, err := receiveTimeout(q, buf, msgq.Any(), 0, 50*time.Millisecond)
	within(t, start, 50*time.Millisecond, 50*time.Millisecond)
	if e := checkErr(t, err, 0, ""); e.Err != ipc.ErrTimeout || !errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(err, context.DeadlineExceeded) || !e.Timeout() {
		t.Errorf("%v should be ipc.ErrTimeout and match os.ErrDeadlineExceeded", err)
	}
	// A context already past its deadline does not wait, nor take a
	// message.
	send(t, q, 3, "now")
	start = time.Now()
	_, _, err = receiveTimeout(q, buf, msgq.Any(), 0, 0)
	if !errors.Is(err, ipc.ErrTimeout) || time.Since(start) > 10*time.Millisecond {
		t.Errorf("d = 0: %v after %v", err, time.Since(start))
	}
	if typ, n, err := receiveTimeout(q, buf, msgq.Any(), 0, time.Second); err != nil || typ != 3 || string(buf[:n]) != "now" {
		t.Errorf("queued message: %d %q, %v", typ, buf[:n], err)
	}
	// A message that comes while waiting.
	go func() {
		if !blockedIn(os.Getpid(), "do_msgrcv") {
			t.Error("the receive never blocked")
		}
		q.Send(4, []byte("late"), 0)
	}()
	if typ, n, err := receiveTimeout(q, buf, msgq.Type(4), 0, 10*time.Second); err != nil || typ != 4 || string(buf[:n]) != "late" {
		t.Errorf("message while waiting: %d %q, %v", typ, buf[:n], err)
	}
	// NoWait wins over the deadline.
	_, _, err = receiveTimeout(q, buf, msgq.Any(), msgq.NoWait, time.Hour)
	checkErr(t, err, unix.ENOMSG, "")
}

func TestSendDeadline(t *testing.T) {
	q := newQueue(t)
	fillQueue(t, q)
	start := time.Now()
	err := sendTimeout(q, 1, make([]byte, 1000), 50*time.Millisecond)
	within(t, start, 50*time.Millisecond, 50*time.Millisecond)
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(err, ipc.ErrTimeout) {
		t.Errorf("%v should match os.ErrDeadlineExceeded", err)
	}
	if want := fmt.Sprintf("msgq: send to queue %d: timed out", q.ID()); err.Error() != want {
		t.Errorf("error text %q, want %q", err, want)
	}
	go func() {
		if !blockedIn(os.Getpid(), "do_msgsnd") {
			t.Error("the send never blocked")
		}
		q.Receive(make([]byte, 1000), msgq.Type(9), msgq.NoWait)
	}()
	if err := sendTimeout(q, 1, make([]byte, 1000), 10*time.Second); err != nil {
		t.Errorf("room made while waiting: %v", err)
	}
	if err := sendTimeout(q, 1, make([]byte, 1000), 0); !errors.Is(err, ipc.ErrTimeout) {
		t.Errorf("full queue, deadline passed: %v", err)
	}
}

func TestReceiveContext(t *testing.T) {
	q := newQueue(t)
	buf := make([]byte, 8)
	ctx, cancel := context.WithCancel(t.Context())
	// The clock starts before the timer, so the wait measured is never
	// shorter than the timer's (CI once saw 29.6ms of a 30ms timer).
	start := time.Now()
	time.AfterFunc(30*time.Millisecond, cancel)
	_, _, err := q.ReceiveContext(ctx, buf, msgq.Any(), 0)
	within(t, start, 30*time.Millisecond, 50*time.Millisecond)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("%v should match context.Canceled", err)
	}
	checkErr(t, err, 0, "")

	// Already done: fails without receiving the queued message.
	send(t, q, 1, "kept")
	_, _, err = q.ReceiveContext(ctx, buf, msgq.Any(), 0)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("done context: %v", err)
	}
	if got := recv(t, q, msgq.Any()); got != "1:kept" {
		t.Errorf("queued message: %s", got)
	}

	start = time.Now()
	ctx, cancel = context.WithTimeout(t.Context(), 40*time.Millisecond)
	defer cancel()
	_, _, err = q.ReceiveContext(ctx, buf, msgq.Any(), 0)
	within(t, start, 40*time.Millisecond, 50*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v should match context.DeadlineExceeded", err)
	}

	// A context that is never done takes the plain path.
	send(t, q, 2, "plain")
	if typ, n, err := q.ReceiveContext(context.Background(), buf, msgq.Any(), 0); err != nil || typ != 2 || string(buf[:n]) != "plain" {
		t.Errorf("background context: %d %q, %v", typ, buf[:n], err)
	}
	go func() {
		if !blockedIn(os.Getpid(), "do_msgrcv") {
			t.Error("the receive never blocked")
		}
		q.Send(3, []byte("late"), 0)
	}()
	if typ, n, err := q.ReceiveContext(t.Context(), buf, msgq.Any(), 0); err != nil || typ != 3 || string(buf[:n]) != "late" {
		t.Errorf("message while waiting: %d %q, %v", typ, buf[:n], err)
	}
}

func TestSendContext(t *testing.T) {
	q := newQueue(t)
	fillQueue(t, q)
	ctx, cancel := context.WithCancel(t.Context())
	// The clock starts before the timer, so the wait measured is never
	// shorter than the timer's (CI once saw 29.6ms of a 30ms timer).
	start := time.Now()
	time.AfterFunc(30*time.Millisecond, cancel)
	err := q.SendContext(ctx, 1, make([]byte, 1000), 0)
	within(t, start, 30*time.Millisecond, 50*time.Millisecond)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("%v should match context.Canceled", err)
	}
	go func() {
		if !blockedIn(os.Getpid(), "do_msgsnd") {
			t.Error("the send never blocked")
		}
		q.Receive(make([]byte, 1000), msgq.Any(), msgq.NoWait)
	}()
	if err := q.SendContext(t.Context(), 1, make([]byte, 1000), 0); err != nil {
		t.Errorf("room made while waiting: %v", err)
	}
	q.Receive(make([]byte, 1000), msgq.Any(), msgq.NoWait)
	if err := q.SendContext(context.Background(), 1, make([]byte, 1000), 0); err != nil {
		t.Errorf("background context: %v", err)
	}
}

// Many goroutines send and receive on one queue at once: every message
// arrives once (LTP msgstress, in one process; run with -race).
func TestConcurrent(t *testing.T) {
	q := newQueue(t)
	const senders, perSender = 8, 300
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range perSender {
				text := []byte(strconv.Itoa(s*perSender + i))
				if err := q.Send(int64(s+1), text, 0); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	seen := make([]bool, senders*perSender)
	var mu sync.Mutex
	var rg sync.WaitGroup
	for range 4 {
		rg.Go(func() {
			buf := make([]byte, 16)
			for {
				typ, n, err := receiveTimeout(q, buf, msgq.Any(), 0, time.Second)
				if errors.Is(err, ipc.ErrTimeout) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				v, _ := strconv.Atoi(string(buf[:n]))
				mu.Lock()
				if v/perSender != int(typ-1) || seen[v] {
					t.Errorf("message %d type %d: wrong type or seen twice", v, typ)
				}
				seen[v] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	rg.Wait()
	for v, ok := range seen {
		if !ok {
			t.Fatalf("message %d lost", v)
		}
	}
}

// A garbage collection does not wait for a goroutine blocked in Receive,
// though that goroutine may be keeping its P (see call.go).
func TestGCDoesNotWaitForReceive(t *testing.T) {
	q := newQueue(t)
	got := make(chan error, 1)
	go func() { _, _, err := q.Receive(make([]byte, 8), msgq.Any(), 0); got <- err }()
	waitBlocked(t, os.Getpid(), "do_msgrcv")
	for range 3 {
		start := time.Now()
		runtime.GC()
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("runtime.GC took %v with a receiver blocked", d)
		}
	}
	send(t, q, 1, "x")
	if err := <-got; err != nil {
		t.Error(err)
	}
}

// With a single P, a goroutine blocked in Receive holds it at first, but
// only until the runtime preempts it: other goroutines keep running.
func TestWaiterDoesNotStarveOneP(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	q := newQueue(t)
	got := make(chan error, 1)
	go func() { _, _, err := q.Receive(make([]byte, 8), msgq.Any(), 0); got <- err }()
	runtime.Gosched() // let the receiver block
	start := time.Now()
	var worst time.Duration
	for range 50 {
		t0 := time.Now()
		time.Sleep(time.Millisecond)
		worst = max(worst, time.Since(t0))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("50 sleeps of 1ms took %v beside a blocked receiver (worst %v)", d, worst)
	} else {
		t.Logf("50 sleeps of 1ms took %v beside a blocked receiver (worst %v)", d, worst)
	}
	send(t, q, 1, "x")
	if err := <-got; err != nil {
		t.Error(err)
	}
}

// Two goroutines of this process ping-pong on one queue with a single P:
// the receiver that keeps its P while waiting blocks the very sender it
// waits for until the runtime preempts it, and the queue learns to stop
// doing that. Without that lesson each round trip would take 10-20ms.
func TestPingPongOneP(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	q := newQueue(t)
	n := 2000
	if s := os.Getenv("MSGQ_ONEP_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 64)
		for range n {
			_, m, err := q.Receive(buf, msgq.Type(1), 0)
			if err == nil {
				err = q.Send(2, buf[:m], 0)
			}
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	start := time.Now()
	buf := make([]byte, 64)
	for range n {
		if err := q.Send(1, []byte("ping"), 0); err != nil {
			t.Fatal(err)
		}
		if _, _, err := q.Receive(buf, msgq.Type(2), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("%d round trips took %v", n, d)
	} else {
		t.Logf("%d round trips in %v", n, d)
	}
}

// Send and Receive allocate nothing once warm.
func TestNoAllocations(t *testing.T) {
	if msgq.RaceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers")
	}
	q := newQueue(t)
	for _, size := range []int{0, 64, 1024, 8000} {
		msg, buf := make([]byte, size), make([]byte, size)
		f := func() {
			if err := q.Send(1, msg, 0); err != nil {
				t.Fatal(err)
			}
			if _, _, err := q.Receive(buf, msgq.Any(), 0); err != nil {
				t.Fatal(err)
			}
			if err := q.Send(2, msg, msgq.NoWait); err != nil {
				t.Fatal(err)
			}
			if _, _, err := q.Receive(buf, msgq.Type(2), msgq.NoWait); err != nil {
				t.Fatal(err)
			}
		}
		f()
		if a := testing.AllocsPerRun(100, f); a != 0 {
			t.Errorf("size %d: %v allocations per Send+Receive", size, a)
		}
	}
}
