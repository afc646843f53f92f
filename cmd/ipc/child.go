package main

import "github.com/ipctoolkit/ipc/ipc/proc"

// dispatchChild runs the role of a re-executed child (a demo's or the
// server's) and exits, when this process was started as one.
func dispatchChild() { proc.Dispatch() }
