package admincmd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/ipctoolkit/ipc/internal/ipcns"
)

// The global --namespace PID|PATH: every command (ls, rm, status, the
// object commands) runs inside that IPC namespace. It is handled once, in
// cmd/ipc's run, before urfave or a util-linux parser sees the arguments
// (EnterNamespace): the flag is
// taken out and ipc executes itself again from a thread that entered the
// namespace (ipcns.Exec), so that every thread of the command, its timers,
// signal handlers and helper goroutines included, is inside. A setns on one
// locked thread would not do for commands that start goroutines.

// enteredEnv tells the re-executed ipc which namespace it runs in, for its
// messages; it is never read as an instruction to enter one.
const enteredEnv = "IPC_ENTERED_NAMESPACE"

// EnterNamespace handles --namespace PID|PATH wherever it appears in
// args[1:] before "--" (args is the whole command line, args[0] the
// program). It returns done false when there is none; otherwise it
// executes ipc again, without the flag, from a thread inside that
// namespace, and does not return unless that failed: then it prints why
// and returns the exit status (2 for a pid or path that names no
// namespace, 1 when entering is refused).
func EnterNamespace(args []string, stderr io.Writer) (code int, done bool) {
	spec, rest, found, err := cutNamespaceFlag(args)
	if !found {
		return 0, false
	}
	if err != nil {
		return exitStatus(err, stderr), true
	}
	ns, err := ipcns.Open(spec)
	if err != nil {
		return exitStatus(namespaceError(err), stderr), true
	}
	env := append(os.Environ(), fmt.Sprintf("%s=%d", enteredEnv, ns.Inode))
	err = ns.Exec("/proc/self/exe", rest, env)
	ns.Close()
	return exitStatus(namespaceError(err), stderr), true
}

// namespaceError makes a pid or path that names no IPC namespace a usage
// error (exit 2); a refusal stays an operation failure (exit 1).
func namespaceError(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, ipcns.ErrNotNamespace) {
		return usage{err}
	}
	return err
}

// cutNamespaceFlag finds "--namespace X" or "--namespace=X" in args[1:]
// before a "--", and returns args without it.
func cutNamespaceFlag(args []string) (spec string, rest []string, found bool, err error) {
	rest = append(rest, args[0])
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		v, isFlag := "", false
		switch {
		case a == "--namespace":
			isFlag = true
			if i+1 >= len(args) {
				return "", nil, true, usagef("--namespace: missing PID or PATH")
			}
			i++
			v = args[i]
		case strings.HasPrefix(a, "--namespace="):
			isFlag, v = true, strings.TrimPrefix(a, "--namespace=")
		}
		if !isFlag {
			rest = append(rest, a)
			continue
		}
		if found {
			return "", nil, true, usagef("--namespace: given twice")
		}
		if v == "" {
			return "", nil, true, usagef("--namespace: empty PID or PATH")
		}
		spec, found = v, true
	}
	return spec, rest, found, nil
}
