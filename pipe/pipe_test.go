package pipe

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipcobj"
	"github.com/ipctoolkit/ipc/internal/ipctest"
	"golang.org/x/sys/unix"
)

func TestPipeDefaults(t *testing.T) {
	r, w := newPipe(t, 0)
	if !cloexec(r) || !cloexec(w) {
		t.Error("pipe ends are not close-on-exec by default (LTP pipe2_02)")
	}
	if statusFlags(t, r)&unix.O_NONBLOCK != 0 || statusFlags(t, w)&unix.O_NONBLOCK != 0 {
		t.Error("pipe ends are non-blocking by default")
	}
	if _, err := w.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	got, err := io.ReadAll(r)
	if string(got) != "hello" || err != nil {
		t.Errorf("read %q, %v", got, err)
	}
	// Writing to a pipe with no reader: EPIPE, not death by SIGPIPE
	// (LTP pipe08).
	r2, w2 := newPipe(t, 0)
	r2.Close()
	if _, err := w2.Write([]byte("x")); !errors.Is(err, unix.EPIPE) {
		t.Errorf("write with no reader: %v, want EPIPE", err)
	}
}

func TestPipeOptions(t *testing.T) {
	r, w := newPipe(t, 0)
	if !cloexec(r) || !cloexec(w) || statusFlags(t, r)&unix.O_NONBLOCK != 0 {
		t.Error("flags 0 did not make blocking, close-on-exec ends")
	}
	if _, _, err := Pipe(Flags(unix.O_APPEND)); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Pipe with an unknown flag: %v", err)
	}
	r, w = newPipe(t, NonBlocking)
	if statusFlags(t, r)&unix.O_NONBLOCK == 0 || statusFlags(t, w)&unix.O_NONBLOCK == 0 {
		t.Error("NonBlocking did not set O_NONBLOCK")
	}
	if !cloexec(r) {
		t.Error("NonBlocking dropped close-on-exec")
	}
}

// A non-blocking pipe returns EAGAIN to a raw read or write that would
// block (LTP pipe12), and its *os.File waits in the poller, with deadlines.
func TestNonBlocking(t *testing.T) {
	r, w := newPipe(t, NonBlocking)
	rc, err := r.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var rerr error
	rc.Control(func(fd uintptr) { _, rerr = unix.Read(int(fd), make([]byte, 1)) })
	if rerr != unix.EAGAIN {
		t.Errorf("raw read of an empty non-blocking pipe: %v, want EAGAIN", rerr)
	}
	// Fill it: the last write takes what fits, then EAGAIN.
	wc, _ := w.SyscallConn()
	total := 0
	chunk := make([]byte, 4096)
	var werr error
	wc.Control(func(fd uintptr) {
		for {
			n, err := unix.Write(int(fd), chunk)
			if err != nil {
				werr = err
				return
			}
			total += n
		}
	})
	if werr != unix.EAGAIN || total != 65536 {
		t.Errorf("filling: %d bytes then %v, want 65536 then EAGAIN", total, werr)
	}
	w.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := w.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("write to a full pipe with a deadline: %v", err)
	}
	r.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	io.CopyN(io.Discard, r, 65536)
	if _, err := r.Read(chunk); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read of an empty pipe with a deadline: %v", err)
	}
}

// Packet mode keeps write boundaries (pipe(7) O_DIRECT).
func TestPacket(t *testing.T) {
	r, w := newPipe(t, Packet)
	if statusFlags(t, w)&unix.O_DIRECT == 0 {
		t.Fatal("no O_DIRECT")
	}
	for _, m := range []string{"a", "bbb", "cc", "dddddd", "e"} {
		if _, err := w.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 100)
	for _, want := range []string{"a", "bbb", "cc"} {
		n, err := r.Read(buf)
		if err != nil || string(buf[:n]) != want {
			t.Errorf("read %q, %v; want %q", buf[:n], err, want)
		}
	}
	// A short read takes the head of a packet and drops the rest.
	n, _ := r.Read(buf[:2])
	if string(buf[:n]) != "dd" {
		t.Errorf("short read %q, want dd", buf[:n])
	}
	n, _ = r.Read(buf)
	if string(buf[:n]) != "e" {
		t.Errorf("after a short read: %q, want e", buf[:n])
	}
}

func TestCapacity(t *testing.T) {
	r, w := newPipe(t, 0)
	for _, f := range []*os.File{r, w} {
		if n, err := Capacity(f); n != 65536 || err != nil {
			t.Errorf("Capacity = %d, %v; want 65536", n, err)
		}
	}
	for _, c := range []struct{ set, want int }{{5000, 8192}, {0, 4096}, {1 << 20, 1 << 20}, {65536, 65536}} {
		got, err := SetCapacity(w, c.set)
		if got != c.want || err != nil {
			t.Errorf("SetCapacity(%d) = %d, %v; want %d", c.set, got, err, c.want)
		}
		if n, _ := Capacity(r); n != c.want {
			t.Errorf("Capacity after SetCapacity(%d) = %d", c.set, n)
		}
	}
	// Shrinking below what the pipe holds: EBUSY.
	w.Write(make([]byte, 10000))
	_, err := SetCapacity(w, 4096)
	if e := wantErrno(t, err, unix.EBUSY); !strings.Contains(e.Detail, "more than 4096") {
		t.Errorf("detail %q", e.Detail)
	}
	_, err = SetCapacity(w, -1)
	wantErrno(t, err, unix.EINVAL)

	// Not a pipe: EBADF, said in words.
	a, b, err := Socketpair(Stream, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeAll(t, a, b)
	_, err = Capacity(a)
	if e := wantErrno(t, err, unix.EBADF); e.Detail != "not a pipe" {
		t.Errorf("%v: detail %q", err, e.Detail)
	}
	r.Close()
	_, err = Capacity(r)
	wantErrno(t, err, os.ErrClosed)
	_, err = SetCapacity(nil, 4096)
	wantErrno(t, err, unix.EBADF)
}

// Above fs.pipe-max-size an unprivileged process gets EPERM, and the error
// names the limit.
func TestSetCapacityAboveMax(t *testing.T) {
	max64, err := ipcobj.ReadUint("/proc/sys/fs/pipe-max-size")
	if err != nil {
		t.Skip("no /proc/sys/fs/pipe-max-size")
	}
	max := int(max64)
	over := strconv.Itoa(max + 1)
	cmd := child(t, "setcap", over)
	if os.Geteuid() == 0 {
		ipctest.AsNobody(t, cmd)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	want := "err|" + strconv.Itoa(int(unix.EPERM)) + "|fcntl |1: operation not permitted ("
	if !strings.HasPrefix(got, want) || !strings.Contains(got, over+" bytes exceed fs.pipe-max-size "+strconv.Itoa(max)+"; more needs CAP_SYS_RESOURCE") {
		t.Errorf("child: %q", got)
	}
	// Here, in-process, the outcome depends on CAP_SYS_RESOURCE.
	_, w := newPipe(t, 0)
	if _, err := SetCapacity(w, max+1); err != nil {
		e := wantErrno(t, err, unix.EPERM)
		if !errors.Is(err, fs.ErrPermission) || !strings.Contains(e.Detail, "pipe-max-size") {
			t.Errorf("%v", err)
		}
	}
}

func TestSocketpair(t *testing.T) {
	for _, typ := range []Type{Stream, Datagram, SeqPacket} {
		t.Run(typ.String(), func(t *testing.T) {
			a, b, err := Socketpair(typ, 0)
			if err != nil {
				t.Fatal(err)
			}
			closeAll(t, a, b)
			if !cloexec(a) || !cloexec(b) {
				t.Error("not close-on-exec")
			}
			var so int
			control(a, func(fd int) { so, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE) })
			if so != int(typ) {
				t.Errorf("SO_TYPE %d, want %d", so, int(typ))
			}
			for _, m := range []string{"one", "three"} {
				if _, err := a.Write([]byte(m)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := b.Write([]byte("back")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			n, _ := a.Read(buf)
			if string(buf[:n]) != "back" {
				t.Errorf("a read %q", buf[:n])
			}
			if typ == Stream {
				got, _ := io.ReadFull(b, buf[:8])
				if string(buf[:got]) != "onethree" {
					t.Errorf("stream read %q", buf[:got])
				}
				return
			}
			// Datagram and SeqPacket keep boundaries.
			for _, want := range []string{"one", "three"} {
				n, err := b.Read(buf)
				if string(buf[:n]) != want || err != nil {
					t.Errorf("read %q, %v; want %q", buf[:n], err, want)
				}
			}
		})
	}
	a, b, err := Socketpair(Stream, NonBlocking)
	if err != nil {
		t.Fatal(err)
	}
	closeAll(t, a, b)
	if !cloexec(a) || statusFlags(t, a)&unix.O_NONBLOCK == 0 {
		t.Error("flags not applied to a socketpair")
	}
	for _, c := range []struct {
		name string
		err  error
	}{
		{"bad type", func() error { _, _, err := Socketpair(Type(42), 0); return err }()},
		{"packet", func() error { _, _, err := Socketpair(Stream, Packet); return err }()},
		{"conn bad type", func() error { _, _, err := SocketpairConn(Type(0)); return err }()},
	} {
		if e := wantErrno(t, c.err, unix.EINVAL); e.Detail == "" {
			t.Errorf("%s: %v", c.name, c.err)
		}
	}
	if got := Type(42).String(); got != "Type(42)" {
		t.Errorf("Type(42).String() = %q", got)
	}
}

func TestSocketpairConn(t *testing.T) {
	for _, typ := range []Type{Stream, Datagram, SeqPacket} {
		a, b := newConns(t, typ)
		if _, err := a.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 16)
		n, err := b.Read(buf)
		if string(buf[:n]) != "ping" || err != nil {
			t.Errorf("%v: read %q, %v", typ, buf[:n], err)
		}
		b.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		if _, err := b.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%v: deadline: %v", typ, err)
		}
	}
}
