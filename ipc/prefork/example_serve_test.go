package prefork_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/ipctoolkit/ipc/ipc/prefork"
)

// web runs an unchanged net/http server in each of two worker processes:
// Serve gets a net.Listener whose Accept is the worker's turn at the accept
// lock.
var web = prefork.Register("example-serve", &prefork.Server{
	Addr:    "127.0.0.1:0",
	Workers: 2,
	Serve: prefork.ServeHTTP(&http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The request's context carries the worker that serves it.
			if prefork.WorkerFrom(r.Context()) != nil {
				fmt.Fprintln(w, "hello from a worker process")
			}
		}),
	}),
	Logger: slog.New(slog.DiscardHandler),
})

// Any Go server runs inside the workers through Server.Serve: here an
// http.Server (ServeHTTP also shuts it down when the worker stops); gRPC's
// grpc.Server.Serve(l) or fasthttp's Server.Serve(l) take the same
// listener.
func ExampleServer_Serve() {
	dir, _ := os.MkdirTemp("", "prefork-example-")
	defer os.RemoveAll(dir)
	web.StateDir = dir

	ctx, stop := context.WithCancel(context.Background())
	web.Ready = func(addr net.Addr) {
		go func() {
			defer stop()
			resp, err := http.Get("http://" + addr.String() + "/")
			if err != nil {
				fmt.Println(err)
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			fmt.Print(resp.Status, ": ", string(body))
		}()
	}
	if err := web.Run(ctx); err != nil {
		fmt.Println(err)
	}
	// Output:
	// 200 OK: hello from a worker process
}
