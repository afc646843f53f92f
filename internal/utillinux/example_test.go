package utillinux_test

import (
	"fmt"

	"github.com/ipctoolkit/ipc/internal/utillinux"
)

// The options of ipcrm, as its --help and a completion list them.
func ExampleTool_Options() {
	for _, o := range utillinux.Ipcrm.Options(false)[:3] {
		fmt.Printf("-%c --%s %s: %s\n", o.Short, o.Long, o.Arg, o.Help)
	}
	// Output:
	// -m --shmem-id <id>: remove shared memory segment by id
	// -M --shmem-key <key>: remove shared memory segment by key
	// -q --queue-id <id>: remove message queue by id
}

// Sizes as ipcmk -M and ipcs --human read and print them.
func ExampleParseSize() {
	n, _ := utillinux.ParseSize("1.5K")
	fmt.Println(n, utillinux.HumanSize(n), utillinux.HumanSize(5000))
	// Output: 1536 1.5K 4.9K
}
