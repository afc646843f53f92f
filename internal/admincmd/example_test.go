package admincmd_test

import (
	"bytes"
	"fmt"

	"github.com/ipctoolkit/ipc/internal/admincmd"
)

// Util takes only the administrator's options; a command line without
// them is left to the util-linux tool, and a combination that cannot be
// honoured is a usage error, said in one line, with status 2.
func ExampleUtil() {
	var stdout, stderr bytes.Buffer
	_, handled := admincmd.Util("ls", &stdout, &stderr, []string{"-q", "--human"})
	fmt.Println("ls -q --human handled:", handled)

	code, handled := admincmd.Util("ls", &stdout, &stderr, []string{"--count", "3"})
	fmt.Println("ls --count 3 handled:", handled, "status:", code)
	fmt.Print(stderr.String())
	// Output:
	// ls -q --human handled: false
	// ls --count 3 handled: true status: 2
	// ipc: ls: --interval and --count only go with --watch
}
