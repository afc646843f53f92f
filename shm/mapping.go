package shm

import (
	"errors"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

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

// AttachOption changes how Attach maps a segment.
type AttachOption uint32

// ReadOnly attaches the segment for reading only (SHM_RDONLY), which needs
// only read permission on it. Writing through Bytes then faults; WriteAt
// returns ErrReadOnly.
const ReadOnly AttachOption = unix.SHM_RDONLY

// Mapping is one attachment of a segment into this process's address space
// (shmat). Its methods are safe for concurrent use, including Detach: once
// detached, every method returns ErrDetached (or nil, or 0) instead of
// touching memory that is gone. Each Mapping counts once in the segment's
// NAttch until Detach or the end of the process; there is no finalizer,
// since the memory may still be in use through Bytes when the Mapping
// itself is unreachable.
type Mapping struct {
	// mu is held for reading while the memory is used, and for writing by
	// Detach, so that no copy runs into an unmapped region.
	mu       sync.RWMutex
	data     []byte // nil once detached
	id       int
	readOnly bool
}

// Attach maps the segment into this process, at an address the kernel
// picks, for reading and writing unless ReadOnly is given. Read-write needs
// read and write permission on the segment, ReadOnly read permission;
// without them the error matches fs.ErrPermission. A segment that was
// destroyed gives EINVAL; on Linux one that was removed but is still
// attached elsewhere can be attached.
func (s *Segment) Attach(opts ...AttachOption) (*Mapping, error) {
	var flags int
	for _, o := range opts {
		flags |= int(o)
	}
	if flags&^unix.SHM_RDONLY != 0 {
		return nil, &ipc.Error{Pkg: "shm", Op: "attach", Kind: ipc.Segment, ID: s.id, Err: unix.EINVAL, Detail: "unknown attach option"}
	}
	data, err := unix.SysvShmAttach(s.id, 0, flags)
	if err != nil {
		return nil, s.err("attach", "shmat", err)
	}
	return &Mapping{data: data, id: s.id, readOnly: flags&unix.SHM_RDONLY != 0}, nil
}

// ID is the id of the segment the mapping attaches.
func (m *Mapping) ID() int { return m.id }

// ReadOnly reports whether the mapping was attached with ReadOnly.
func (m *Mapping) ReadOnly() bool { return m.readOnly }

// Len is the size of the mapping in bytes (the segment's size), 0 once
// detached.
func (m *Mapping) Len() int {
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
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.data
}

// ReadAt copies from the mapping at offset off into p, as io.ReaderAt
// says: it returns io.EOF (itself, not wrapped) with fewer than len(p) bytes
// when the end of the segment comes first, and 0, io.EOF at or after it.
func (m *Mapping) ReadAt(p []byte, off int64) (int, error) {
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
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil {
		return m.stateErr("detach", ErrDetached, "")
	}
	if err := unix.SysvShmDetach(m.data); err != nil {
		return &ipc.Error{Pkg: "shm", Op: "detach", Kind: ipc.Segment, ID: m.id, Call: "shmdt", Err: toErrno(err)}
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

func (m *Mapping) stateErr(op string, cause error, detail string) error {
	return &ipc.Error{Pkg: "shm", Op: op, Kind: ipc.Segment, ID: m.id, Err: cause, Detail: detail}
}
