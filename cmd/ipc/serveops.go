package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/ipctoolkit/ipc/ipc/prefork"
	"github.com/urfave/cli/v2"
)

// The flags of `ipc serve` for operating it as PHP-FPM is operated: the
// request timeout, the slow log.
func serveOpsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.DurationFlag{Name: "request-timeout", Usage: "stop (then kill) and replace a worker whose request has run this long: a connection for echo, upper and chat, an HTTP request for http (100ms to 24h)", DefaultText: "none"},
		&cli.DurationFlag{Name: "slow-timeout", Usage: "when a request has run this long, its worker writes the stacks of all its goroutines to the slow log, once per request (100ms to 24h, below --request-timeout)", DefaultText: "none"},
		&cli.StringFlag{Name: "slow-log", Usage: "with --slow-timeout: the file slow requests are logged to (appended, created 0600)", DefaultText: "the server log"},
	}
}

// opsDurationMin: the supervisor looks at requests every 100 ms.
const opsDurationMin = 100 * time.Millisecond

// checkServeOps checks the flags before anything is created: a bad value
// is a usage error (exit 2); a slow log whose directory is missing is an
// operation that would fail (exit 1).
func checkServeOps(c *cli.Context) error {
	for _, name := range []string{"request-timeout", "slow-timeout"} {
		if d := c.Duration(name); c.IsSet(name) && (d < opsDurationMin || d > 24*time.Hour) {
			return usagef("serve: --%s must be between %v and %v, not %v", name, opsDurationMin, 24*time.Hour, d)
		}
	}
	rt, st := c.Duration("request-timeout"), c.Duration("slow-timeout")
	if rt > 0 && st >= rt {
		// The request would be killed before its stacks are written.
		return usagef("serve: --slow-timeout (%v) must be below --request-timeout (%v), or the request is killed before it is logged", st, rt)
	}
	if c.IsSet("slow-log") {
		path := c.String("slow-log")
		switch {
		case path == "":
			return usagef("serve: --slow-log must not be empty")
		case st == 0:
			return usagef("serve: --slow-log needs --slow-timeout")
		}
		dir := filepath.Dir(path)
		if fi, err := os.Stat(dir); err != nil {
			return fmt.Errorf("serve: --slow-log %s: directory %s: %w", path, dir, errors.Unwrap(err))
		} else if !fi.IsDir() {
			return fmt.Errorf("serve: --slow-log %s: %s is not a directory", path, dir)
		}
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			return fmt.Errorf("serve: --slow-log %s: %w", path, fs.ErrExist)
		}
	}
	return nil
}

// applyServeOps sets srv's operating fields from the flags.
func applyServeOps(c *cli.Context, srv *prefork.Server) {
	srv.RequestTimeout = c.Duration("request-timeout")
	srv.SlowTimeout = c.Duration("slow-timeout")
	srv.SlowLog = c.String("slow-log")
}

// maxSleep bounds GET /sleep, so that a typo cannot hold a worker for long.
const maxSleep = time.Minute

// serveSleep is GET /sleep?d=D: it answers after D (0 to 1m), or when the
// client goes away, so that request timeouts and the slow log can be seen
// from a shell: curl 'http://127.0.0.1:8989/sleep?d=2s'.
func serveSleep(rw http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()["d"]
	if len(q) != 1 {
		http.Error(rw, "want one d=DURATION, such as /sleep?d=2s", http.StatusBadRequest)
		return
	}
	d, err := time.ParseDuration(q[0])
	if err != nil || d < 0 || d > maxSleep {
		http.Error(rw, fmt.Sprintf("d must be a duration from 0s to %v, not %q", maxSleep, q[0]), http.StatusBadRequest)
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(rw, "slept %v in worker %d\n", d, prefork.WorkerFrom(r.Context()).Slot())
	case <-r.Context().Done():
	}
}

// metricsType is the text exposition format's content type.
const metricsType = "text/plain; version=0.0.4; charset=utf-8"

// serveMetrics is GET /metrics: the scoreboard, as `ipc status
// --prometheus` prints it.
func serveMetrics(rw http.ResponseWriter, r *http.Request) {
	rw.Header().Set("Content-Type", metricsType)
	prefork.WorkerFrom(r.Context()).Status().WriteMetrics(rw)
}

// printOps adds to `ipc status` a line for each worker running a request
// (how long its oldest has run, and what it is) or that has had a slow or
// timed-out one.
func printOps(out io.Writer, s prefork.Status) {
	for _, w := range s.Workers {
		running := "no request running"
		if !w.OldestRequest.IsZero() {
			what := w.OldestWhat
			if what == "" {
				what = "(not described yet: it has run under 100ms)"
			}
			running = "oldest request running " + time.Duration(w.OldestRequestAge*float64(time.Second)).Round(time.Millisecond).String() + ": " + what
		} else if w.Slow == 0 && w.TimedOut == 0 {
			continue
		}
		fmt.Fprintf(out, "slot %d (pid %d): %s; slow %d, timed out %d\n", w.Slot, w.PID, running, w.Slow, w.TimedOut)
	}
}

// statusOps is what `ipc status` adds to its totals line.
func statusOps(s prefork.Status) string {
	return fmt.Sprintf(", slow requests %d, timed out %d", s.SlowRequests, s.TimedOutRequests)
}
