package prefork

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// The crash breaker (PHP-FPM's emergency_restart_threshold and
// emergency_restart_interval, fasthttp's RecoverThreshold): CrashLimit
// crashes within CrashWindow make the supervisor log it at level ERROR and
// either restart the whole generation (as Reload does: new workers start
// and the old ones are retired as they serve) or stop the server, Run then
// returning a *CrashLimitError, so that a service manager (systemd's
// Restart=on-failure) can act.
//
// A crash is a worker's end, reaped while the server is not stopping, that
// is a death by a signal or an exit with a status other than 0, unless the
// supervisor caused it: a SIGKILL it sent (a worker outliving its graceful
// timeout, a stopped or hung lock holder, Close) or the SIGQUIT it sends a
// hung worker. A worker that cannot start (ExitFailed) is a crash too, so
// that a reload into a broken configuration trips the breaker. A graceful
// retirement (exit 0: asked to stop, --max-requests, idle, SIGTERM) never
// is. The crashes counted are cleared when the breaker trips.
//
// In fork mode the crashes are children's (each started for one
// connection), and the log line and the error say children. A restart
// there is what Reload is in fork mode: the generation moves on, so the
// children started from then on are of the new one, and the running
// children (of the old) each finish their connection, however long their
// client takes: none is stopped or killed for the restart (RequestTimeout
// and a Shutdown's GracefulTimeout still bound them). There is nothing else
// to restart: a child is a new process for each connection, and fork mode
// keeps no backoff, pause or count per slot or generation (a child that
// cannot start only loses its connection). The breaker's window is cleared
// at the trip, as in every mode; the counters (crashes, trips, forked)
// count from the server's start and are kept.

// CrashAction is what the supervisor does when the crash breaker trips.
type CrashAction int

const (
	// CrashRestart replaces every worker by one of a new generation.
	CrashRestart CrashAction = iota
	// CrashExit stops the server gracefully; Run returns a
	// *CrashLimitError.
	CrashExit
)

// String names the action as the command line does.
func (a CrashAction) String() string {
	switch a {
	case CrashRestart:
		return "restart"
	case CrashExit:
		return "exit"
	}
	return "CrashAction(" + strconv.Itoa(int(a)) + ")"
}

// ParseCrashAction reads "restart" or "exit".
func ParseCrashAction(s string) (CrashAction, error) {
	switch s {
	case "restart":
		return CrashRestart, nil
	case "exit":
		return CrashExit, nil
	}
	return 0, errors.New("unknown crash action " + strconv.Quote(s) + ": want restart or exit")
}

// DefaultCrashWindow is the CrashWindow of a Server whose CrashLimit is set
// and CrashWindow 0.
const DefaultCrashWindow = time.Minute

// CrashLimitError is what Run returns when the crash breaker stopped the
// server (OnCrashLimit CrashExit).
type CrashLimitError struct {
	// Crashes is the number of crashes within Window that tripped it.
	Crashes int
	Window  time.Duration
	// Last describes the crashes, the latest last ("slot 1 pid 4242:
	// killed by signal 9 (killed)").
	Last []string
	// Mode is the server's: in ModeFork the crashed processes are
	// children (one per connection), and the message says so.
	Mode Mode
}

func (e *CrashLimitError) Error() string {
	s := "prefork: " + strconv.Itoa(e.Crashes) + " " + crashedOnes(e.Mode) + " crashed within " + e.Window.String() + " (the crash limit)"
	if n := len(e.Last); n > 0 {
		s += "; the last: " + e.Last[n-1]
	}
	return s
}

// crashedOnes names the processes whose crashes the breaker counts, in
// the mode's words: fork mode's children, the other modes' workers.
func crashedOnes(m Mode) string {
	if m == ModeFork {
		return "children"
	}
	return "workers"
}

// crashConfig checks the breaker's fields and fills in the window.
func (c *config) crashConfig() error {
	bad := func(why, detail string) error { return serverErr("configure", errors.New(why), detail) }
	switch {
	case c.CrashLimit < 0:
		return bad("CrashLimit must not be negative", strconv.Itoa(c.CrashLimit))
	case c.CrashWindow < 0:
		return bad("CrashWindow must not be negative", c.CrashWindow.String())
	case c.OnCrashLimit != CrashRestart && c.OnCrashLimit != CrashExit:
		return bad("unknown OnCrashLimit", c.OnCrashLimit.String())
	case c.CrashLimit == 0 && (c.CrashWindow != 0 || c.OnCrashLimit != CrashRestart):
		return bad("CrashWindow and OnCrashLimit need a CrashLimit", "")
	}
	if c.CrashLimit > 0 && c.CrashWindow == 0 {
		c.CrashWindow = DefaultCrashWindow
	}
	return nil
}

// crashBreaker is the supervisor's record of recent crashes.
type crashBreaker struct {
	at   []time.Time
	what []string
}

// isCrash says whether the end of c (ex) is a crash, as the comment at the
// top defines it.
func (sv *supervisor) isCrash(c *child, ex WorkerExit) bool {
	return !sv.stopping && !c.killed && !c.hung && !ex.Status.Success()
}

// noteCrash counts the end of c if it is a crash and trips the breaker at
// the limit.
func (sv *supervisor) noteCrash(c *child, ex WorkerExit, now time.Time) {
	if !sv.isCrash(c, ex) {
		return
	}
	sv.board.hdr[hCrashes].Add(1)
	limit := sv.cfg.CrashLimit
	if limit == 0 {
		return
	}
	b := &sv.crash
	what := "slot " + strconv.Itoa(c.slot.i) + " pid " + strconv.Itoa(c.pid) + ": " + ex.Status.String()
	if ex.Reason != "" {
		what += " (" + ex.Reason + ")"
	}
	b.at = append(b.at, now)
	b.what = append(b.what, what)
	// Forget the crashes older than the window.
	i := 0
	for i < len(b.at) && now.Sub(b.at[i]) > sv.cfg.CrashWindow {
		i++
	}
	b.at, b.what = b.at[i:], b.what[i:]
	if len(b.at) < limit {
		return
	}
	last := b.what
	b.at, b.what = nil, nil
	trips := sv.board.hdr[hCrashTrips].Add(1)
	action := sv.cfg.OnCrashLimit
	sv.log.Error("CRASH LIMIT REACHED: "+crashedOnes(sv.cfg.Mode)+" keep crashing", "crashes", len(last), "window", sv.cfg.CrashWindow,
		"crash_limit", limit, "action", action.String(), "trips", trips, "generation", sv.gen, "crashed", strings.Join(last, "; "))
	if action == CrashExit {
		if sv.fatal == nil {
			sv.fatal = &CrashLimitError{Crashes: len(last), Window: sv.cfg.CrashWindow, Last: last, Mode: sv.cfg.Mode}
		}
		sv.beginStop("the crash limit is reached (--on-crash-limit exit)")
		return
	}
	sv.gen++
	sv.board.hdr[hGeneration].Store(sv.gen)
	if sv.cfg.Mode == ModeFork {
		// See the comment at the top: the new generation is the
		// children to come; the running ones finish their connection.
		sv.log.Warn("restarting every child after the crash limit", "generation", sv.gen, "finishing", sv.olderChildren())
		return
	}
	sv.log.Warn("restarting every worker after the crash limit", "generation", sv.gen)
}
