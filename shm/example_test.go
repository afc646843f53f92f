package shm_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"sync"
	"unsafe"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/ipctoolkit/ipc/shm"
	"golang.org/x/sys/unix"
)

// A segment is made once, attached by every process that shares it, and
// removed by whoever is last to need its key. Removing right after
// attaching is allowed on Linux: the segment then lives exactly as long as
// its attachments.
func Example() {
	seg, err := shm.Create(ipc.Private, 4096, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	m, err := seg.Attach(0)
	if err != nil {
		seg.Remove()
		log.Fatal(err)
	}
	// Marked for removal now; destroyed at the last Detach, even if this
	// process is killed.
	if err := seg.Remove(); err != nil {
		log.Fatal(err)
	}

	if _, err := m.WriteAt([]byte("hello, other process"), 100); err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := m.ReadAt(buf, 100); err != nil {
		log.Fatal(err)
	}
	info, err := seg.Stat()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s; %d bytes, %d attached, removed %t\n", buf, info.Size, info.NAttch, info.Removed)

	if err := m.Detach(); err != nil {
		log.Fatal(err)
	}
	_, err = m.ReadAt(buf, 0)
	fmt.Println(errors.Is(err, shm.ErrDetached))
	// Output:
	// hello; 4096 bytes, 1 attached, removed true
	// true
}

// Counters in a segment are shared by every process that attaches it; each
// operation is atomic across processes.
func ExampleMapping_Uint64() {
	seg, err := shm.Create(ipc.Private, 4096, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Remove()
	m, err := seg.Attach(0)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Detach()

	requests, err := m.Uint64(0)
	if err != nil {
		log.Fatal(err)
	}
	requests.Add(3)
	fmt.Println(requests.Load())

	_, err = m.Uint64(12)
	var e *ipc.Error
	if errors.As(err, &e) {
		fmt.Println(e.Detail)
	}
	// Output:
	// 3
	// offset 12 is not a multiple of 8
}

// A record larger than a word is shared under a lock that every process can
// take: a binary semaphore from package sem. Each worker here stands for a
// separate process: it knows only the two ids, opens the segment and the
// semaphore set by id, and attaches the segment itself, as a child given
// the ids on its command line would. The record is two balances whose sum
// must never change, and a count of transfers.
func Example_mutex() {
	seg, err := shm.Create(ipc.Private, 4096, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Remove()
	mu, err := sem.CreateMutex(ipc.Private, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	defer mu.Set().Remove()
	segID, semID := seg.ID(), mu.Set().ID()

	worker := func(from, to int) error {
		s, err := shm.FromID(segID)
		if err != nil {
			return err
		}
		m, err := s.Attach(0)
		if err != nil {
			return err
		}
		defer m.Detach()
		set, err := sem.FromID(semID)
		if err != nil {
			return err
		}
		lock := sem.NewMutex(set, 0)
		rec := m.Bytes() // balance 0 at [0:8], balance 1 at [8:16], transfers at [16:24]
		field := func(i int) []byte { return rec[8*i : 8*i+8] }
		for range 100 {
			if err := lock.Lock(); err != nil {
				return err
			}
			src := binary.NativeEndian.Uint64(field(from))
			if src > 0 {
				binary.NativeEndian.PutUint64(field(from), src-1)
				binary.NativeEndian.PutUint64(field(to), binary.NativeEndian.Uint64(field(to))+1)
				binary.NativeEndian.PutUint64(field(2), binary.NativeEndian.Uint64(field(2))+1)
			}
			if err := lock.Unlock(); err != nil {
				return err
			}
		}
		return nil
	}

	m, err := seg.Attach(0)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Detach()
	binary.NativeEndian.PutUint64(m.Bytes()[0:], 500)
	binary.NativeEndian.PutUint64(m.Bytes()[8:], 500)

	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			if err := worker(i%2, 1-i%2); err != nil {
				log.Fatal(err)
			}
		})
	}
	wg.Wait()

	mu.Lock()
	a := binary.NativeEndian.Uint64(m.Bytes()[0:])
	b := binary.NativeEndian.Uint64(m.Bytes()[8:])
	n := binary.NativeEndian.Uint64(m.Bytes()[16:])
	mu.Unlock()
	fmt.Println("sum:", a+b, "transfers:", n)
	// Output: sum: 1000 transfers: 400
}

// A segment at an address of the program's choosing, so that pointers into
// it mean the same in every process that maps it there: reserve the range
// first (mmap with no access), then attach over the reservation with Remap.
// Fill gives a new segment its idle byte, as sysv_ipc's init_character does.
func ExampleSegment_AttachAt() {
	seg, err := shm.Create(ipc.Private, 4096, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Remove()
	reserved, err := unix.Mmap(-1, 0, 4096, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		log.Fatal(err)
	}
	addr := uintptr(unsafe.Pointer(&reserved[0]))
	m, err := seg.AttachAt(addr, shm.Remap)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Detach() // which unmaps the range: the reservation is gone with it
	if err := m.Fill(' '); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("at the address asked: %t; first bytes %q\n", uintptr(unsafe.Pointer(&m.Bytes()[0])) == addr, m.Bytes()[:3])
	// Output: at the address asked: true; first bytes "   "
}
