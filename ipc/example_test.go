package ipc_test

import (
	"errors"
	"fmt"
	"io/fs"
	"log"

	"github.com/ipctoolkit/ipc/ipc"
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

// The listing shows every queue in the IPC namespace, whoever owns it, as
// ipcs -q does.
func ExampleQueues() {
	queues, err := ipc.Queues()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%-10s %-10s %-10s %-12s %s\n", "key", "msqid", "perms", "used-bytes", "messages")
	for _, q := range queues {
		fmt.Printf("%v %-10d %-10o %-12d %d\n", q.Perm.Key, q.ID, uint32(q.Perm.Mode), q.Cbytes, q.Qnum)
	}
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
