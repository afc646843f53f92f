package sem_test

import (
	"fmt"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/sem"
)

// A private set of two semaphores: one operation takes from the first and
// gives to the second atomically.
func Example() {
	set, err := sem.Create(ipc.Private, 2, ipc.DefaultMode)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer set.Remove()

	_ = set.SetValue(0, 1)
	if err := set.Do(sem.Dec(0, 1, 0), sem.Inc(1, 1, 0)); err != nil {
		fmt.Println(err)
		return
	}
	vals, _ := set.Values()
	fmt.Println(vals)

	// Nothing is left to take from the first: without waiting, that fails.
	err = set.Do(sem.Dec(0, 1, sem.NoWait))
	fmt.Println(err != nil)
	// Output:
	// [0 1]
	// true
}

// A mutex shared by processes: a child given the set's id would call
// sem.FromID and sem.NewMutex(set, 0) to contend for the same lock.
func ExampleMutex() {
	m, err := sem.CreateMutex(ipc.Private, 0o600)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Set().Remove()

	_ = m.Lock()
	// A timeout of 0 tries once, without waiting.
	fmt.Println("second lock taken:", m.LockTimeout(0) == nil)
	_ = m.Unlock()
	fmt.Println("double unlock refused:", m.Unlock() != nil)
	// Output:
	// second lock taken: false
	// double unlock refused: true
}
