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
// process holds it: as with any semaphore, any process may unlock it. A
// Mutex not made by NewMutex or CreateMutex refuses every call with an error
// matching ipc.ErrInvalidHandle.
type Mutex struct {
	set *Set
	num int
}

// NewMutex uses semaphore num of set as a mutex. The semaphore must already
// be 1 for the mutex to be unlocked (SetValue(num, 1)); CreateMutex makes a
// set that is. A num outside the set makes every call fail.
func NewMutex(set *Set, num int) *Mutex { return &Mutex{set: set, num: num} }

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
func (m *Mutex) Set() *Set {
	if m == nil {
		return nil
	}
	return m.set
}

// Lock waits until the mutex is unlocked and takes it.
func (m *Mutex) Lock() error { return m.Set().Do(m.take()) }

// LockTimeout is Lock that gives up after d with an error matching
// os.ErrDeadlineExceeded (semtimedop). A d of 0 or less takes the mutex
// only if it is unlocked now: the error then matches ipc.ErrTimeout.
func (m *Mutex) LockTimeout(d time.Duration) error { return m.Set().DoTimeout(d, m.take()) }

// LockContext is Lock that gives up when ctx is done.
func (m *Mutex) LockContext(ctx context.Context) error { return m.Set().DoContext(ctx, m.take()) }

// Unlock releases the mutex. Unlocking one that is not locked is an error
// (and changes nothing): the check and the release are one atomic semop, so
// a mistaken double unlock cannot turn the mutex into a semaphore of 2.
func (m *Mutex) Unlock() error {
	set := m.Set()
	err := set.Do(WaitZero(m.number(), NoWait), Inc(m.number(), 1, Undo))
	if errors.Is(err, ipc.ErrWouldBlock) {
		return &ipc.Error{Pkg: "sem", Op: "unlock", Kind: ipc.Semaphore, ID: set.id, Call: "semop", Err: unix.EAGAIN, Detail: "the mutex is not locked"}
	}
	return err
}

func (m *Mutex) number() int {
	if m == nil {
		return 0
	}
	return m.num
}

func (m *Mutex) take() Op { return Dec(m.number(), 1, Undo) }

// Semaphore is a counting semaphore: a pool of Value units that processes
// acquire and release, such as slots of a limited resource. A Semaphore not
// made by NewSemaphore refuses every call with an error matching
// ipc.ErrInvalidHandle.
type Semaphore struct {
	set   *Set
	num   int
	flags Flags
}

// NewSemaphore uses semaphore num of set as a counting semaphore. flags go
// with every operation: with Undo the kernel returns the units a process
// holds when it exits; without, units acquired by a process that died stay
// taken.
func NewSemaphore(set *Set, num int, flags Flags) *Semaphore {
	return &Semaphore{set: set, num: num, flags: flags}
}

func (s *Semaphore) parts() (*Set, int, Flags) {
	if s == nil {
		return nil, 0, 0
	}
	return s.set, s.num, s.flags
}

// Acquire waits until n units are free and takes them; n is 1 to 32767.
func (s *Semaphore) Acquire(n int) error {
	set, num, f := s.parts()
	return set.Do(Dec(num, n, f))
}

// AcquireTimeout is Acquire that gives up after d (semtimedop); a d of 0 or
// less takes the units only if they are free now.
func (s *Semaphore) AcquireTimeout(n int, d time.Duration) error {
	set, num, f := s.parts()
	return set.DoTimeout(d, Dec(num, n, f))
}

// AcquireContext is Acquire that gives up when ctx is done.
func (s *Semaphore) AcquireContext(ctx context.Context, n int) error {
	set, num, f := s.parts()
	return set.DoContext(ctx, Dec(num, n, f))
}

// Release gives n units back.
func (s *Semaphore) Release(n int) error {
	set, num, f := s.parts()
	return set.Do(Inc(num, n, f))
}

// Value is the number of free units.
func (s *Semaphore) Value() (int, error) {
	set, num, _ := s.parts()
	return set.Value(num)
}
