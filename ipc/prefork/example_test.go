package prefork_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"

	"github.com/ipctoolkit/ipc/ipc/prefork"
)

// echo is a whole daemon's worth of server: in a program, main would be
//
//	func main() {
//		proc.Dispatch() // a worker serves here, and exits
//		log.Fatal(echo.Run(context.Background()))
//	}
var echo = prefork.Register("example-echo", &prefork.Server{
	Addr:    "127.0.0.1:0",
	Workers: 2,
	Handler: func(ctx context.Context, c net.Conn) { io.Copy(c, c) },
	Logger:  slog.New(slog.DiscardHandler),
})

// A ten-line daemon: two worker processes echo what they read. Here a client
// talks to it once it is ready, and the server is then stopped through its
// context (in a daemon, SIGTERM does it).
func Example() {
	dir, _ := os.MkdirTemp("", "prefork-example-")
	defer os.RemoveAll(dir)
	echo.StateDir = dir

	ctx, stop := context.WithCancel(context.Background())
	echo.Ready = func(addr net.Addr) {
		go func() {
			defer stop()
			c, err := net.Dial("tcp", addr.String())
			if err != nil {
				fmt.Println(err)
				return
			}
			defer c.Close()
			fmt.Fprintln(c, "hello from a client")
			line, _ := bufio.NewReader(c).ReadString('\n')
			fmt.Print("echoed: ", line)
		}()
	}
	if err := echo.Run(ctx); err != nil {
		fmt.Println(err)
	}
	fmt.Println("stopped; every IPC object removed")
	// Output:
	// echoed: hello from a client
	// stopped; every IPC object removed
}

// A daemon's main: the classic signals drive the server (SIGTERM stops it
// gracefully, SIGHUP reloads, SIGTTIN/SIGTTOU scale), and a graceful stop is
// not an error.
func ExampleHandleSignals() {
	srv := &prefork.Server{Role: "example-echo", Addr: "127.0.0.1:8989", Workers: 4,
		Handler: func(ctx context.Context, c net.Conn) { io.Copy(c, c) }}
	defer prefork.HandleSignals(srv)()
	if err := srv.Run(context.Background()); err != nil && !errors.Is(err, prefork.ErrServerClosed) {
		log.Fatal(err)
	}
}
