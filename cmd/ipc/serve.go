package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
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
ipc that take turns accepting. It reaps every worker, respawns those that die
(pausing longer after each crash at start), and replaces one whose heartbeat
stops for --timeout. Logs go to stderr.

Handlers: echo (returns what it reads), upper (the textbook's upper-case line
echo), chat (a line from one client reaches every other client, on any worker,
through the queue), http (GET / answers a short body, GET /status the
scoreboard as JSON).

Signals: TERM or INT stop gracefully (connections get --graceful-timeout),
QUIT stops at once, HUP replaces every worker by a new generation without
refusing or cutting a connection, TTIN and TTOU add or remove a worker, USR1
logs each worker's counters. The state file in --state-dir lets 'ipc status'
find the scoreboard, and the next start remove what a kill -9 left behind.

EXAMPLES:
   ipc serve --addr 127.0.0.1:8989 --workers 4 --handler upper
   ipc serve --handler http --max-requests 10000 --log-json
   kill -HUP $(jq .pid "$XDG_RUNTIME_DIR"/ipc/prefork-*.json)`,
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "workers", Value: runtime.NumCPU(), Usage: "worker processes"},
			&cli.IntFlag{Name: "max-workers", Usage: "scoreboard slots, bounding --workers and a reload's overlap", DefaultText: "twice --workers"},
			&cli.StringFlag{Name: "handler", Value: "echo", Usage: "echo, upper, chat or http"},
			&cli.StringFlag{Name: "state-dir", Usage: "where the state file goes", DefaultText: "/run/ipc for root, else $XDG_RUNTIME_DIR/ipc or /tmp/ipc-$UID"},
			&cli.DurationFlag{Name: "graceful-timeout", Value: prefork.DefaultGracefulTimeout, Usage: "how long connections get to finish on stop or reload"},
			&cli.DurationFlag{Name: "timeout", Value: prefork.DefaultTimeout, Usage: "kill a worker whose heartbeat stops this long"},
			&cli.IntFlag{Name: "max-requests", Usage: "a worker retires after this many requests (0: never)"},
			&cli.IntFlag{Name: "max-requests-jitter", Usage: "plus a random 0..N", DefaultText: "a tenth of --max-requests"},
			&cli.StringFlag{Name: "accept", Value: "lock", Usage: "lock (the semaphore) or shared (every idle worker polls: the herd, for comparison)"},
			&cli.BoolFlag{Name: "log-json", Usage: "log JSON lines instead of key=value text"},
		}, serveDeployFlags()...),
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
	case "shared":
		accept = prefork.AcceptShared
	default:
		return usagef("serve: --accept must be lock or shared, not %q", c.String("accept"))
	}
	switch {
	case c.Int("workers") < 1:
		return usagef("serve: --workers must be at least 1")
	case c.Int("max-workers") < 0, c.Int("max-workers") > 0 && c.Int("max-workers") < c.Int("workers"):
		return usagef("serve: --max-workers must be at least --workers")
	case c.Duration("graceful-timeout") <= 0 || c.Duration("timeout") <= 0:
		return usagef("serve: --graceful-timeout and --timeout must be positive")
	case c.Int("max-requests") < 0 || c.Int("max-requests-jitter") < 0:
		return usagef("serve: --max-requests and --max-requests-jitter must not be negative")
	}
	jitter := c.Int("max-requests-jitter")
	if !c.IsSet("max-requests-jitter") {
		jitter = c.Int("max-requests") / 10
	}
	logFormat := "text"
	if c.Bool("log-json") {
		logFormat = "json"
	}
	srv := newServeServer(handler, logFormat)
	if err := applyServeDeploy(c, srv); err != nil {
		return err
	}
	srv.Workers = c.Int("workers")
	srv.MaxWorkers = c.Int("max-workers")
	srv.StateDir = c.String("state-dir")
	srv.GracefulTimeout = c.Duration("graceful-timeout")
	srv.Timeout = c.Duration("timeout")
	srv.MaxRequests = c.Int("max-requests")
	srv.MaxRequestsJitter = jitter
	srv.Accept = accept
	if err := srv.Run(context.Background()); err != nil {
		return err
	}
	return nil
}

// runServeWorker is a worker of `ipc serve`: args are the handler's name and
// the log format.
func runServeWorker(args []string) int {
	if len(args) != 2 || !isServeHandler(args[0]) {
		fmt.Fprintf(os.Stderr, "ipc: serve worker: bad arguments %q\n", args)
		return prefork.ExitFailed
	}
	newServeServer(args[0], args[1]).Run(context.Background())
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
func newServeServer(handler, logFormat string) *prefork.Server {
	var h slog.Handler = slog.NewTextHandler(os.Stderr, nil)
	if logFormat == "json" {
		h = slog.NewJSONHandler(os.Stderr, nil)
	}
	srv := &prefork.Server{
		Role:       serveWorker,
		WorkerArgs: []string{handler, logFormat},
		Logger:     slog.New(h),
	}
	switch handler {
	case "echo":
		srv.Handler = serveEcho
	case "upper":
		srv.Handler = serveUpper
	case "chat":
		room := &chatRoom{members: map[net.Conn]bool{}}
		srv.Handler = room.serve
		srv.OnBroadcast = room.fromOtherWorker
	case "http":
		srv.HTTPHandler = serveHTTP()
	}
	return srv
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
	mux.HandleFunc("GET /status", func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(rw)
		enc.SetIndent("", "  ")
		enc.Encode(prefork.WorkerFrom(r.Context()).Status())
	})
	return mux
}
