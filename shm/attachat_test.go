package shm

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// reserve maps n bytes with no access, a range nothing else will use, and
// returns its address. It is not unmapped at the end: the attachments made
// over it unmap it when they detach, and the range may be reused by then.
func reserve(t *testing.T, n int) uintptr {
	t.Helper()
	mem, err := unix.Mmap(-1, 0, n, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	return uintptr(unsafe.Pointer(&mem[0]))
}

func addrOf(m *Mapping) uintptr { return uintptr(unsafe.Pointer(&m.Bytes()[0])) }

// AttachAt maps at the address given (SHM_REMAP over a reservation), rounds
// an unaligned one down with Round (SHM_RND), and refuses what shmat
// refuses.
func TestAttachAt(t *testing.T) {
	page := os.Getpagesize()
	s := newSegment(t, page, 0o600)
	addr := reserve(t, 2*page)

	// Without Remap the reserved range is taken: EINVAL.
	_, err := s.AttachAt(addr, 0)
	wantErrno(t, err, unix.EINVAL)
	// Unaligned without Round: EINVAL.
	_, err = s.AttachAt(addr+1, Remap)
	wantErrno(t, err, unix.EINVAL)

	m, err := s.AttachAt(addr, Remap)
	if err != nil {
		t.Fatal(err)
	}
	if addrOf(m) != addr || m.Len() != page {
		t.Errorf("AttachAt(%#x, Remap) mapped %#x, %d bytes", addr, addrOf(m), m.Len())
	}
	// The same segment again, one page on, rounded down from an unaligned
	// address, read-only: both mappings see the same bytes.
	r, err := s.AttachAt(addr+uintptr(page)+123, Round|Remap|ReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	if addrOf(r) != addr+uintptr(page) || !r.ReadOnly() {
		t.Errorf("AttachAt(Round) mapped %#x, read-only %t; want %#x", addrOf(r), r.ReadOnly(), addr+uintptr(page))
	}
	m.WriteAt([]byte("same"), 10)
	if got := r.Bytes()[10:14]; string(got) != "same" {
		t.Errorf("the second mapping reads %q", got)
	}
	if info, err := s.Stat(); err != nil || info.NAttch != 2 {
		t.Errorf("after two attachments: %+v, %v", info, err)
	}
	for _, mm := range []*Mapping{m, r} {
		if err := mm.Detach(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AttachAt(0, Flags(0o100000)); err == nil { // SHM_EXEC
		t.Error("AttachAt with a flag other than ReadOnly, Round and Remap worked")
	}
}

// Fill sets every byte, refuses a read-only or detached mapping.
func TestFill(t *testing.T) {
	s := newSegment(t, 10000, 0o600)
	m := attach(t, s, 0)
	if err := m.Fill('x'); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Bytes(), bytes.Repeat([]byte("x"), m.Len())) {
		t.Error("Fill left bytes unchanged")
	}
	ro := attach(t, s, ReadOnly)
	if err := ro.Fill(0); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Fill of a read-only mapping: %v", err)
	}
	m.Detach()
	if err := m.Fill(0); !errors.Is(err, ErrDetached) {
		t.Errorf("Fill of a detached mapping: %v", err)
	}
}
