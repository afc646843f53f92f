package pipe

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"golang.org/x/sys/unix"
)

func TestSendReceiveFiles(t *testing.T) {
	a, b := newConns(t, Stream)
	r, w := newPipe(t, 0)
	tmp, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	closeAll(t, tmp)
	tmp.WriteString("file contents")

	if err := SendFiles(a, []byte("two files"), w, tmp); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, files, err := ReceiveFiles(b, buf, 2)
	if err != nil {
		t.Fatal(err)
	}
	if string(buf[:n]) != "two files" || len(files) != 2 {
		t.Fatalf("received %q and %d files", buf[:n], len(files))
	}
	closeAll(t, files[0], files[1])
	for _, f := range files {
		if !cloexec(f) {
			t.Errorf("%s is not close-on-exec (MSG_CMSG_CLOEXEC)", f.Name())
		}
		if !strings.HasPrefix(f.Name(), "received:") {
			t.Errorf("name %q", f.Name())
		}
	}
	// The received write end feeds the pipe here.
	files[0].Write([]byte("through"))
	got := make([]byte, 7)
	if _, err := io.ReadFull(r, got); string(got) != "through" || err != nil {
		t.Errorf("pipe read %q, %v", got, err)
	}
	// The received file shares the open file, offset included.
	if off, _ := files[1].Seek(0, io.SeekCurrent); off != int64(len("file contents")) {
		t.Errorf("received file's offset %d: not the same open file", off)
	}

	// Plain messages, without files, go through too.
	if err := SendFiles(a, []byte("plain")); err != nil {
		t.Fatal(err)
	}
	n, files, err = ReceiveFiles(b, buf, 2)
	if string(buf[:n]) != "plain" || files != nil || err != nil {
		t.Errorf("plain: %q %v %v", buf[:n], files, err)
	}

	// The peer closing is io.EOF.
	a.Close()
	if _, _, err := ReceiveFiles(b, buf, 1); err != io.EOF {
		t.Errorf("after close: %v, want io.EOF", err)
	}
}

func TestSendReceiveFDsRaw(t *testing.T) {
	a, b, err := Socketpair(SeqPacket, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeAll(t, a, b)
	r, w := newPipe(t, 0)
	if err := SendFDs(int(a.Fd()), []byte{1}, int(w.Fd())); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	n, fds, err := ReceiveFDs(int(b.Fd()), buf, 1)
	if err != nil || n != 1 || len(fds) != 1 {
		t.Fatalf("ReceiveFDs = %d, %v, %v", n, fds, err)
	}
	f := os.NewFile(uintptr(fds[0]), "w")
	closeAll(t, f)
	f.Write([]byte("z"))
	if _, err := r.Read(buf[:1]); err != nil || buf[0] != 'z' {
		t.Errorf("read %q, %v", buf[:1], err)
	}
	// A seqpacket peer that closed reads as EOF.
	a.Close()
	if _, _, err := ReceiveFDs(int(b.Fd()), buf, 1); err != io.EOF {
		t.Errorf("after close: %v, want io.EOF", err)
	}
}

// A non-blocking socket gives ErrWouldBlock instead of waiting.
func TestFDsWouldBlock(t *testing.T) {
	a, b, err := Socketpair(Datagram, NonBlocking)
	if err != nil {
		t.Fatal(err)
	}
	closeAll(t, a, b)
	var sa, sb int
	control(a, func(fd int) { sa = fd })
	control(b, func(fd int) { sb = fd })
	_, _, err = ReceiveFDs(sb, make([]byte, 8), 1)
	wantErrno(t, err, unix.EAGAIN)
	wantErrno(t, err, unix.EAGAIN)
	for {
		if err = SendFDs(sa, make([]byte, 1024)); err != nil {
			break
		}
	}
	wantErrno(t, err, unix.EAGAIN)
}

// A child receives a file over a socketpair and reads it, then answers
// with credentials the kernel vouches for.
func TestReceiveFilesCrossProcess(t *testing.T) {
	for _, c := range []struct {
		name   string
		mode   string
		nobody bool
	}{
		{"conn", "conn", false},
		{"raw", "raw", false},
		{"conn-as-nobody", "conn", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "passed")
			if err := os.WriteFile(path, []byte("contents of a file the child cannot open"), 0o600); err != nil {
				t.Fatal(err)
			}
			// Mode 0600 in a root-only directory: only the passed
			// descriptor gives nobody access.
			file, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			closeAll(t, file)

			mine, theirs, err := Socketpair(Stream, 0)
			if err != nil {
				t.Fatal(err)
			}
			cmd := child(t, "recvfile", c.mode)
			if c.nobody {
				ipctest.AsNobody(t, cmd)
			}
			cmd.ExtraFiles = []*os.File{theirs}
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			theirs.Close()
			conn := fileConnT(t, mine)

			if err := SendFiles(conn, []byte("here"), file); err != nil {
				t.Fatal(err)
			}
			line, _ := bufio.NewReader(stdout).ReadString('\n')
			if want := "here|contents of a file the child cannot open|cloexec=true\n"; line != want {
				t.Errorf("child printed %q, want %q", line, want)
			}
			buf := make([]byte, 16)
			n, cred, err := ReceiveCredentials(conn, buf)
			if err != nil {
				t.Fatal(err)
			}
			wantID := uint32(os.Getuid())
			if c.nobody {
				wantID = ipctest.Nobody
			}
			if string(buf[:n]) != "bye" || int(cred.Pid) != cmd.Process.Pid || cred.Uid != wantID || cred.Gid != wantID {
				t.Errorf("got %q from pid %d uid %d gid %d; want bye from %d, %d", buf[:n], cred.Pid, cred.Uid, cred.Gid, cmd.Process.Pid, wantID)
			}
			conn.Close()
			if err := cmd.Wait(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func fileConnT(t *testing.T, f *os.File) *net.UnixConn {
	t.Helper()
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	closeAll(t, c)
	return c.(*net.UnixConn)
}

// More descriptors than the control buffer holds: MSG_CTRUNC, an error, and
// every descriptor that did arrive closed.
func TestTruncatedControl(t *testing.T) {
	a, b := newConns(t, Stream)
	r, w := newPipe(t, 0)
	before := openFDs(t)
	if err := SendFiles(a, []byte("three"), r, w, r); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	// The control buffer also has room for credentials, so the kernel
	// delivers all three; ReceiveFiles refuses the two extra.
	n, files, err := ReceiveFiles(b, buf, 1)
	e := wantErrno(t, err, ErrTruncated)
	if files != nil || n != 5 || !strings.Contains(e.Detail, "3 descriptors arrived, more than the 1 asked for") {
		t.Errorf("n %d files %v detail %q", n, files, e.Detail)
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open before, %d after: leaked", before, after)
	}
	// Twenty do not fit at all: the kernel installs what fits, drops the
	// rest and says MSG_CTRUNC.
	twenty := make([]*os.File, 20)
	for i := range twenty {
		twenty[i] = r
	}
	if err := SendFiles(a, []byte("twenty"), twenty...); err != nil {
		t.Fatal(err)
	}
	n, files, err = ReceiveFiles(b, buf, 1)
	e = wantErrno(t, err, ErrTruncated)
	if files != nil || n != 6 || !strings.Contains(e.Detail, "the kernel dropped the rest") {
		t.Errorf("n %d files %v detail %q", n, files, e.Detail)
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open before, %d after: leaked", before, after)
	}

	// Room for none.
	SendFiles(a, []byte("one"), r)
	_, _, err = ReceiveFiles(b, buf, 0)
	wantErrno(t, err, ErrTruncated)
	// Credentials only: descriptors are unwelcome and closed.
	SendFiles(a, []byte("one"), r)
	_, _, err = ReceiveCredentials(b, buf)
	wantErrno(t, err, ErrTruncated)
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open before, %d after: leaked", before, after)
	}
}

// A datagram longer than the buffer: MSG_TRUNC, an error, descriptors closed.
func TestTruncatedData(t *testing.T) {
	a, b := newConns(t, Datagram)
	r, _ := newPipe(t, 0)
	before := openFDs(t)
	if err := SendFiles(a, []byte("a long datagram"), r); err != nil {
		t.Fatal(err)
	}
	n, files, err := ReceiveFiles(b, make([]byte, 4), 1)
	e := wantErrno(t, err, ErrTruncated)
	if n != 4 || files != nil || !strings.Contains(e.Detail, "longer than the 4-byte buffer") {
		t.Errorf("n %d files %v detail %q", n, files, e.Detail)
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open before, %d after: leaked", before, after)
	}
	// An empty datagram is a message, not an end of file.
	if _, err := a.Write(nil); err != nil {
		t.Fatal(err)
	}
	if n, _, err := ReceiveFiles(b, make([]byte, 4), 1); n != 0 || err != nil {
		t.Errorf("empty datagram: %d, %v", n, err)
	}
}

func TestCredentialsInProcess(t *testing.T) {
	a, b := newConns(t, SeqPacket)
	if err := SendCredentials(a, []byte("me")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	n, cred, err := ReceiveCredentials(b, buf)
	if err != nil || string(buf[:n]) != "me" || int(cred.Pid) != os.Getpid() || cred.Uid != uint32(os.Getuid()) {
		t.Errorf("%q %+v %v", buf[:n], cred, err)
	}
	// With SO_PASSCRED on beforehand, a plain write carries them too.
	if err := EnableCredentials(b); err != nil {
		t.Fatal(err)
	}
	a.Write([]byte("plain"))
	n, cred, err = ReceiveCredentials(b, buf)
	if err != nil || string(buf[:n]) != "plain" || int(cred.Pid) != os.Getpid() {
		t.Errorf("%q %+v %v", buf[:n], cred, err)
	}
}

func TestSendErrors(t *testing.T) {
	a, b := newConns(t, Stream)
	r, _ := newPipe(t, 0)
	closed, _ := newPipe(t, 0)
	closed.Close()
	many := make([]*os.File, MaxFiles+1)
	for i := range many {
		many[i] = r
	}
	for _, c := range []struct {
		name   string
		err    error
		target error
	}{
		{"empty data", SendFiles(a, nil, r), unix.EINVAL},
		{"too many", SendFiles(a, []byte{1}, many...), unix.EINVAL},
		{"raw too many", SendFDs(0, []byte{1}, make([]int, MaxFiles+1)...), unix.EINVAL},
		{"nil conn", SendFiles(nil, []byte{1}, r), unix.EINVAL},
		{"closed file", SendFiles(a, []byte{1}, closed), os.ErrClosed},
		{"nil file", SendFiles(a, []byte{1}, nil), unix.EBADF},
		{"empty credentials", SendCredentials(a, nil), unix.EINVAL},
		{"nil conn credentials", SendCredentials(nil, []byte{1}), unix.EINVAL},
		{"nil conn enable", EnableCredentials(nil), unix.EINVAL},
		{"bad socket", SendFDs(-1, []byte{1}), unix.EBADF},
		{"not a socket", SendFDs(int(r.Fd()), []byte{1}), unix.ENOTSOCK},
		{"empty buffer", func() error { _, _, err := ReceiveFiles(b, nil, 1); return err }(), unix.EINVAL},
		{"negative max", func() error { _, _, err := ReceiveFiles(b, make([]byte, 1), -1); return err }(), unix.EINVAL},
		{"max over limit", func() error { _, _, err := ReceiveFDs(0, make([]byte, 1), MaxFiles+1); return err }(), unix.EINVAL},
		{"nil conn receive", func() error { _, _, err := ReceiveFiles(nil, make([]byte, 1), 1); return err }(), unix.EINVAL},
	} {
		if c.err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		var e *os.PathError
		if !errors.As(c.err, &e) || !errors.Is(c.err, c.target) {
			t.Errorf("%s: %v (%T), want an *os.PathError matching %v", c.name, c.err, c.err, c.target)
		}
	}
	a.Close()
	err := SendFiles(a, []byte{1})
	wantErrno(t, err, net.ErrClosed)
	if !strings.HasPrefix(err.Error(), "sendmsg fd ") {
		t.Errorf("text %q", err)
	}
}
