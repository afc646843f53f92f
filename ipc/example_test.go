package ipc_test

import (
	"errors"
	"fmt"
	"io/fs"
	"log"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/msgq"
)

// Keys are given on command lines in hex, in decimal or as "private", and
// printed as ipcs prints them.
func ExampleParseKey() {
	for _, s := range []string{"0x1b2c", "6956", "private", "-1", "0x100000000"} {
		k, err := ipc.ParseKey(s)
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Println(k)
	}
	// Output:
	// 0x00001b2c
	// 0x00001b2c
	// 0x00000000
	// 0xffffffff
	// error: invalid key "0x100000000": want hex (0x1b2c), decimal or "private"
}

// Two programs that agree on a file and a project number reach the same
// object without passing its id around.
func ExampleFtok() {
	a, err := ipc.Ftok("/", 'q')
	if err != nil {
		log.Fatal(err)
	}
	b, _ := ipc.Ftok("/", 'q')
	fmt.Println(a == b, uint32(a)>>24 == 'q')
	// Output: true true
}

// An object under a random unused key, as Python's sysv_ipc makes one for
// a key of None: unlike ipc.Private, the key lets other processes open it.
func ExampleCreateRandom() {
	q, key, err := ipc.CreateRandom(func(k ipc.Key) (*msgq.Queue, error) {
		return msgq.Create(k, ipc.DefaultMode)
	})
	if err != nil {
		log.Fatal(err)
	}
	defer q.Remove()
	same, err := msgq.Open(key)
	fmt.Println(err == nil && same.ID() == q.ID(), key != ipc.Private)
	// Output: true true
}

// Removing by key, with ipcrm's distinctions drawn from the error.
func ExampleRemoveKey() {
	err := ipc.RemoveKey(ipc.Queue, 0x5eed)
	switch {
	case err == nil:
		fmt.Println("removed")
	case errors.Is(err, fs.ErrNotExist):
		fmt.Println("invalid key")
	case errors.Is(err, fs.ErrPermission):
		fmt.Println("permission denied")
	default:
		fmt.Println(err)
	}
}

// The limits ipcs -l prints.
func ExampleReadLimits() {
	l, err := ipc.ReadLimits()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("min seg size (bytes) =", l.SHMMIN)
	fmt.Println("semaphore max value =", l.SEMVMX)
	// Output:
	// min seg size (bytes) = 1
	// semaphore max value = 32767
}
