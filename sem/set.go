package sem

import (
	"strconv"

	"github.com/ipctoolkit/ipc/internal/ipcobj"
	"github.com/ipctoolkit/ipc/internal/rawwait"
	"github.com/ipctoolkit/ipc/internal/sys"
	"github.com/ipctoolkit/ipc/ipc"
	"golang.org/x/sys/unix"
)

// Set is a System V semaphore set, known by its kernel id. It is safe for
// concurrent use by many goroutines and, through its id, many processes.
// Only the constructors make a usable Set: the zero Set, and a nil *Set,
// refuse every call with an error matching ipc.ErrInvalidHandle.
type Set struct {
	id    int
	nsems int
	made  bool         // by a constructor: the zero Set names no set
	waits rawwait.Hint // how its blocking semops are made
}

// Create makes a new set of nsems semaphores, all 0, with the given mode.
// With a key other than ipc.Private it fails with an error matching
// fs.ErrExist if the key already has a set: a program that needs a fresh
// set must not silently share an old one.
func Create(key ipc.Key, nsems int, mode ipc.Mode) (*Set, error) {
	return Get(key, nsems, ipc.Create|ipc.Exclusive, mode)
}

// Open opens the existing set of key; it fails with an error matching
// fs.ErrNotExist if there is none.
func Open(key ipc.Key) (*Set, error) { return Get(key, 0, 0, 0) }

// OpenOrCreate opens the set of key, making it with nsems semaphores if the
// key has none. An existing set must have at least nsems semaphores.
func OpenOrCreate(key ipc.Key, nsems int, mode ipc.Mode) (*Set, error) {
	return Get(key, nsems, ipc.Create, mode)
}

// Get is semget with every choice open: nsems may be 0 to open an existing
// set of any size, flags any of ipc.Create and ipc.Exclusive.
func Get(key ipc.Key, nsems int, flags ipc.Flags, mode ipc.Mode) (*Set, error) {
	fail := func(errno unix.Errno, detail string) error {
		return &ipc.Error{Pkg: "sem", Op: "get", Kind: ipc.Semaphore, ID: -1, Key: key, Call: "semget", Err: errno, Detail: detail}
	}
	switch {
	case !mode.Valid():
		return nil, fail(unix.EINVAL, "mode "+modeText(mode)+" has bits other than read and alter")
	case flags&^(ipc.Create|ipc.Exclusive) != 0:
		return nil, fail(unix.EINVAL, "flags other than ipc.Create and ipc.Exclusive")
	case nsems < 0:
		return nil, fail(unix.EINVAL, "a set cannot have a negative number of semaphores")
	case nsems == 0 && (key == ipc.Private || flags&(ipc.Create|ipc.Exclusive) == ipc.Create|ipc.Exclusive):
		// semget accepts 0 only when it opens an existing set; say so
		// rather than let the kernel's EINVAL speak.
		return nil, fail(unix.EINVAL, "a new set needs at least one semaphore")
	}
	id, errno := sys.Semget(int32(key), nsems, int(flags)|int(mode))
	if errno != 0 {
		return nil, fail(errno, "")
	}
	s := &Set{id: id, nsems: nsems, made: true}
	if n, errno := setSize(id); errno == 0 {
		s.nsems = n // an opened set's own size, not the minimum asked for
	}
	return s, nil
}

// setSize reads the number of semaphores of set id.
func setSize(id int) (int, unix.Errno) {
	var ds sys.SemidDS
	_, errno := ipcobj.Sem.Read(id, &ds)
	return int(ds.Nsems), errno
}

// FromID adopts a set by its id, as a child process given the id by its
// parent does. It checks the set exists and learns its size.
func FromID(id int) (*Set, error) {
	if id < 0 {
		return nil, &ipc.Error{Pkg: "sem", Op: "open", Kind: ipc.Semaphore, ID: id, Call: "semctl", Err: unix.EINVAL, Detail: "ids are not negative"}
	}
	n, errno := setSize(id)
	switch errno {
	case 0:
		return &Set{id: id, nsems: n, made: true}, nil
	case unix.EACCES:
		// Alter permission without read permission still allows semop.
		return &Set{id: id, made: true}, nil
	}
	return nil, (&Set{id: id}).err("open", "semctl(IPC_STAT)", errno)
}

// ID is the kernel's id of the set, which other processes can open with
// FromID; -1 for a handle no constructor made.
func (s *Set) ID() int {
	if s == nil || !s.made {
		return -1
	}
	return s.id
}

// Len is the number of semaphores in the set, or 0 if it could not be read
// (the caller may operate on the set but lacks read permission).
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return s.nsems
}

// Remove removes the set at once (IPC_RMID); every process blocked on it
// wakes with an error matching ipc.ErrRemoved.
func (s *Set) Remove() error {
	if err := s.check("remove"); err != nil {
		return err
	}
	_, errno := sys.SemctlInt(s.id, 0, unix.IPC_RMID, 0)
	return s.err("remove", "semctl(IPC_RMID)", errno)
}

// Stat reads the set's record (IPC_STAT). It needs read permission; List
// shows every set to anyone.
func (s *Set) Stat() (Info, error) {
	if err := s.check("stat"); err != nil {
		return Info{}, err
	}
	var ds sys.SemidDS
	if _, errno := sys.SemctlDS(s.id, unix.IPC_STAT, &ds); errno != 0 {
		return Info{}, s.err("stat", "semctl(IPC_STAT)", errno)
	}
	return infoFromKernel(s.id, &ds), nil
}

// SetOwner gives the set to uid and gid (IPC_SET); only the owner, the
// creator or a privileged process may.
func (s *Set) SetOwner(uid, gid uint32) error {
	return s.update("set owner of", func(ds *sys.SemidDS) { ds.Perm.Uid, ds.Perm.Gid = uid, gid })
}

// SetMode changes the set's permission bits (IPC_SET).
func (s *Set) SetMode(mode ipc.Mode) error {
	if err := s.check("set mode of"); err != nil {
		return err
	}
	if !mode.Valid() {
		return &ipc.Error{Pkg: "sem", Op: "set mode of", Kind: ipc.Semaphore, ID: s.id, Err: unix.EINVAL, Detail: "mode " + modeText(mode) + " has bits other than read and alter"}
	}
	return s.update("set mode of", func(ds *sys.SemidDS) { ds.Perm.Mode = ds.Perm.Mode&^0o777 | uint32(mode) })
}

func (s *Set) update(op string, change func(*sys.SemidDS)) error {
	if err := s.check(op); err != nil {
		return err
	}
	call, errno := ipcobj.Sem.Update(s.id, change)
	return s.err(op, "semctl("+call+")", errno)
}

// Value is the current value of semaphore num (GETVAL).
func (s *Set) Value(num int) (int, error) { return s.getInt("read value of", num, sys.GETVAL) }

// SetValue sets semaphore num to v (SETVAL), which must be within 0 and
// SEMVMX (32767); it clears every process's undo adjustment for it.
func (s *Set) SetValue(num, v int) error {
	if err := s.check("set value of"); err != nil {
		return err
	}
	if v < 0 || v > semvmx {
		return &ipc.Error{Pkg: "sem", Op: "set value of", Kind: ipc.Semaphore, ID: s.id, Call: "semctl", Err: unix.ERANGE, Detail: "a value is between 0 and 32767"}
	}
	_, errno := sys.SemctlInt(s.id, num, sys.SETVAL, v)
	return s.err("set value of", "semctl(SETVAL)", errno)
}

// Values returns every semaphore's value (GETALL).
func (s *Set) Values() ([]uint16, error) {
	if err := s.check("read values of"); err != nil {
		return nil, err
	}
	n := s.nsems
	if n == 0 {
		info, err := s.Stat()
		if err != nil {
			return nil, err
		}
		n = info.NSems
	}
	vals := make([]uint16, n)
	return vals, s.ValuesInto(vals)
}

// ValuesInto reads every semaphore's value into vals (GETALL), which must
// have room for the whole set: the kernel writes Len() values whatever
// the slice's length.
func (s *Set) ValuesInto(vals []uint16) error {
	if err := s.check("read values of"); err != nil {
		return err
	}
	if s.nsems > 0 && len(vals) < s.nsems || len(vals) == 0 {
		return &ipc.Error{Pkg: "sem", Op: "read values of", Kind: ipc.Semaphore, ID: s.id, Err: unix.EINVAL, Detail: "the slice is shorter than the set"}
	}
	return s.err("read values of", "semctl(GETALL)", sys.SemctlArray(s.id, sys.GETALL, vals))
}

// SetValues sets every semaphore at once (SETALL); vals has one value per
// semaphore of the set.
func (s *Set) SetValues(vals []uint16) error {
	if err := s.check("set values of"); err != nil {
		return err
	}
	if len(vals) == 0 || s.nsems > 0 && len(vals) != s.nsems {
		return &ipc.Error{Pkg: "sem", Op: "set values of", Kind: ipc.Semaphore, ID: s.id, Err: unix.EINVAL, Detail: "want one value per semaphore"}
	}
	for _, v := range vals {
		if v > semvmx {
			return &ipc.Error{Pkg: "sem", Op: "set values of", Kind: ipc.Semaphore, ID: s.id, Call: "semctl", Err: unix.ERANGE, Detail: "a value is between 0 and 32767"}
		}
	}
	return s.err("set values of", "semctl(SETALL)", sys.SemctlArray(s.id, sys.SETALL, vals))
}

// LastPID is the pid of the process that last operated on semaphore num
// (GETPID), 0 if none has.
func (s *Set) LastPID(num int) (int, error) { return s.getInt("read last pid of", num, sys.GETPID) }

// WaitingForIncrease is how many processes wait for semaphore num to grow
// (GETNCNT).
func (s *Set) WaitingForIncrease(num int) (int, error) {
	return s.getInt("count waiters on", num, sys.GETNCNT)
}

// WaitingForZero is how many processes wait for semaphore num to be 0
// (GETZCNT).
func (s *Set) WaitingForZero(num int) (int, error) {
	return s.getInt("count waiters on", num, sys.GETZCNT)
}

var getNames = map[int]string{sys.GETVAL: "semctl(GETVAL)", sys.GETPID: "semctl(GETPID)", sys.GETNCNT: "semctl(GETNCNT)", sys.GETZCNT: "semctl(GETZCNT)"}

func (s *Set) getInt(op string, num, cmd int) (int, error) {
	if err := s.check(op); err != nil {
		return 0, err
	}
	v, errno := sys.SemctlInt(s.id, num, cmd, 0)
	if errno != 0 {
		return 0, s.err(op, getNames[cmd], errno)
	}
	return v, nil
}

// check refuses a handle no constructor made.
func (s *Set) check(op string) error {
	if s == nil || !s.made {
		return &ipc.Error{Pkg: "sem", Op: op, Kind: ipc.Semaphore, ID: -1, Err: ipc.ErrInvalidHandle}
	}
	return nil
}

// err wraps a failed call's errno, or returns nil for 0.
func (s *Set) err(op, call string, errno unix.Errno) error {
	if errno == 0 {
		return nil
	}
	e := &ipc.Error{Pkg: "sem", Op: op, Kind: ipc.Semaphore, ID: s.id, Call: call, Err: ipcobj.Sem.Cause(s.id, errno)}
	switch errno {
	case unix.EFBIG:
		e.Detail = "the set has " + strconv.Itoa(s.nsems) + " semaphores"
	case unix.ERANGE:
		e.Detail = "a value is between 0 and 32767"
	}
	return e
}

func modeText(m ipc.Mode) string { return "0" + strconv.FormatUint(uint64(m), 8) }
