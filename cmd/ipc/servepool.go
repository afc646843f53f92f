package main

import (
	"time"

	"github.com/ipctoolkit/ipc/ipc/prefork"
	"github.com/urfave/cli/v2"
)

// The flags of `ipc serve` that size the pool (static, dynamic, ondemand, as
// PHP-FPM's pm) and set the crash breaker.
func servePoolFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "pool", Value: "static", Usage: "static (--workers), dynamic (--min-spare to --max-spare idle workers, up to --max-workers) or ondemand (a worker when a connection waits, retired after --idle-timeout-worker idle)"},
		&cli.IntFlag{Name: "min-spare", Usage: "dynamic: start workers while fewer than this are idle (1 to 4096)", DefaultText: "1"},
		&cli.IntFlag{Name: "max-spare", Usage: "dynamic: retire one idle worker a second while more than this are idle (1 to 4096)", DefaultText: "--min-spare+2, at least 3"},
		&cli.IntFlag{Name: "start-workers", Usage: "dynamic: workers at start (1 to --max-workers)", DefaultText: "halfway from --min-spare to --max-spare"},
		&cli.DurationFlag{Name: "idle-timeout-worker", Value: prefork.DefaultWorkerIdleTimeout, Usage: "ondemand: retire a worker idle this long (1s to 24h)"},
		&cli.IntFlag{Name: "crash-limit", Usage: "this many crashes of workers (fork mode: children) within --crash-window trip the crash breaker: a signal the supervisor did not send, or a non-zero exit (0: off; at most 1e6)"},
		&cli.DurationFlag{Name: "crash-window", Value: prefork.DefaultCrashWindow, Usage: "with --crash-limit: the window the crashes are counted in (1s to 24h)"},
		&cli.StringFlag{Name: "on-crash-limit", Value: "restart", Usage: "with --crash-limit: restart (a new generation replaces every worker; fork mode: new children are of it, running ones finish their connection) or exit (stop, exit status 1, for systemd's Restart=)"},
	}
}

// checkServePool checks the pool's and the breaker's flags, before anything
// is created: each mistake a usage error naming the flag.
func checkServePool(c *cli.Context) error {
	mode, err := prefork.ParsePoolMode(c.String("pool"))
	if err != nil {
		return usagef("serve: --pool must be static, dynamic or ondemand, not %q", c.String("pool"))
	}
	uses := map[string]prefork.PoolMode{
		"min-spare": prefork.PoolDynamic, "max-spare": prefork.PoolDynamic, "start-workers": prefork.PoolDynamic,
		"idle-timeout-worker": prefork.PoolOndemand, "workers": prefork.PoolStatic,
	}
	for _, name := range []string{"workers", "min-spare", "max-spare", "start-workers", "idle-timeout-worker"} {
		if want := uses[name]; c.IsSet(name) && mode != want {
			return usagef("serve: --%s is for --pool %s, not %s", name, want, mode)
		}
	}
	for _, name := range []string{"min-spare", "max-spare", "start-workers"} {
		if n := c.Int(name); c.IsSet(name) && (n < 1 || n > prefork.MaxSlots) {
			return usagef("serve: --%s must be between 1 and %d, not %d", name, prefork.MaxSlots, n)
		}
	}
	if d := c.Duration("idle-timeout-worker"); d < time.Second || d > 24*time.Hour {
		return usagef("serve: --idle-timeout-worker must be between 1s and 24h, not %v", d)
	}
	if mode != prefork.PoolStatic {
		// The library's defaults, so that a mistake is named by its flag.
		minSpare, maxSpare, start := 0, 0, 0
		if mode == prefork.PoolDynamic {
			minSpare = 1
			if c.IsSet("min-spare") {
				minSpare = c.Int("min-spare")
			}
			maxSpare = max(minSpare+2, 3)
			if c.IsSet("max-spare") {
				maxSpare = c.Int("max-spare")
			}
			start = minSpare + (maxSpare-minSpare)/2
			if c.IsSet("start-workers") {
				start = c.Int("start-workers")
			}
			if minSpare > maxSpare {
				return usagef("serve: --min-spare (%d) must not be above --max-spare (%d)", minSpare, maxSpare)
			}
		}
		if c.IsSet("max-workers") {
			n := c.Int("max-workers")
			switch {
			case n < 1 || n > prefork.MaxSlots:
				return usagef("serve: --max-workers must be between 1 and %d (the scoreboard's slots), not %d", prefork.MaxSlots, n)
			case n < start:
				return usagef("serve: --max-workers (%d) must not be below --start-workers (%d)", n, start)
			case n < maxSpare:
				return usagef("serve: --max-workers (%d) must not be below --max-spare (%d)", n, maxSpare)
			}
		}
	}
	limit := c.Int("crash-limit")
	if limit < 0 || limit > 1e6 {
		return usagef("serve: --crash-limit must be between 0 (off) and 1000000, not %d", limit)
	}
	for _, name := range []string{"crash-window", "on-crash-limit"} {
		if c.IsSet(name) && limit == 0 {
			return usagef("serve: --%s needs --crash-limit", name)
		}
	}
	if d := c.Duration("crash-window"); d < time.Second || d > 24*time.Hour {
		return usagef("serve: --crash-window must be between 1s and 24h, not %v", d)
	}
	if _, err := prefork.ParseCrashAction(c.String("on-crash-limit")); err != nil {
		return usagef("serve: --on-crash-limit must be restart or exit, not %q", c.String("on-crash-limit"))
	}
	return nil
}

// applyServePool sets srv's pool and breaker fields from the flags, which
// checkServePool has checked.
func applyServePool(c *cli.Context, srv *prefork.Server) {
	srv.Pool, _ = prefork.ParsePoolMode(c.String("pool"))
	switch srv.Pool {
	case prefork.PoolDynamic:
		srv.Workers = 0
		srv.MinSpare, srv.MaxSpare, srv.StartWorkers = c.Int("min-spare"), c.Int("max-spare"), c.Int("start-workers")
	case prefork.PoolOndemand:
		srv.Workers = 0
		srv.WorkerIdleTimeout = c.Duration("idle-timeout-worker")
	}
	if n := c.Int("crash-limit"); n > 0 {
		srv.CrashLimit = n
		srv.CrashWindow = c.Duration("crash-window")
		srv.OnCrashLimit, _ = prefork.ParseCrashAction(c.String("on-crash-limit"))
	}
}
