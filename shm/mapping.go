package shm

import (
	"errors"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/ipctoolkit/ipc/internal/ipcobj"
	"github.com/ipctoolkit/ipc/internal/sys"
	"github.com/ipctoolkit/ipc/ipc"
	"golang.org/x/sys/unix"
)

// Sentinels for the states of a Mapping that no errno describes. Errors
// returned by a Mapping match them with errors.Is.
var (
	// ErrDetached: the mapping was detached; its memory is gone from this
	// process.
	ErrDetached = errors.New("detached")
	// ErrReadOnly: a write through a mapping attached with ReadOnly, which
	// the hardware would turn into a fault.
	ErrReadOnly = errors.New("attached read-only")
)

// Flags change how Attach and AttachAt map a segment; combine them with |.
// 0 is the default: read and write, at the address given.
type Flags int

const (
	// ReadOnly attaches the segment for reading only (SHM_RDONLY), which
	// needs only read permission on it. Writing through Bytes then faults;
	// WriteAt returns ErrReadOnly.
	ReadOnly Flags = unix.SHM_RDONLY
	// Round lets AttachAt round its address down to a multiple of SHMLBA
	// (the page size here) instead of failing on an unaligned one (SHM_RND).
	Round Flags = unix.SHM_RND
	// Remap lets AttachAt replace whatever this process has mapped at the
	// address (SHM_REMAP), which without it fails with EINVAL. Only for a
	// range the caller reserved itself (with mmap, say): a range the Go
	// runtime uses would be silently overwritten.
	Remap Flags = sys.SHM_REMAP
)

const attachFlags = ReadOnly | Round | Remap

// Mapping is one attachment of a segment into this process's address space
// (shmat). Its methods are safe for concurrent use, including Detach: once
// detached, every method returns ErrDetached (or nil, or 0) instead of
// touching memory that is gone. Each Mapping counts once in the segment's
// NAttch until Detach or the end of the process; there is no finalizer,
// since the memory may still be in use through Bytes when the Mapping
// itself is unreachable.
//
// Only Attach and AttachAt make a usable Mapping: the zero Mapping, and a
// nil *Mapping, refuse every call with an error matching
// ipc.ErrInvalidHandle.
type Mapping struct {
	// mu is held for reading while the memory is used, and for writing by
	// Detach, so that no copy runs into an unmapped region.
	mu       sync.RWMutex
	made     bool   // by Attach: the zero Mapping maps nothing
	data     []byte // nil once detached
	id       int
	readOnly bool
}

// Attach maps the segment into this process, at an address the kernel
// picks, for reading and writing unless flags has ReadOnly. Read-write needs
// read and write permission on the segment, ReadOnly read permission;
// without them the error matches fs.ErrPermission. A segment that was
// destroyed gives EINVAL; on Linux one that was removed but is still
// attached elsewhere can be attached.
func (s *Segment) Attach(flags Flags) (*Mapping, error) {
	if flags&(Round|Remap) != 0 {
		return nil, &ipc.Error{Pkg: "shm", Op: "attach", Kind: ipc.Segment, ID: s.ID(), Err: unix.EINVAL, Detail: "Round and Remap need an address: use AttachAt"}
	}
	return s.AttachAt(0, flags)
}

// AttachAt is Attach at the address addr, which must be a multiple of the
// page size unless flags has Round, and must not be mapped already unless
// flags has Remap; an addr of 0 lets the kernel pick, as Attach does. It is
// for processes that want the segment at the same address in each of them,
// so that pointers into it mean the same everywhere: reserve the range
// first (mmap with PROT_NONE) and attach with Remap, since Go gives no
// other way to know an address is free.
func (s *Segment) AttachAt(addr uintptr, flags Flags) (*Mapping, error) {
	if err := s.check("attach"); err != nil {
		return nil, err
	}
	if flags&^attachFlags != 0 {
		return nil, &ipc.Error{Pkg: "shm", Op: "attach", Kind: ipc.Segment, ID: s.id, Err: unix.EINVAL, Detail: "flags other than ReadOnly, Round and Remap"}
	}
	data, err := unix.SysvShmAttach(s.id, addr, int(flags))
	if err != nil {
		return nil, s.err("attach", "shmat", err)
	}
	return &Mapping{made: true, data: data, id: s.id, readOnly: flags&ReadOnly != 0}, nil
}

// ID is the id of the segment the mapping attaches.
func (m *Mapping) ID() int {
	if m == nil || !m.made {
		return -1
	}
	return m.id
}

// ReadOnly reports whether the mapping was attached with ReadOnly.
func (m *Mapping) ReadOnly() bool { return m != nil && m.readOnly }

// Len is the size of the mapping in bytes (the segment's size), 0 once
// detached.
func (m *Mapping) Len() int {
	if m == nil {
		return 0
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.data)
}

// Bytes returns the mapped memory itself, nil once detached. Writes to it
// are seen by every process that has the segment attached, with no
// ordering between processes: share words through the atomic counters and
// larger records under a lock. The slice must not be used after Detach:
// that is a fault (SIGSEGV), which the Mapping cannot prevent.
func (m *Mapping) Bytes() []byte {
	if m == nil {
		return nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.data
}

// ReadAt copies from the mapping at offset off into p, as io.ReaderAt
// says: it returns io.EOF (itself, not wrapped) with fewer than len(p) bytes
// when the end of the segment comes first, and 0, io.EOF at or after it.
func (m *Mapping) ReadAt(p []byte, off int64) (int, error) {
	if err := m.check("read from"); err != nil {
		return 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.data == nil {
		return 0, m.stateErr("read from", ErrDetached, "")
	}
	if off < 0 {
		return 0, m.stateErr("read from", unix.EINVAL, "negative offset "+strconv.FormatInt(off, 10))
	}
	if off >= int64(len(m.data)) {
		return 0, io.EOF
	}
	n := copy(p, m.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt copies p into the mapping at offset off, as io.WriterAt says. A
// segment has a fixed size: what does not fit is not written, and the
// error matches io.ErrShortWrite. A read-only mapping returns an error
// matching ErrReadOnly and writes nothing.
func (m *Mapping) WriteAt(p []byte, off int64) (int, error) {
	if err := m.check("write to"); err != nil {
		return 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	switch {
	case m.data == nil:
		return 0, m.stateErr("write to", ErrDetached, "")
	case m.readOnly:
		return 0, m.stateErr("write to", ErrReadOnly, "")
	case off < 0:
		return 0, m.stateErr("write to", unix.EINVAL, "negative offset "+strconv.FormatInt(off, 10))
	}
	var n int
	if off < int64(len(m.data)) {
		n = copy(m.data[off:], p)
	}
	if n < len(p) {
		return n, m.stateErr("write to", io.ErrShortWrite,
			strconv.Itoa(len(p))+" bytes at offset "+strconv.FormatInt(off, 10)+" pass the end of "+strconv.Itoa(len(m.data)))
	}
	return n, nil
}

// Detach unmaps the segment from this process (shmdt) and decrements its
// NAttch; a segment marked for removal is destroyed when its last mapping
// goes. Detaching twice returns an error matching ErrDetached. Slices from
// Bytes and counters from Uint64 or Uint32 must not be used afterwards.
func (m *Mapping) Detach() error {
	if err := m.check("detach"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil {
		return m.stateErr("detach", ErrDetached, "")
	}
	if err := unix.SysvShmDetach(m.data); err != nil {
		return &ipc.Error{Pkg: "shm", Op: "detach", Kind: ipc.Segment, ID: m.id, Call: "shmdt", Err: ipcobj.Errno(err)}
	}
	m.data = nil
	return nil
}

// Uint64 returns the 64-bit word at byte offset off as an atomic counter
// that every process attaching the segment shares: Add, Load, Store and
// CompareAndSwap on it are atomic across processes (lock-prefixed
// instructions on the same physical memory). off must be a multiple of 8
// within the segment. The counter points into the mapping: do not use it
// after Detach, and do not store through it on a read-only mapping (that
// faults).
func (m *Mapping) Uint64(off int) (*atomic.Uint64, error) {
	p, err := m.word(off, 8)
	return (*atomic.Uint64)(p), err
}

// Uint32 is Uint64 for a 32-bit word; off must be a multiple of 4.
func (m *Mapping) Uint32(off int) (*atomic.Uint32, error) {
	p, err := m.word(off, 4)
	return (*atomic.Uint32)(p), err
}

// word checks that a size-byte word at off is aligned and inside the
// mapping. The mapping starts on a page boundary, so an aligned offset is an
// aligned address.
func (m *Mapping) word(off, size int) (unsafe.Pointer, error) {
	if err := m.check("map counter in"); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	switch {
	case m.data == nil:
		return nil, m.stateErr("map counter in", ErrDetached, "")
	case off < 0 || off > len(m.data)-size:
		return nil, m.stateErr("map counter in", unix.EINVAL,
			"offset "+strconv.Itoa(off)+" is outside the "+strconv.Itoa(len(m.data))+"-byte segment")
	case off%size != 0:
		return nil, m.stateErr("map counter in", unix.EINVAL,
			"offset "+strconv.Itoa(off)+" is not a multiple of "+strconv.Itoa(size))
	}
	return unsafe.Pointer(&m.data[off]), nil
}

// Fill sets every byte of the mapping to b, as Python's sysv_ipc fills a
// new segment with its init_character: a new segment is all zero bytes, so
// a layout whose idle state is another byte needs this once. A read-only
// mapping returns an error matching ErrReadOnly.
func (m *Mapping) Fill(b byte) error {
	if err := m.check("fill"); err != nil {
		return err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	switch {
	case m.data == nil:
		return m.stateErr("fill", ErrDetached, "")
	case m.readOnly:
		return m.stateErr("fill", ErrReadOnly, "")
	}
	// The compiler turns this loop into a memset.
	for i := range m.data {
		m.data[i] = b
	}
	return nil
}

// check refuses a mapping Attach did not make.
func (m *Mapping) check(op string) error {
	if m == nil || !m.made {
		return &ipc.Error{Pkg: "shm", Op: op, Kind: ipc.Segment, ID: -1, Err: ipc.ErrInvalidHandle}
	}
	return nil
}

func (m *Mapping) stateErr(op string, cause error, detail string) error {
	return &ipc.Error{Pkg: "shm", Op: op, Kind: ipc.Segment, ID: m.id, Err: cause, Detail: detail}
}
