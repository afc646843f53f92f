// Package proc starts "forked" children the only way a Go program safely
// can: by executing the running binary again, with a role to run instead of
// main, inherited descriptors and a parent-death signal; and it reaps them
// and says how they ended.
//
// A Go process is multithreaded from its first instruction, and fork without
// exec copies only the calling thread: the child's runtime would be missing
// the threads that hold its locks. So a child is started as
// /proc/self/exe (the very file the parent runs, even after a deploy replaced
// the one on disk) with a marker in its environment; the child's main calls
// Dispatch first, which sees the marker and runs the role registered under
// that name instead of the program.
//
//	func init() { proc.Register("worker", worker) }
//
//	func main() {
//		proc.Dispatch() // runs "worker" and exits, in a child
//		...
//		c := proc.Command("worker", "slot", "3")
//		c.ExtraFiles = []*os.File{listener} // fd 3 in the child
//		if err := c.Start(); err != nil { ... }
//		st, err := c.Wait() // "exited with status 0", "killed by signal 9 (killed)"
//	}
//
// In the child, InheritedFile(i, name) returns ExtraFiles[i], ParentPID the
// pid of the process that started it, and WatchParent a channel closed when
// that process is gone. A Group starts many children for a supervisor and
// delivers each one's end on a channel, reaping every child as soon as it
// ends.
//
// # Traps this package is built around
//
//   - Pdeathsig is delivered when the thread that started the child exits,
//     not the process (golang/go#27505), and a goroutine that ends while
//     locked to its thread ends the thread. Every child is therefore started
//     from one goroutine that locks its thread for the life of the process
//     and does nothing else, so a child's parent-death signal means what it
//     says.
//   - A wait4(-1) reaper in the same process steals the exit statuses that
//     Wait is waiting for (Wait then fails with ECHILD). This package never
//     waits for "any child": each Cmd is reaped through its own pidfd, and a
//     Group reaps each of its children the same way. Do not run a catch-all
//     reaper beside it.
//   - Stop and continue events are read without taking the final status:
//     WaitEvent peeks with WNOWAIT and consumes only stop/continue
//     notifications, so Wait still gets the exit.
//   - A child whose parent died between fork and Dispatch (or that was
//     started by something else with the marker in its environment) exits at
//     once with ExitOrphaned instead of running its role for nobody.
//   - A re-executed child has default signal dispositions until its role
//     calls signal.Notify, so an early SIGUSR1 or SIGHUP kills it: send
//     control through a pipe or a queue, and keep signals for TERM and KILL.
package proc

// Stops a build for a system this module does not support with
// internal/sys's one error, before this package's own undefined names.
import _ "github.com/ipctoolkit/ipc/internal/sys"
