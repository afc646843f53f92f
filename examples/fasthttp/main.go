// Command fasthttp runs fasthttp (github.com/valyala/fasthttp) inside the
// worker processes of an ipc prefork server: each worker serves the
// connections it takes, under the supervisor's accept lock (or in the mode
// -mode names), with fasthttp's own Server.Serve on the worker's
// net.Listener, unchanged. The supervisor supervises, reloads (SIGHUP),
// scales (SIGTTIN, SIGTTOU) and stops (SIGTERM) them as it does any
// worker; `ipc status` shows their scoreboard.
//
// It lives in a module of its own so that the ipc module does not depend on
// fasthttp.
//
//	go run . -addr 127.0.0.1:8080 -workers 2
//	wrk -t1 -c32 -d5s http://127.0.0.1:8080/
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"

	"github.com/ipctoolkit/ipc/ipc/prefork"
	"github.com/ipctoolkit/ipc/ipc/proc"
	"github.com/valyala/fasthttp"
)

// role is the proc role the workers run; its arguments are the mode and
// -procs.
const role = "fasthttp-worker"

func init() {
	proc.Register(role, func(args []string) int {
		if len(args) != 2 {
			fmt.Fprintf(os.Stderr, "fasthttp worker: bad arguments %q\n", args)
			return prefork.ExitFailed
		}
		srv, err := newServer(args[0], args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "fasthttp worker:", err)
			return prefork.ExitFailed
		}
		srv.Run(context.Background())
		return prefork.ExitFailed // Run exits the process in a worker
	})
}

func main() {
	proc.Dispatch() // in a worker: serves, then exits

	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	workers := flag.Int("workers", runtime.NumCPU(), "worker processes")
	mode := flag.String("mode", "prefork", "prefork, pass or reuseport")
	procs := flag.Int("procs", 1, "GOMAXPROCS of each worker (0: the Go default), as fasthttp's own prefork sets 1")
	stateDir := flag.String("state-dir", "", "where the state file goes (default: prefork.DefaultStateDir())")
	flag.Parse()

	srv, err := newServer(*mode, strconv.Itoa(*procs))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fasthttp:", err)
		os.Exit(2)
	}
	srv.Addr, srv.Workers, srv.StateDir = *addr, *workers, *stateDir
	srv.Ready = func(a net.Addr) { srv.Logger.Info("serving", "addr", a.String(), "workers", *workers, "mode", *mode) }
	defer prefork.HandleSignals(srv)()
	if err := srv.Run(context.Background()); err != nil && !errors.Is(err, prefork.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "fasthttp:", err)
		os.Exit(1)
	}
}

// newServer is the Server the supervisor and its workers build alike.
func newServer(mode, procs string) (*prefork.Server, error) {
	m, err := prefork.ParseMode(mode)
	if err != nil {
		return nil, err
	}
	if m == prefork.ModeFork {
		return nil, errors.New("fork mode serves one connection per process: not a fasthttp server's")
	}
	n, err := strconv.Atoi(procs)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("bad -procs %q", procs)
	}
	return &prefork.Server{
		Role:       role,
		WorkerArgs: []string{mode, procs},
		Mode:       m,
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Serve: func(ctx context.Context, l net.Listener) error {
			if n > 0 {
				runtime.GOMAXPROCS(n)
			}
			return serveFast(ctx, l)
		},
	}, nil
}

// serveFast is fasthttp on the worker's listener, until the worker stops.
func serveFast(ctx context.Context, l net.Listener) error {
	slot := prefork.WorkerFrom(ctx).Slot()
	body := []byte("hello from worker " + strconv.Itoa(slot) + "\n")
	s := &fasthttp.Server{
		Handler: func(rc *fasthttp.RequestCtx) {
			rc.SetContentType("text/plain; charset=utf-8")
			rc.Write(body)
		},
	}
	go func() {
		<-ctx.Done()
		s.Shutdown() // stops accepting, closes idle connections, waits for the rest
	}()
	return s.Serve(l)
}
