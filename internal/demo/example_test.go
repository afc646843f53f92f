package demo_test

import (
	"fmt"

	"github.com/ipctoolkit/ipc/internal/demo"
)

// The demos a program registers: each is a urfave/cli command.
func ExampleCommands() {
	for _, c := range demo.Commands() {
		fmt.Println(c.Name)
	}
	// Unordered output:
	// msgq-demo
	// pipe-demo
	// proc-demo
	// sem-demo
	// shm-demo
}
