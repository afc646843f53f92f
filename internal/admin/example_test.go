package admin_test

import (
	"fmt"

	"github.com/ipctoolkit/ipc/internal/admin"
	"github.com/ipctoolkit/ipc/internal/sys"
	"github.com/ipctoolkit/ipc/ipc"
	"golang.org/x/sys/unix"
)

// Judge a queue nobody ever used: the kernel records no creator for a
// queue, so only its age can condemn it, and only when asked to.
func Example() {
	id, e := sys.Msgget(unix.IPC_PRIVATE, unix.IPC_CREAT|0o600)
	if e != 0 {
		fmt.Println(e)
		return
	}
	defer ipc.Remove(ipc.Queue, id)
	for _, byAge := range []bool{false, true} {
		vs, err := admin.Judge(admin.Options{OlderThanSet: byAge, Kinds: []ipc.Kind{ipc.Queue}})
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, v := range vs {
			if v.ID == id {
				fmt.Println(v.Orphaned, v.Confidence, v.Reasons[0])
			}
		}
	}
	// Output:
	// false unsure never sent to nor received from (the kernel records no creator)
	// true unsure never sent to nor received from (the kernel records no creator)
}
