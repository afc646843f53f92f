package benchserve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ipctoolkit/ipc/ipc/prefork"
	"github.com/ipctoolkit/ipc/ipc/proc"
)

// The roles this binary is re-executed in: the server under test (its
// supervisor and, the same role, its workers), the single-process baseline,
// and the clients.
const (
	serverRole = "bench-serve-server"
	singleRole = "bench-serve-single"
	clientRole = "bench-serve-client"
)

func init() {
	proc.Register(serverRole, runServer)
	proc.Register(singleRole, runSingle)
	proc.Register(clientRole, runClient)
}

// serverGrace is how long a stopping server gives its connections; the
// load is over by then, so it only bounds a stop that goes wrong.
const serverGrace = 5 * time.Second

// runServer is the server under test, as `ipc serve` runs it: a prefork
// supervisor with its workers, in the design args[0] names, with args[1]
// workers and its state file in args[2]. Once its first workers serve, the
// supervisor prints the address on stdout. SIGTERM stops it gracefully.
func runServer(args []string) int {
	if len(args) != 3 {
		fmt.Fprintf(os.Stderr, "ipc: bench serve server: bad arguments %q\n", args)
		return 2
	}
	workers, err := strconv.Atoi(args[1])
	if err != nil || workers < 1 {
		fmt.Fprintf(os.Stderr, "ipc: bench serve server: bad arguments %q\n", args)
		return 2
	}
	srv := &prefork.Server{
		Addr:            "127.0.0.1:0",
		Role:            serverRole,
		WorkerArgs:      args,
		Workers:         workers,
		StateDir:        args[2],
		Handler:         Handler,
		GracefulTimeout: serverGrace,
		Logger:          slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Ready:           func(addr net.Addr) { fmt.Println(addr.String()) },
	}
	if err := configure(srv, args[0], workers); err != nil {
		fmt.Fprintf(os.Stderr, "ipc: bench serve server: %v\n", err)
		return 2
	}
	if srv.IsWorker() {
		srv.Run(context.Background())
		return prefork.ExitFailed // Run exits the process in a worker
	}
	defer prefork.HandleSignals(srv)()
	if err := srv.Run(context.Background()); err != nil && !errors.Is(err, prefork.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "ipc: bench serve server: %v\n", err)
		return 1
	}
	return 0
}

// runSingle is the baseline: what a Go programmer writes without the
// library, one process and a goroutine per connection. It prints its
// address, serves until SIGTERM, then prints "served N".
func runSingle([]string) int {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "ipc: bench serve single: %v\n", err)
		return 1
	}
	fmt.Println(l.Addr().String())
	var (
		served atomic.Uint64
		conns  sync.WaitGroup
	)
	go func() {
		<-term
		l.Close()
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				break
			}
			// Out of descriptors and the like: as net/http, wait a
			// little and go on.
			time.Sleep(5 * time.Millisecond)
			continue
		}
		served.Add(1)
		conns.Go(func() {
			defer c.Close()
			Handler(context.Background(), c)
		})
	}
	done := make(chan struct{})
	go func() { conns.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(serverGrace):
	}
	fmt.Printf("served %d\n", served.Load())
	return 0
}
