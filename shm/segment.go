package shm

import (
	"strconv"

	"github.com/ipctoolkit/ipc/internal/ipcobj"
	"github.com/ipctoolkit/ipc/internal/sys"
	"github.com/ipctoolkit/ipc/ipc"
	"golang.org/x/sys/unix"
)

// Segment is a System V shared memory segment, known by its kernel id. It
// holds no memory itself (Attach maps it), so it is cheap to copy and safe
// for concurrent use; the kernel keeps all state. Only the constructors
// make a usable Segment: the zero Segment, and a nil *Segment, refuse every
// call with an error matching ipc.ErrInvalidHandle.
type Segment struct {
	id      int
	key     ipc.Key
	size    int
	created bool
	made    bool // by a constructor: the zero Segment names no segment
}

// shmget flags beyond ipc.Create and ipc.Exclusive, for Get. They are of
// type ipc.Flags because shmget takes them with the open flags; they are
// ignored when an existing segment is opened.
const (
	// HugeTLB backs the segment with huge pages (SHM_HUGETLB), which must
	// have been reserved (vm.nr_hugepages); without them the call fails with
	// ENOMEM. An unprivileged caller also needs to be in
	// vm.hugetlb_shm_group, else EPERM. The size is rounded up to a whole
	// huge page.
	HugeTLB ipc.Flags = sys.SHM_HUGETLB
	// NoReserve does not reserve swap space for the segment
	// (SHM_NORESERVE): a large, sparsely used segment does not count
	// against overcommit, at the price of a SIGSEGV on a write when memory
	// runs out.
	NoReserve ipc.Flags = sys.SHM_NORESERVE
)

// Create makes a new segment of size bytes, zero-filled, with the given
// mode. With a key other than ipc.Private it fails with an error matching
// fs.ErrExist if the key already has a segment: a stale segment of the same
// key would silently keep its old size and contents.
func Create(key ipc.Key, size int, mode ipc.Mode) (*Segment, error) {
	return get("create", key, size, ipc.Create|ipc.Exclusive, mode)
}

// Open opens the existing segment of key, of whatever size; it fails with an
// error matching fs.ErrNotExist if there is none. It asks for no permission
// (Attach checks that), so it also opens a segment the caller may only
// remove. ipc.Private names no existing segment and gives EINVAL, since a
// get with it would make one.
func Open(key ipc.Key) (*Segment, error) {
	if key == ipc.Private {
		return nil, &ipc.Error{Pkg: "shm", Op: "open", Kind: ipc.Segment, ID: -1, Key: key, Err: unix.EINVAL,
			Detail: "the private key names no existing segment"}
	}
	return get("open", key, 0, 0, 0)
}

// OpenOrCreate opens the segment of key, making it with size bytes if the
// key has none. An existing segment must be at least size bytes. Created
// tells the two cases apart; a new segment is zero-filled, so a layout whose
// zero value is a valid state needs no initialisation step, and so has no
// initialisation race.
func OpenOrCreate(key ipc.Key, size int, mode ipc.Mode) (*Segment, error) {
	if key == ipc.Private {
		return Create(key, size, mode)
	}
	// Try to create first, so that Created is exact; if another process
	// wins, open what it made. It may also remove it between the two calls
	// (ENOENT), so try again, a bounded number of times.
	var err error
	for range 100 {
		var s *Segment
		s, err = get("create", key, size, ipc.Create|ipc.Exclusive, mode)
		if err == nil || !isErrno(err, unix.EEXIST) {
			return s, err
		}
		s, err = get("open", key, size, 0, mode)
		if err == nil || !isErrno(err, unix.ENOENT) {
			return s, err
		}
	}
	return nil, err
}

// Get is shmget with every choice open. flags are any of ipc.Create,
// ipc.Exclusive, HugeTLB and NoReserve. size may be 0 to open an existing segment of any size; a
// larger size must not exceed the existing segment's. mode is the new
// segment's mode, and, when an existing segment is opened, the access the
// caller asks for (0o400 read, 0o200 write): the kernel checks it then.
func Get(key ipc.Key, size int, flags ipc.Flags, mode ipc.Mode) (*Segment, error) {
	return get("get", key, size, flags, mode)
}

func get(op string, key ipc.Key, size int, flags ipc.Flags, mode ipc.Mode) (*Segment, error) {
	fail := func(errno unix.Errno, detail string) error {
		return &ipc.Error{Pkg: "shm", Op: op, Kind: ipc.Segment, ID: -1, Key: key, Call: "shmget", Err: errno, Detail: detail}
	}
	extra := int(flags & (HugeTLB | NoReserve))
	flags &^= HugeTLB | NoReserve
	switch {
	case !mode.Valid():
		return nil, fail(unix.EINVAL, "mode "+modeText(mode)+" has bits other than read and write")
	case size < 0:
		return nil, fail(unix.EINVAL, "a size cannot be negative")
	case flags&^(ipc.Create|ipc.Exclusive) != 0:
		return nil, fail(unix.EINVAL, "flags other than ipc.Create, ipc.Exclusive, HugeTLB and NoReserve")
	}
	id, err := unix.SysvShmGet(int(key), size, int(flags)|int(mode)|extra)
	if err != nil {
		errno := ipcobj.Errno(err)
		return nil, fail(errno, getDetail(errno, key, size, flags, extra))
	}
	s := &Segment{id: id, key: key, size: size, made: true}
	// The kernel tells whether this call made the segment only by the
	// creator's pid and the attach count; a fresh creation with
	// Exclusive (or the private key) is certain.
	s.created = flags&ipc.Create != 0 && (flags&ipc.Exclusive != 0 || key == ipc.Private)
	s.learnSize()
	return s, nil
}

// getDetail says which limit an errno of shmget most likely came from.
func getDetail(errno unix.Errno, key ipc.Key, size int, flags ipc.Flags, extra int) string {
	switch errno {
	case unix.EINVAL:
		if key != ipc.Private && flags&ipc.Exclusive == 0 {
			if id, err := unix.SysvShmGet(int(key), 0, 0); err == nil {
				var ds unix.SysvShmDesc
				if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &ds); err == nil && uint64(size) > ds.Segsz {
					return "the existing segment has only " + strconv.FormatUint(ds.Segsz, 10) + " bytes"
				}
				if ipcobj.Shm.StatAnyID(id, &ds) == 0 && uint64(size) > ds.Segsz {
					return "the existing segment has only " + strconv.FormatUint(ds.Segsz, 10) + " bytes"
				}
			}
		}
		if size < 1 {
			return "a new segment needs at least SHMMIN (1) byte"
		}
		if max, err := ipcobj.ReadUint("/proc/sys/kernel/shmmax"); err == nil && uint64(size) > max {
			return strconv.Itoa(size) + " bytes exceed kernel.shmmax " + strconv.FormatUint(max, 10)
		}
	case unix.ENOSPC:
		return "kernel.shmmni segments exist, or kernel.shmall pages are in use"
	case unix.ENOMEM:
		if extra&sys.SHM_HUGETLB != 0 {
			return "not enough free huge pages (vm.nr_hugepages)"
		}
	case unix.EPERM:
		if extra&sys.SHM_HUGETLB != 0 {
			return "huge pages need CAP_IPC_LOCK or membership of vm.hugetlb_shm_group"
		}
	}
	return ""
}

// FromID adopts a segment by its id, as a child process given the id by its
// parent does. It checks the segment exists and learns its size and key.
func FromID(id int) (*Segment, error) {
	if id < 0 {
		return nil, &ipc.Error{Pkg: "shm", Op: "open", Kind: ipc.Segment, ID: id, Call: "shmctl", Err: unix.EINVAL, Detail: "ids are not negative"}
	}
	var ds unix.SysvShmDesc
	if _, errno := ipcobj.Shm.Read(id, &ds); errno != 0 {
		if errno != unix.EACCES {
			return nil, (&Segment{id: id}).err("open", "shmctl(IPC_STAT)", errno)
		}
		// It exists, but the caller may not read its record, and the
		// kernel has no SHM_STAT_ANY. Without read permission Attach
		// fails anyway, but Remove or SetMode may be allowed.
		return &Segment{id: id, key: ipc.Private, made: true}, nil
	}
	return &Segment{id: id, key: ipc.Key(ds.Perm.Key), size: int(ds.Segsz), made: true}, nil
}

// learnSize reads the size of an opened segment: from IPC_STAT if the
// caller may read the segment's record, else from SHM_STAT_ANY.
func (s *Segment) learnSize() {
	var ds unix.SysvShmDesc
	if _, errno := ipcobj.Shm.Read(s.id, &ds); errno == 0 {
		s.size = int(ds.Segsz)
	}
}

// ID is the kernel's id of the segment, which other processes can open with
// FromID. Ids are never negative; 0 is a valid id.
func (s *Segment) ID() int {
	if s == nil || !s.made {
		return -1
	}
	return s.id
}

// Key is the key the segment was opened with (or, for FromID, had then).
// It does not change when the segment is removed, while the kernel's does:
// Stat shows ipc.Private for a removed segment.
func (s *Segment) Key() ipc.Key {
	if s == nil {
		return ipc.Private
	}
	return s.key
}

// Size is the segment's size in bytes as the kernel reports it, which may
// be larger than the size asked of Get when an existing segment was opened.
// It is 0 only if neither IPC_STAT nor /proc/sysvipc could be read.
func (s *Segment) Size() int {
	if s == nil {
		return 0
	}
	return s.size
}

// Created reports whether this handle's call made the segment, as opposed to
// opening one that existed. It is exact for Create and OpenOrCreate.
func (s *Segment) Created() bool { return s != nil && s.created }

// Remove removes the segment (IPC_RMID). A segment nobody has attached is
// destroyed at once. An attached one is only marked: its key is cleared at
// once, so the key is free for a new segment and Open no longer finds this
// one; Stat reports Removed and ipc.Private as the key; Linux still lets
// processes attach it by id (other systems do not); and the kernel destroys
// it, with its contents, when the last process detaches. Removing right
// after attaching is the way to make a segment that cannot outlive its
// users, even after kill -9.
func (s *Segment) Remove() error {
	if err := s.check("remove"); err != nil {
		return err
	}
	_, err := unix.SysvShmCtl(s.id, unix.IPC_RMID, nil)
	return s.err("remove", "shmctl(IPC_RMID)", err)
}

// Stat reads the segment's record (IPC_STAT). It needs read permission;
// List shows every segment to anyone.
func (s *Segment) Stat() (Info, error) {
	if err := s.check("stat"); err != nil {
		return Info{}, err
	}
	var ds unix.SysvShmDesc
	if _, err := unix.SysvShmCtl(s.id, unix.IPC_STAT, &ds); err != nil {
		return Info{}, s.err("stat", "shmctl(IPC_STAT)", err)
	}
	return infoFromKernel(s.id, &ds), nil
}

// SetOwner gives the segment to uid and gid (IPC_SET), keeping its mode;
// only the owner, the creator or a privileged process may.
func (s *Segment) SetOwner(uid, gid uint32) error {
	return s.update("set owner of", func(ds *unix.SysvShmDesc) { ds.Perm.Uid, ds.Perm.Gid = uid, gid })
}

// SetMode changes the segment's permission bits (IPC_SET), keeping its
// owner. Attachments already made keep the access they were made with.
func (s *Segment) SetMode(mode ipc.Mode) error {
	if err := s.check("set mode of"); err != nil {
		return err
	}
	if !mode.Valid() {
		return &ipc.Error{Pkg: "shm", Op: "set mode of", Kind: ipc.Segment, ID: s.id, Err: unix.EINVAL,
			Detail: "mode " + modeText(mode) + " has bits other than read and write"}
	}
	return s.update("set mode of", func(ds *unix.SysvShmDesc) { ds.Perm.Mode = ds.Perm.Mode&^0o777 | uint32(mode) })
}

// update is IPC_SET as a read-modify-write (ipcobj.Update), so that
// changing the owner keeps the mode and the other way round.
func (s *Segment) update(op string, change func(*unix.SysvShmDesc)) error {
	if err := s.check(op); err != nil {
		return err
	}
	call, errno := ipcobj.Shm.Update(s.id, change)
	return s.err(op, "shmctl("+call+")", errno)
}

// LockMemory pins the segment's pages in memory (SHM_LOCK): they are never
// swapped out, which a latency-sensitive reader may want. Pages are not
// faulted in by the lock itself, only kept once touched. It needs
// CAP_IPC_LOCK, or an RLIMIT_MEMLOCK large enough for the segment and
// ownership of it; otherwise the error matches fs.ErrPermission (EPERM) or
// says ENOMEM.
func (s *Segment) LockMemory() error {
	if err := s.check("lock memory of"); err != nil {
		return err
	}
	_, err := unix.SysvShmCtl(s.id, sys.SHM_LOCK, nil)
	return s.err("lock memory of", "shmctl(SHM_LOCK)", err)
}

// UnlockMemory undoes LockMemory (SHM_UNLOCK), letting the pages be
// swapped again.
func (s *Segment) UnlockMemory() error {
	if err := s.check("unlock memory of"); err != nil {
		return err
	}
	_, err := unix.SysvShmCtl(s.id, sys.SHM_UNLOCK, nil)
	return s.err("unlock memory of", "shmctl(SHM_UNLOCK)", err)
}

// check refuses a handle no constructor made.
func (s *Segment) check(op string) error {
	if s == nil || !s.made {
		return &ipc.Error{Pkg: "shm", Op: op, Kind: ipc.Segment, ID: -1, Err: ipc.ErrInvalidHandle}
	}
	return nil
}

// err wraps a failed call's error (an errno, as error or unix.Errno), or
// returns nil for none.
func (s *Segment) err(op, call string, err error) error {
	errno := ipcobj.Errno(err)
	if errno == 0 {
		return nil
	}
	e := &ipc.Error{Pkg: "shm", Op: op, Kind: ipc.Segment, ID: s.id, Call: call, Err: ipcobj.Shm.Cause(s.id, errno)}
	if errno == unix.ENOMEM && call == "shmctl(SHM_LOCK)" {
		e.Detail = "the segment exceeds RLIMIT_MEMLOCK"
	}
	return e
}

func isErrno(err error, errno unix.Errno) bool {
	e, ok := err.(*ipc.Error)
	return ok && e.Err == errno
}

func modeText(m ipc.Mode) string { return "0" + strconv.FormatUint(uint64(m), 8) }
