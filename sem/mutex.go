package sem

import (
	"context"
	"errors"
	"time"

	"github.com/ipctoolkit/ipc/ipc"
	"golang.org/x/sys/unix"
)

// Mutex is a binary semaphore used as a lock between processes: 1 is
// unlocked, 0 locked. Every operation carries Undo, so if the holder dies,
// even by kill -9, the kernel gives the lock back. It does not track which
// process holds it: as with any semaphore, any process may unlock it.
type Mutex struct {
	set *Set
	num uint16
}

// NewMutex uses semaphore num of set as a mutex. The semaphore must already
// be 1 for the mutex to be unlocked (SetValue(num, 1)); CreateMutex makes a
// set that is.
func NewMutex(set *Set, num int) *Mutex { return &Mutex{set: set, num: uint16(num)} }

// CreateMutex makes a set of one semaphore, sets it to 1 and returns it as
// an unlocked mutex. The caller removes the set (m.Set().Remove()) when done.
func CreateMutex(key ipc.Key, mode ipc.Mode) (*Mutex, error) {
	set, err := Create(key, 1, mode)
	if err != nil {
		return nil, err
	}
	if err := set.SetValue(0, 1); err != nil {
		_ = set.Remove()
		return nil, err
	}
	return NewMutex(set, 0), nil
}

// Set is the set the mutex lives in.
func (m *Mutex) Set() *Set { return m.set }

// Lock waits until the mutex is unlocked and takes it.
func (m *Mutex) Lock() error { return m.set.Do(m.take()) }

// TryLock takes the mutex if it is unlocked and reports whether it did.
func (m *Mutex) TryLock() (bool, error) {
	err := m.set.Do(m.take().NoWait())
	if errors.Is(err, ipc.ErrWouldBlock) {
		return false, nil
	}
	return err == nil, err
}

// LockTimeout is Lock that gives up after d with an error matching
// os.ErrDeadlineExceeded.
func (m *Mutex) LockTimeout(d time.Duration) error { return m.set.DoTimeout(d, m.take()) }

// LockContext is Lock that gives up when ctx is done.
func (m *Mutex) LockContext(ctx context.Context) error { return m.set.DoContext(ctx, m.take()) }

// Unlock releases the mutex. Unlocking one that is not locked is an error
// (and changes nothing): the check and the release are one atomic semop, so
// a mistaken double unlock cannot turn the mutex into a semaphore of 2.
func (m *Mutex) Unlock() error {
	err := m.set.Do(WaitZero(int(m.num)).NoWait(), Inc(int(m.num), 1).Undo())
	if errors.Is(err, ipc.ErrWouldBlock) {
		return &ipc.Error{Pkg: "sem", Op: "unlock", Kind: ipc.Semaphore, ID: m.set.id, Call: "semop", Err: unix.EAGAIN, Detail: "the mutex is not locked"}
	}
	return err
}

func (m *Mutex) take() Op { return Op{Num: m.num, Delta: -1, Flags: Undo} }

// Semaphore is a counting semaphore: a pool of Value units that processes
// acquire and release, such as slots of a limited resource.
type Semaphore struct {
	set   *Set
	num   uint16
	flags OpFlags
}

// NewSemaphore uses semaphore num of set as a counting semaphore. With undo,
// the kernel returns the units a process holds when it exits; without, units
// acquired by a process that died stay taken.
func NewSemaphore(set *Set, num int, undo bool) *Semaphore {
	s := &Semaphore{set: set, num: uint16(num)}
	if undo {
		s.flags = Undo
	}
	return s
}

// Acquire waits until n units are free and takes them.
func (s *Semaphore) Acquire(n int16) error { return s.set.Do(s.op(-n)) }

// TryAcquire takes n units if they are free and reports whether it did.
func (s *Semaphore) TryAcquire(n int16) (bool, error) {
	err := s.set.Do(s.op(-n).NoWait())
	if errors.Is(err, ipc.ErrWouldBlock) {
		return false, nil
	}
	return err == nil, err
}

// AcquireTimeout is Acquire that gives up after d.
func (s *Semaphore) AcquireTimeout(n int16, d time.Duration) error {
	return s.set.DoTimeout(d, s.op(-n))
}

// AcquireContext is Acquire that gives up when ctx is done.
func (s *Semaphore) AcquireContext(ctx context.Context, n int16) error {
	return s.set.DoContext(ctx, s.op(-n))
}

// Release gives n units back.
func (s *Semaphore) Release(n int16) error { return s.set.Do(s.op(n)) }

// Value is the number of free units.
func (s *Semaphore) Value() (int, error) { return s.set.Value(int(s.num)) }

func (s *Semaphore) op(delta int16) Op { return Op{Num: s.num, Delta: delta, Flags: s.flags} }
