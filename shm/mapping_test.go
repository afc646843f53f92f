package shm

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"golang.org/x/sys/unix"
)

func TestReadAtWriteAt(t *testing.T) {
	s := newSegment(t, 1000, 0o600)
	m := attach(t, s, 0)
	content := bytes.Repeat([]byte("0123456789"), 100)
	if n, err := m.WriteAt(content, 0); n != 1000 || err != nil {
		t.Fatalf("WriteAt all: %d, %v", n, err)
	}
	// The io.Reader contract, through a SectionReader over the ReaderAt.
	if err := iotest.TestReader(io.NewSectionReader(m, 0, 1000), content); err != nil {
		t.Fatal(err)
	}
	if err := iotest.TestReader(io.NewSectionReader(m, 990, 10), content[990:]); err != nil {
		t.Fatal(err)
	}

	buf := make([]byte, 20)
	for _, c := range []struct {
		off     int64
		n       int
		wantEOF bool
	}{
		{0, 20, false},
		{980, 20, false}, // exactly to the end: no EOF
		{990, 10, true},  // short: EOF with the bytes
		{1000, 0, true},  // at the end
		{5000, 0, true},  // past it
	} {
		n, err := m.ReadAt(buf, c.off)
		if n != c.n || (err == io.EOF) != c.wantEOF || (err != nil && err != io.EOF) {
			t.Errorf("ReadAt(20 bytes, %d) = %d, %v; want %d, EOF %t", c.off, n, err, c.n, c.wantEOF)
		}
		if n > 0 && !bytes.Equal(buf[:n], content[c.off:c.off+int64(n)]) {
			t.Errorf("ReadAt(%d) read %q", c.off, buf[:n])
		}
	}
	_, err := m.ReadAt(buf, -1)
	wantErrno(t, err, unix.EINVAL)

	// Writes past the end write what fits and say so.
	n, err := m.WriteAt([]byte("abcdefghij"), 995)
	if n != 5 || !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("WriteAt across the end = %d, %v; want 5, ErrShortWrite", n, err)
	}
	if got := string(m.Bytes()[995:]); got != "abcde" {
		t.Errorf("tail %q, want abcde", got)
	}
	if n, err := m.WriteAt([]byte("x"), 1000); n != 0 || !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("WriteAt at the end = %d, %v", n, err)
	}
	if n, err := m.WriteAt(nil, 1000); n != 0 || err != nil {
		t.Errorf("empty WriteAt at the end = %d, %v; want 0, nil", n, err)
	}
	_, err = m.WriteAt([]byte("x"), -1)
	wantErrno(t, err, unix.EINVAL)
	var _ io.ReaderAt = m
	var _ io.WriterAt = m
}

func TestReadOnlyMapping(t *testing.T) {
	s := newSegment(t, 100, 0o600)
	rw := attach(t, s, 0)
	ro := attach(t, s, ReadOnly)
	if !ro.ReadOnly() {
		t.Error("ReadOnly() = false")
	}
	rw.WriteAt([]byte("shared"), 0)
	if got := string(ro.Bytes()[:6]); got != "shared" {
		t.Errorf("read-only view %q", got)
	}
	n, err := ro.WriteAt([]byte("x"), 0)
	if n != 0 || !errors.Is(err, ErrReadOnly) {
		t.Errorf("WriteAt on a read-only mapping = %d, %v; want ErrReadOnly", n, err)
	}
	if c, err := ro.Uint64(0); err != nil || c.Load() == 0 {
		t.Errorf("loading through a read-only mapping: %v", err)
	}
}

// A write through a read-only attachment is a fault (LTP shmat01), and so is
// touching memory after Detach (LTP shmdt01). Both happen in a child.
func TestFaults(t *testing.T) {
	s := newSegment(t, 4096, 0o600)
	id := strconv.Itoa(s.ID())
	for _, mode := range []string{"ro", "detached"} {
		t.Run(mode, func(t *testing.T) {
			// With SetPanicOnFault the fault is a recoverable panic whose
			// address is the segment's first byte.
			var out bytes.Buffer
			cmd := child(t, "fault", mode, id, "recover")
			cmd.Stdout = &out
			if code := runFaulting(t, cmd); code != 0 {
				t.Fatalf("recovering child exited %d", code)
			}
			if got := out.String(); got != "fault at segment start: true\n" {
				t.Errorf("recovering child: %q", got)
			}
			// Without it the runtime dies of the SIGSEGV, exit status 2.
			var stderr bytes.Buffer
			cmd = child(t, "fault", mode, id)
			cmd.Stdout, cmd.Stderr = &out, &stderr
			if code := runFaulting(t, cmd); code != 2 || !strings.Contains(stderr.String(), "SIGSEGV") {
				t.Errorf("child exited %d, stderr:\n%s", code, stderr.String())
			}
		})
	}
	// The segment itself is untouched.
	m := attach(t, s, 0)
	if m.Bytes()[0] != 0 {
		t.Error("a faulting write went through")
	}
}

func runFaulting(t *testing.T, cmd interface{ Run() error }) int {
	t.Helper()
	err := cmd.Run()
	if err == nil {
		return 0
	}
	var ee interface{ ExitCode() int }
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	t.Fatal(err)
	return -1
}

func TestDetach(t *testing.T) {
	s := newSegment(t, 100, 0o600)
	m := attach(t, s, 0)
	if err := m.Detach(); err != nil {
		t.Fatal(err)
	}
	if stat(t, s).NAttch != 0 {
		t.Error("still attached after Detach")
	}
	if m.Bytes() != nil || m.Len() != 0 {
		t.Errorf("after Detach: Bytes %v Len %d", m.Bytes(), m.Len())
	}
	errs := map[string]error{
		"Detach": m.Detach(),
	}
	_, errs["ReadAt"] = m.ReadAt(make([]byte, 1), 0)
	_, errs["WriteAt"] = m.WriteAt([]byte{1}, 0)
	_, errs["Uint64"] = m.Uint64(0)
	_, errs["Uint32"] = m.Uint32(0)
	for name, err := range errs {
		if !errors.Is(err, ErrDetached) {
			t.Errorf("%s after Detach: %v, want ErrDetached", name, err)
		} else if want := "shm: "; !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "segment "+strconv.Itoa(s.ID())+": detached") {
			t.Errorf("%s after Detach: text %q", name, err)
		}
	}
}

// Detach racing with every other method never faults: a use either
// completes before the unmap or reports ErrDetached. Run with -race.
func TestConcurrentDetach(t *testing.T) {
	s := newSegment(t, 1<<16, 0o600)
	for range 20 {
		m := attach(t, s, 0)
		var wg, running sync.WaitGroup
		running.Add(4)
		for g := range 4 {
			wg.Go(func() {
				buf := make([]byte, 4096)
				for i := 0; ; i++ {
					if i == 10 {
						running.Done() // Detach once every user is busy
					}
					var err error
					switch (g + i) % 4 {
					case 0:
						_, err = m.ReadAt(buf, int64(i%16)*4096)
					case 1:
						_, err = m.WriteAt(buf, int64(i%16)*4096)
					case 2:
						_, err = m.Uint64(8 * (i % 100))
					case 3:
						m.Len()
						_, err = m.Uint32(0)
					}
					if err != nil {
						if !errors.Is(err, ErrDetached) {
							t.Errorf("%v", err)
						}
						if i < 10 {
							running.Done()
						}
						return
					}
				}
			})
		}
		running.Wait()
		var detached atomic.Int32
		for range 2 {
			wg.Go(func() {
				if m.Detach() == nil {
					detached.Add(1) // only one Detach can succeed
				}
			})
		}
		wg.Wait()
		if detached := detached.Load(); detached != 1 {
			t.Fatalf("%d Detach calls succeeded, want 1", detached)
		}
	}
}

func TestCounters(t *testing.T) {
	s := newSegment(t, 4096, 0o600)
	m := attach(t, s, 0)
	for _, c := range []struct {
		off  int
		ok64 bool
		ok32 bool
	}{
		{0, true, true},
		{4, false, true},
		{8, true, true},
		{3, false, false},
		{4088, true, true},
		{4092, false, true},
		{4096, false, false},
		{-8, false, false},
	} {
		_, err64 := m.Uint64(c.off)
		_, err32 := m.Uint32(c.off)
		if (err64 == nil) != c.ok64 || (err32 == nil) != c.ok32 {
			t.Errorf("offset %d: Uint64 %v, Uint32 %v", c.off, err64, err32)
		}
		for _, err := range []error{err64, err32} {
			if err != nil {
				wantErrno(t, err, unix.EINVAL)
			}
		}
	}
	c, _ := m.Uint64(8)
	c.Store(0x0102030405060708)
	if got := m.Bytes()[8]; got != 0x08 && got != 0x01 {
		t.Errorf("the counter is not at offset 8: byte %#x", got)
	}
	w, _ := m.Uint32(16)
	if !w.CompareAndSwap(0, 7) || w.Load() != 7 {
		t.Error("Uint32 CompareAndSwap")
	}
}

// Three processes add to one counter at once and none of the additions is
// lost.
func TestCounterAcrossProcesses(t *testing.T) {
	s := newSegment(t, 4096, 0o600)
	m := attach(t, s, 0)
	c, err := m.Uint64(0)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200000
	var cmds []interface{ Wait() error }
	for range 2 {
		cmd := child(t, "count", strconv.Itoa(s.ID()), strconv.Itoa(n))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for range n {
		c.Add(1)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.Load(); got != 3*n {
		t.Errorf("counter = %d, want %d", got, 3*n)
	}
}
