package prefork_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"github.com/ipctoolkit/ipc/ipc/prefork"
)

var ondemand = prefork.Register("example-ondemand", &prefork.Server{
	Addr:              "127.0.0.1:0",
	Pool:              prefork.PoolOndemand,
	MaxWorkers:        4,
	WorkerIdleTimeout: prefork.DefaultWorkerIdleTimeout,
	Handler:           func(ctx context.Context, c net.Conn) { io.Copy(c, c) },
	Logger:            slog.New(slog.DiscardHandler),
})

// An ondemand pool is ready with no worker at all; the first connection
// makes the supervisor start one, which serves it, and a worker idle for
// WorkerIdleTimeout retires.
func ExampleServer_ondemand() {
	dir, _ := os.MkdirTemp("", "prefork-example-")
	defer os.RemoveAll(dir)
	ondemand.StateDir = dir

	ctx, stop := context.WithCancel(context.Background())
	ondemand.Ready = func(addr net.Addr) {
		sts, _ := prefork.States(dir)
		st, _ := sts[0].Status()
		fmt.Printf("ready: pool %s, %d workers, at most %d\n", st.Pool.Mode, len(st.Workers), st.Pool.MaxWorkers)
		go func() {
			defer stop()
			c, err := net.Dial("tcp", addr.String())
			if err != nil {
				fmt.Println(err)
				return
			}
			defer c.Close()
			fmt.Fprintln(c, "hello")
			line, _ := bufio.NewReader(c).ReadString('\n')
			st, _ := sts[0].Status()
			fmt.Printf("echoed %q by one of %d workers\n", line, len(st.Workers))
		}()
	}
	if err := ondemand.Run(ctx); err != nil {
		fmt.Println(err)
	}
	// Output:
	// ready: pool ondemand, 0 workers, at most 4
	// echoed "hello\n" by one of 1 workers
}

// A dynamic pool as Apache's prefork MPM sizes one: 2 to 4 idle workers,
// at most 16, starting with 3.
func ExampleServer_dynamic() {
	srv := &prefork.Server{Role: "example-echo", Addr: "127.0.0.1:8989",
		Pool: prefork.PoolDynamic, MinSpare: 2, MaxSpare: 4, StartWorkers: 3, MaxWorkers: 16,
		CrashLimit: 10, CrashWindow: prefork.DefaultCrashWindow, OnCrashLimit: prefork.CrashExit,
		Handler: func(ctx context.Context, c net.Conn) { io.Copy(c, c) }}
	defer prefork.HandleSignals(srv)()
	if err := srv.Run(context.Background()); err != nil {
		var ce *prefork.CrashLimitError
		if errors.As(err, &ce) {
			os.Exit(1) // systemd's Restart=on-failure starts it again
		}
	}
}
