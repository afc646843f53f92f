package pipe

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestHandoffPipe(t *testing.T) {
	r, w := newPipe(t, 0)
	hr, err := NewHandoff(r)
	if err != nil {
		t.Fatal(err)
	}
	hw, err := NewHandoff(w)
	if err != nil {
		t.Fatal(err)
	}
	// More than the pipe holds: Write must go on until all is written
	// while the reader drains.
	msg := bytes.Repeat([]byte("0123456789abcdef"), 16<<10)
	errc := make(chan error, 1)
	go func() {
		_, err := hw.Write(msg)
		w.Close()
		errc <- err
	}()
	got, err := io.ReadAll(hr)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("read %d bytes, want the %d written", len(got), len(msg))
	}
	if n, err := hr.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("read at end of file: %d, %v", n, err)
	}
	if n, err := hr.Read(nil); n != 0 || err != nil {
		t.Fatalf("empty read: %d, %v", n, err)
	}
}

func TestHandoffSocketAndErrors(t *testing.T) {
	a, b, err := Socketpair(Stream, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeAll(t, a, b)
	ha, err := NewHandoff(a)
	if err != nil {
		t.Fatal(err)
	}
	hb, err := NewHandoff(b)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	for range 100 {
		if _, err := ha.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		if n, err := io.ReadFull(hb, buf[:4]); err != nil || string(buf[:n]) != "ping" {
			t.Fatalf("%q, %v", buf[:n], err)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() {
		ha.Write(buf[:4])
		hb.Read(buf[:4])
	}); allocs != 0 {
		t.Errorf("a write and a read allocate %v times", allocs)
	}
	b.Close()
	_, err = ha.Write([]byte("x"))
	var e *os.PathError
	if !errors.As(err, &e) || !errors.Is(err, unix.EPIPE) || e.Op != "write" {
		t.Fatalf("write to a closed peer: %v", err)
	}
	// A non-blocking descriptor is refused, and so is a closed file.
	nr, _ := newPipe(t, NonBlocking)
	if _, err := NewHandoff(nr); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("NewHandoff of a non-blocking pipe: %v", err)
	}
	r, _ := newPipe(t, 0)
	r.Close()
	if _, err := NewHandoff(r); err == nil {
		t.Fatal("NewHandoff of a closed file succeeded")
	}
}
