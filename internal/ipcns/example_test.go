package ipcns_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/ipctoolkit/ipc/internal/ipcns"
)

// Count the message queues in the IPC namespace of a process (here our
// own, so that the example runs anywhere it is allowed to setns).
func Example() {
	ns, err := ipcns.Open(strconv.Itoa(os.Getpid()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ns.Close()
	err = ns.Do(func() error {
		// Opened on the namespace's thread, so the kernel lists that
		// namespace's queues.
		b, err := os.ReadFile("/proc/sysvipc/msg")
		if err != nil {
			return err
		}
		ino, _ := ipcns.Current()
		fmt.Println("inside:", ino == ns.Inode, "header:", strings.Fields(string(b))[0])
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output: inside: true header: key
}
