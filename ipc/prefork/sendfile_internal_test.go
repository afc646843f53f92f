package prefork

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// sendfilePair is a connection as a worker wraps it (a sockConn in a
// countedConn, counted in a slot of its own) and the client's end.
func sendfilePair(t testing.TB) (*countedConn, net.Conn) {
	t.Helper()
	f, bound, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	client, a := acceptRaw(t, "tcp", bound.String(), int(f.Fd()))
	var slot [slotWords]*atomic.Uint64
	for i := range slot {
		slot[i] = new(atomic.Uint64)
	}
	c := &countedConn{Conn: newSockConn(a.fd, bound, &a.peer), w: &worker{slot: &slot}}
	t.Cleanup(func() { c.Close(); client.Close() })
	return c, client
}

// openedFile writes content to a file of the test's and returns it open
// for reading, closed when the test ends.
func openedFile(t testing.TB, content []byte) *os.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// countSendfile counts the calls of sendfile(2) until the test ends.
func countSendfile(t *testing.T) *atomic.Int64 {
	var calls atomic.Int64
	orig := sendfile
	t.Cleanup(func() { sendfile = orig })
	sendfile = func(out, in int, off *int64, n int) (int, error) {
		calls.Add(1)
		return orig(out, in, off, n)
	}
	return &calls
}

// receive reads n bytes from c in the background.
func receive(c net.Conn, n int) <-chan []byte {
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, n)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		m, _ := io.ReadFull(c, b)
		got <- b[:m]
	}()
	return got
}

// A file goes to the connection with sendfile, whole or as the
// io.LimitedReader that http.ServeContent gives, from the file's offset,
// which moves on as a read would move it; its bytes are counted in the
// slot. The file is larger than the socket's buffers, so the sending waits
// for the client to read, more than once.
func TestCountedConnSendfile(t *testing.T) {
	calls := countSendfile(t)
	c, client := sendfilePair(t)
	content := make([]byte, 3<<20+123)
	rand.Read(content)
	f := openedFile(t, content)

	got := receive(client, len(content))
	n, err := c.ReadFrom(f)
	if n != int64(len(content)) || err != nil {
		t.Fatalf("the whole file: sent %d, %v; want %d", n, err, len(content))
	}
	if b := <-got; !bytes.Equal(b, content) {
		t.Fatalf("the whole file: the client got %d bytes, not the file's %d", len(b), len(content))
	}
	if off, _ := f.Seek(0, io.SeekCurrent); off != int64(len(content)) {
		t.Errorf("the file's offset is %d after sending it, want %d", off, len(content))
	}

	f.Seek(1000, io.SeekStart)
	part := &io.LimitedReader{R: f, N: 1 << 20}
	got = receive(client, 1<<20)
	n, err = c.ReadFrom(part)
	if n != 1<<20 || err != nil || part.N != 0 {
		t.Fatalf("a part: sent %d, %v, %d left; want %d, none left", n, err, part.N, 1<<20)
	}
	if b := <-got; !bytes.Equal(b, content[1000:1000+1<<20]) {
		t.Fatalf("a part: the client did not get bytes 1000 to %d of the file", 1000+1<<20)
	}
	if off, _ := f.Seek(0, io.SeekCurrent); off != 1000+1<<20 {
		t.Errorf("the file's offset is %d after sending a part, want %d", off, 1000+1<<20)
	}
	if out, want := c.w.slot[wBytesOut].Load(), uint64(len(content)+1<<20); out != want {
		t.Errorf("the slot counted %d bytes out, want %d", out, want)
	}
	if calls.Load() < 2 {
		t.Errorf("sendfile was called %d times for two files", calls.Load())
	}
}

// What is not a regular file is copied, and counted the same: a
// bytes.Reader, and a pipe that its writer fills slowly (sendfile would
// say EAGAIN while it is empty).
func TestCountedConnReadFromCopies(t *testing.T) {
	calls := countSendfile(t)
	c, client := sendfilePair(t)
	content := bytes.Repeat([]byte("0123456789abcdef"), 1<<14)

	got := receive(client, len(content))
	if n, err := c.ReadFrom(bytes.NewReader(content)); n != int64(len(content)) || err != nil {
		t.Fatalf("a bytes.Reader: sent %d, %v", n, err)
	}
	if b := <-got; !bytes.Equal(b, content) {
		t.Fatal("a bytes.Reader: the client got other bytes")
	}
	if calls.Load() != 0 {
		t.Errorf("sendfile was called for a bytes.Reader")
	}

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	go func() {
		for i := 0; i < 60000; i += 20000 {
			time.Sleep(20 * time.Millisecond)
			pw.Write(content[i : i+20000])
		}
		pw.Close()
	}()
	got = receive(client, 60000)
	if n, err := c.ReadFrom(pr); n != 60000 || err != nil {
		t.Fatalf("a pipe: sent %d, %v", n, err)
	}
	if b := <-got; !bytes.Equal(b, content[:60000]) {
		t.Fatal("a pipe: the client got other bytes")
	}
	if calls.Load() != 0 {
		t.Errorf("sendfile was called for a pipe")
	}
	if out := c.w.slot[wBytesOut].Load(); out != uint64(len(content)+60000) {
		t.Errorf("the slot counted %d bytes out, want %d", out, len(content)+60000)
	}
}

// A client that stops reading does not hold a sendfile past the
// connection's write deadline: it ends with a timeout, as a write does,
// having sent part of the file.
func TestCountedConnSendfileDeadline(t *testing.T) {
	c, _ := sendfilePair(t)
	f := openedFile(t, make([]byte, 64<<20))
	c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	start := time.Now()
	n, err := c.ReadFrom(f)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("to a client that does not read: %v, want a timeout", err)
	}
	if took := time.Since(start); n <= 0 || n >= 64<<20 || took > 5*time.Second {
		t.Errorf("sent %d of %d bytes in %v before the timeout", n, 64<<20, took)
	}
}

// A client that resets its connection in the middle of a file ends the
// sendfile with the connection's error, as a write to it would end, and
// the bytes sent until then are the ones counted.
func TestCountedConnSendfileReset(t *testing.T) {
	c, client := sendfilePair(t)
	f := openedFile(t, make([]byte, 64<<20))
	go func() {
		io.CopyN(io.Discard, client, 1<<20)
		client.(*net.TCPConn).SetLinger(0) // close with a RST
		client.Close()
	}()
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	n, err := c.ReadFrom(f)
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("to a client that reset the connection: %d bytes, %v; want the reset", n, err)
	}
	if n < 1<<20 || n >= 64<<20 {
		t.Errorf("sent %d bytes, want at least the 1 MiB read and not all", n)
	}
	if out := c.w.slot[wBytesOut].Load(); out != uint64(n) {
		t.Errorf("the slot counted %d bytes out, want the %d sent", out, n)
	}
	t.Logf("%d bytes sent, then %v", n, err)
}

// BenchmarkCountedConnReadFrom sends a 1 MiB file to a client that reads
// and discards it: with sendfile (ReadFrom) and copied through a buffer
// (what a worker did before).
func BenchmarkCountedConnReadFrom(b *testing.B) {
	file := openedFile(b, make([]byte, 1<<20))
	for _, how := range []string{"sendfile", "copy"} {
		b.Run(how, func(b *testing.B) {
			c, client := sendfilePair(b)
			go io.Copy(io.Discard, client)
			b.SetBytes(1 << 20)
			b.ReportAllocs()
			for b.Loop() {
				file.Seek(0, io.SeekStart)
				var err error
				if how == "sendfile" {
					_, err = c.ReadFrom(file)
				} else {
					_, err = io.Copy(writerOnly{c}, struct{ io.Reader }{file})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
		})
	}
}
