package proc_test

import (
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strings"

	"github.com/ipctoolkit/ipc/ipc/proc"
)

// A role is registered in init, so that the parent and the re-executed
// child (the same binary) both know it; main (here TestMain) calls
// proc.Dispatch first.
func init() {
	proc.Register("example-greet", func(args []string) int {
		fmt.Println("child: answering on descriptor 3")
		out := proc.InheritedFile(0, "reply")
		fmt.Fprintf(out, "hello from a child of %s\n", strings.Join(args, " "))
		out.Close()
		return 3
	})
}

// A child runs a role with arguments, answers on a pipe it inherited as
// descriptor 3, prints on the parent's stdout, and exits with status 3.
func Example() {
	r, w, err := os.Pipe()
	if err != nil {
		log.Fatal(err)
	}
	c := proc.Command("example-greet", "the", "example")
	c.ExtraFiles = []*os.File{w}
	if err := c.Start(); err != nil {
		log.Fatal(err)
	}
	w.Close() // the child has its own copy now
	reply := make([]byte, 100)
	n, _ := r.Read(reply)
	fmt.Print(string(reply[:n]))

	st, err := c.Wait()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("parent: child", st)
	// Output:
	// child: answering on descriptor 3
	// hello from a child of the example
	// parent: child exited with status 3
}

func init() {
	proc.Register("example-worker", func(args []string) int {
		if args[0] == "crash" {
			panic("worker crashed")
		}
		return 0
	})
}

// A Group reaps every child the moment it ends and delivers the endings on
// a channel; Close lets the channel close once the last one is read.
func ExampleGroup() {
	var g proc.Group
	for _, how := range []string{"ok", "crash", "ok"} {
		c := proc.Command("example-worker", how)
		c.Stderr = io.Discard // not the crashing one's panic trace, here
		if err := g.Start(c); err != nil {
			log.Fatal(err)
		}
	}
	g.Close()
	var ends []string
	for e := range g.Exits() {
		ends = append(ends, e.Cmd.Args[0]+": "+e.Status.String())
	}
	slices.Sort(ends)
	fmt.Println(strings.Join(ends, "\n"))
	// Output:
	// crash: exited with status 2
	// ok: exited with status 0
	// ok: exited with status 0
}
