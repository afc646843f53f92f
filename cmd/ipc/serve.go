package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/ipctoolkit/ipc/ipc/prefork"
	"github.com/ipctoolkit/ipc/ipc/proc"
	"github.com/urfave/cli/v2"
)

// serveWorker is the role `ipc serve` starts its workers in. Its arguments
// are the handler's name and the log format; everything else comes from the
// supervisor.
const serveWorker = "serve-worker"

var serveHandlers = []string{"echo", "upper", "chat", "http"}

func init() {
	register(&cli.Command{
		Name:  "serve",
		Usage: "run a prefork server: a supervisor and worker processes sharing an accept lock, a queue and a scoreboard",
		Description: `The supervisor listens on --addr, creates a private semaphore set (the
accept lock, taken with SEM_UNDO), a message queue (mtype 1 its inbox, slot+2
each worker's) and a shared memory scoreboard, and starts --workers copies of
ipc that take turns accepting. It reaps every worker, replaces one that dies
at once (a slot whose workers die before they are ready waits longer after
each such crash), replaces one whose heartbeat stops for --timeout, and kills
a worker that holds the accept lock while stopped or hung within about a
second. A process that will not accept again closes the listener at once, so
new connections are refused rather than left hanging. Logs go to stderr.

Handlers: echo (returns what it reads), upper (the textbook's upper-case line
echo), chat (a line from one client reaches every other client, on any worker,
through the queue), http (GET / answers a short body, GET /status the
scoreboard as JSON, GET /metrics the same for Prometheus, GET /sleep?d=2s
answers after 2s, at most 1m). Every handler closes a connection idle for
--idle-timeout (http: a kept-alive connection waiting for its next request).

Signals: TERM or INT stop gracefully (connections get --graceful-timeout),
QUIT stops at once, HUP replaces every worker by a new generation without
refusing or cutting a connection, TTIN and TTOU add or remove a worker, USR1
logs each worker's counters. The state file in --state-dir lets 'ipc status'
find the scoreboard. A kill -9 of the supervisor leaks nothing: its janitor
process removes the objects once the last worker is gone. A kill -9 of every
process leaves what the state file names, which the next start or
'ipc status --clean' removes. With --private-ipc (needs CAP_SYS_ADMIN) the
server runs in an IPC namespace of its own, where nothing can leak at all.

Pools (--pool): static keeps --workers; dynamic keeps --min-spare to
--max-spare idle workers (a worker with no open connection), checking once a
second, starting 1, 2, 4 ... up to 32 a second when short and retiring one a
second when over; ondemand starts a worker when a connection waits and none is
idle, and retires one idle for --idle-timeout-worker. For dynamic and ondemand
--max-workers is the pool's maximum (default four per CPU), and TTIN and TTOU
raise and lower that maximum instead of the size. --crash-limit N
--crash-window T: N worker crashes within T restart every worker, or with
--on-crash-limit exit stop the server with exit status 1. In fork mode they
count crashed children, and a restart starts the children to come in a new
generation while the running ones finish their connection.

--request-timeout stops a worker whose request (a connection for echo,
upper and chat, an HTTP request for http) has run that long, closing the
request's connection, kills it a second later if it has not exited, and
replaces it (PHP-FPM's request_terminate_timeout). --slow-timeout makes a
worker whose request has run that long write the stacks of all its
goroutines to --slow-log (default: the server log), once per request,
while the request goes on (request_slowlog_timeout).

EXAMPLES:
   ipc serve --addr 127.0.0.1:8989 --workers 4 --handler upper
   ipc serve --pool dynamic --min-spare 2 --max-spare 4 --max-workers 16
   ipc serve --handler http --max-requests 10000 --log-json
   kill -HUP $(jq .pid "$XDG_RUNTIME_DIR"/ipc/prefork-*.json)`,
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "workers", Value: runtime.NumCPU(), Usage: "worker processes (1 to 4096)"},
			&cli.IntFlag{Name: "max-workers", Usage: "scoreboard slots, bounding --workers and a reload's overlap (up to 4096); with --pool dynamic or ondemand, the pool's maximum", DefaultText: "twice --workers; dynamic, ondemand: four per CPU"},
			&cli.StringFlag{Name: "handler", Value: "echo", Usage: "echo, upper, chat or http"},
			&cli.StringFlag{Name: "state-dir", Usage: "where the state file goes", DefaultText: "/run/ipc for root, else $XDG_RUNTIME_DIR/ipc or /tmp/ipc-$UID"},
			&cli.DurationFlag{Name: "graceful-timeout", Value: prefork.DefaultGracefulTimeout, Usage: "how long connections get to finish on stop or reload (100ms to 24h)"},
			&cli.DurationFlag{Name: "timeout", Value: prefork.DefaultTimeout, Usage: "kill a worker whose heartbeat stops this long (2s, twice the heartbeat, to 24h)"},
			&cli.DurationFlag{Name: "upgrade-timeout", Value: prefork.DefaultUpgradeTimeout, Usage: "on USR2, how long the new binary's supervisor has to become ready before it is killed and the old one keeps serving (1s to 1h)"},
			&cli.DurationFlag{Name: "idle-timeout", Value: defaultIdleTimeout, Usage: "close a connection idle this long (http: kept alive between requests; 100ms to 24h)"},
			&cli.IntFlag{Name: "max-requests", Usage: "a worker retires after this many requests (0: never; at most 1e9)"},
			&cli.IntFlag{Name: "max-requests-jitter", Usage: "plus a random 0..N (at most 1e9)", DefaultText: "a tenth of --max-requests"},
			&cli.StringFlag{Name: "accept", Value: "lock", Usage: "lock (workers take turns under the semaphore), hold (the worker that accepted keeps the semaphore while it keeps up) or shared (every idle worker polls: the herd, for comparison)"},
			&cli.BoolFlag{Name: "log-json", Usage: "log JSON lines instead of key=value text"},
			&cli.BoolFlag{Name: "private-ipc", Usage: "run in an IPC namespace of its own (needs CAP_SYS_ADMIN): nothing can leak, but workers cannot see the host's objects"},
		}, append(append(append(serveDeployFlags(), serveModeFlags()...), servePoolFlags()...), serveOpsFlags()...)...),
		Action: runServe,
	})
	proc.Register(serveWorker, runServeWorker)
}

func runServe(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("serve: unexpected argument %q", c.Args().First())
	}
	handler := c.String("handler")
	if !isServeHandler(handler) {
		return usagef("serve: --handler must be one of %s, not %q", strings.Join(serveHandlers, ", "), handler)
	}
	var accept prefork.AcceptMode
	switch c.String("accept") {
	case "lock":
		accept = prefork.AcceptLock
	case "hold":
		accept = prefork.AcceptHold
	case "shared":
		accept = prefork.AcceptShared
	default:
		return usagef("serve: --accept must be lock, hold or shared, not %q", c.String("accept"))
	}
	if err := checkServeRanges(c); err != nil {
		return err
	}
	if err := checkServeMode(c); err != nil {
		return err
	}
	if err := checkServePool(c); err != nil {
		return err
	}
	if err := checkServeOps(c); err != nil {
		return err
	}
	jitter := c.Int("max-requests-jitter")
	if !c.IsSet("max-requests-jitter") {
		jitter = c.Int("max-requests") / 10
	}
	logFormat := "text"
	if c.Bool("log-json") {
		logFormat = "json"
	}
	if c.Bool("private-ipc") {
		// Returns in the process it started (the same pid, in a new
		// namespace); here only if that failed.
		if err := prefork.ReexecInPrivateIPC(); err != nil {
			return err
		}
	}
	srv := newServeServer(handler, logFormat, c.Duration("idle-timeout"))
	if err := applyServeDeploy(c, srv); err != nil {
		return err
	}
	srv.Workers = c.Int("workers")
	srv.MaxWorkers = c.Int("max-workers")
	srv.StateDir = c.String("state-dir")
	srv.GracefulTimeout = c.Duration("graceful-timeout")
	srv.Timeout = c.Duration("timeout")
	srv.UpgradeTimeout = c.Duration("upgrade-timeout")
	srv.MaxRequests = c.Int("max-requests")
	srv.MaxRequestsJitter = jitter
	srv.Accept = accept
	applyServeMode(c, srv)
	applyServePool(c, srv)
	applyServeOps(c, srv)
	defer prefork.HandleSignals(srv)()
	if err := srv.Run(context.Background()); err != nil && !errors.Is(err, prefork.ErrServerClosed) {
		return err
	}
	return nil
}

// defaultIdleTimeout is how long every handler lets a connection be idle:
// long enough for a person typing into a chat, short enough that forgotten
// connections do not pile up.
const defaultIdleTimeout = 5 * time.Minute

// A range is a flag's sane bounds; out of them is a usage error naming it.
type durationRange struct {
	name     string
	min, max time.Duration
}

type intRange struct {
	name     string
	min, max int
}

func checkServeRanges(c *cli.Context) error {
	for _, r := range []durationRange{
		{"graceful-timeout", 100 * time.Millisecond, 24 * time.Hour},
		{"timeout", prefork.MinTimeout, 24 * time.Hour},
		{"idle-timeout", 100 * time.Millisecond, 24 * time.Hour},
		{"upgrade-timeout", time.Second, time.Hour},
	} {
		if d := c.Duration(r.name); d < r.min || d > r.max {
			return usagef("serve: --%s must be between %v and %v, not %v", r.name, r.min, r.max, d)
		}
	}
	for _, r := range []intRange{
		{"workers", 1, prefork.MaxSlots},
		{"max-requests", 0, 1e9},
		{"max-requests-jitter", 0, 1e9},
	} {
		if n := c.Int(r.name); n < r.min || n > r.max {
			return usagef("serve: --%s must be between %d and %d, not %d", r.name, r.min, r.max, n)
		}
	}
	if n := c.Int("max-workers"); c.String("pool") == "static" && n != 0 && (n < c.Int("workers") || n > prefork.MaxSlots) {
		return usagef("serve: --max-workers must be between --workers (%d) and %d, not %d", c.Int("workers"), prefork.MaxSlots, n)
	}
	return nil
}

// runServeWorker is a worker of `ipc serve`: args are the handler's name,
// the log format and the idle timeout.
func runServeWorker(args []string) int {
	var idle time.Duration
	if len(args) == 3 {
		idle, _ = time.ParseDuration(args[2])
	}
	if len(args) != 3 || !isServeHandler(args[0]) || idle <= 0 {
		fmt.Fprintf(os.Stderr, "ipc: serve worker: bad arguments %q\n", args)
		return prefork.ExitFailed
	}
	newServeServer(args[0], args[1], idle).Run(context.Background())
	return prefork.ExitFailed // Run exits the process in a worker
}

func isServeHandler(name string) bool {
	for _, h := range serveHandlers {
		if h == name {
			return true
		}
	}
	return false
}

// newServeServer is the Server both the supervisor and its workers build:
// the same handler and logger, the worker role and its arguments.
func newServeServer(handler, logFormat string, idle time.Duration) *prefork.Server {
	// prefork.Stderr, not os.Stderr: see there (an upgrade and a closed
	// log pipe).
	var h slog.Handler = slog.NewTextHandler(prefork.Stderr, nil)
	if logFormat == "json" {
		h = slog.NewJSONHandler(prefork.Stderr, nil)
	}
	srv := &prefork.Server{
		Role:       serveWorker,
		WorkerArgs: []string{handler, logFormat, idle.String()},
		Logger:     slog.New(h),
	}
	switch handler {
	case "echo":
		srv.Handler = idleLimited(idle, serveEcho)
	case "upper":
		srv.Handler = idleLimited(idle, serveUpper)
	case "chat":
		room := &chatRoom{members: map[net.Conn]bool{}}
		srv.Handler = idleLimited(idle, room.serve)
		srv.OnBroadcast = room.fromOtherWorker
	case "http":
		srv.HTTPHandler = serveHTTP()
		srv.HTTPIdleTimeout = idle
	}
	return srv
}

// idleLimited gives h a connection whose every read must bring data within
// idle, so that a connection left open and silent is closed.
func idleLimited(idle time.Duration, h func(context.Context, net.Conn)) func(context.Context, net.Conn) {
	return func(ctx context.Context, c net.Conn) { h(ctx, &idleConn{Conn: c, idle: idle}) }
}

type idleConn struct {
	net.Conn
	idle time.Duration
}

func (c *idleConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.idle))
	return c.Conn.Read(p)
}

// CloseWrite keeps the half-close of the connection underneath.
func (c *idleConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// serveEcho returns every byte it reads until the client closes.
func serveEcho(_ context.Context, c net.Conn) { io.Copy(c, c) }

// serveUpper answers each line with the line in upper case.
func serveUpper(_ context.Context, c net.Conn) {
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadSlice('\n')
		if len(line) > 0 {
			if _, werr := c.Write(bytes.ToUpper(line)); werr != nil {
				return
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return
		}
	}
}

// chatRoom is one worker's share of the chat: its own clients. A line from
// one of them goes to the others here and, through the supervisor, to every
// other worker's room.
type chatRoom struct {
	mu      sync.Mutex
	members map[net.Conn]bool
}

func (r *chatRoom) serve(ctx context.Context, c net.Conn) {
	w := prefork.WorkerFrom(ctx)
	fmt.Fprintf(c, "* welcome: worker %d (pid %d)\n", w.Slot(), os.Getpid())
	r.mu.Lock()
	r.members[c] = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.members, c)
		r.mu.Unlock()
	}()
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		line := fmt.Appendf(nil, "%s: %s\n", c.RemoteAddr(), sc.Bytes())
		r.send(line, c)
		if err := w.Broadcast(line); err != nil {
			fmt.Fprintf(c, "* not every worker got that: %v\n", err)
		}
	}
}

func (r *chatRoom) fromOtherWorker(_ context.Context, line []byte) { r.send(line, nil) }

// send writes line to every member but from.
func (r *chatRoom) send(line []byte, from net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for m := range r.members {
		if m != from {
			// A client that does not read must not stall the room.
			m.SetWriteDeadline(time.Now().Add(time.Second))
			m.Write(line)
		}
	}
}

func serveHTTP() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(rw, "hello from worker %d\n", prefork.WorkerFrom(r.Context()).Slot())
	})
	mux.HandleFunc("GET /sleep", serveSleep)
	mux.HandleFunc("GET /metrics", serveMetrics)
	mux.HandleFunc("GET /status", func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(rw)
		enc.SetIndent("", "  ")
		enc.Encode(prefork.WorkerFrom(r.Context()).Status())
	})
	return mux
}
