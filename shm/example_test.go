package shm_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/shm"
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
	m, err := seg.Attach()
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
	m, err := seg.Attach()
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
