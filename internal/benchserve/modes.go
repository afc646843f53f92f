package benchserve

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ipctoolkit/ipc/ipc/prefork"
)

// Modes lists the designs this build measures, in the order a run takes
// them when none are chosen: prefork with the accept lock, prefork with
// the lock kept by the worker that keeps up (AcceptHold), prefork with
// every idle worker polling the listener (the herd), a child per
// connection (fork), the supervisor passing each connection to an idle
// worker (pass), a listening socket per worker (reuseport), and the
// baseline of one Go process with a goroutine per connection (single).
var Modes = []string{"prefork", "prefork-hold", "prefork-shared", "fork", "pass", "reuseport", "single"}

// KnownModes are every design's names, available in this build or not, so
// that a mode this build lacks is told apart from a typing error.
var KnownModes = []string{"prefork", "prefork-hold", "prefork-shared", "fork", "pass", "reuseport", "single"}

// CheckModes returns an error naming the first mode of modes this build
// cannot measure, or a repeated one.
func CheckModes(modes []string) error {
	seen := map[string]bool{}
	for _, m := range modes {
		switch {
		case seen[m]:
			return fmt.Errorf("mode %q is given twice", m)
		case !slices.Contains(KnownModes, m):
			return fmt.Errorf("unknown mode %q: want %s", m, strings.Join(KnownModes, ", "))
		case !slices.Contains(Modes, m):
			return fmt.Errorf("mode %q is not available in this build: want %s", m, strings.Join(Modes, ", "))
		}
		seen[m] = true
	}
	return nil
}

// configure sets the Server fields of a design run by package prefork;
// workers is fork's bound on live children.
func configure(srv *prefork.Server, mode string, workers int) error {
	switch mode {
	case "prefork":
		srv.Accept = prefork.AcceptLock
	case "prefork-hold":
		srv.Accept = prefork.AcceptHold
	case "prefork-shared":
		srv.Accept = prefork.AcceptShared
	case "fork":
		srv.Mode, srv.Workers, srv.MaxChildren = prefork.ModeFork, 0, workers
	case "pass":
		srv.Mode = prefork.ModePass
	case "reuseport":
		srv.Mode = prefork.ModeReuseport
	default:
		return fmt.Errorf("mode %q is not a design of package prefork", mode)
	}
	return nil
}

// forkChildren is fork's bound on live children for streams concurrent
// clients: each has at most one connection open, and one closing; but
// never more than maxForkChildren, since each is a Go process of several
// megabytes (beyond it, connections wait in the backlog, as with ipc serve
// --max-children).
func forkChildren(streams int) int {
	return min(max(prefork.DefaultMaxChildren, 2*streams), maxForkChildren)
}

const maxForkChildren = 256
