package prefork_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/ipctoolkit/ipc/ipc/prefork"
)

var unixEcho = prefork.Register("example-unix-echo", &prefork.Server{
	Workers: 2,
	Handler: func(ctx context.Context, c net.Conn) { io.Copy(c, c) },
	Logger:  slog.New(slog.DiscardHandler),
})

// Deployed as a service would be: on a Unix-domain socket only its group may
// connect to, and with a pid file. (As root, User: "nobody" would run the
// workers as nobody; under systemd's socket activation the sockets come
// from systemd instead of Addrs.) Both files are gone once it stops.
func Example_deployment() {
	dir, _ := os.MkdirTemp("", "prefork-example-")
	defer os.RemoveAll(dir)
	sock, pidFile := filepath.Join(dir, "echo.sock"), filepath.Join(dir, "echo.pid")
	unixEcho.StateDir = dir
	unixEcho.Addrs = []string{"unix:" + sock}
	unixEcho.SocketMode = 0o660
	unixEcho.PIDFile = pidFile

	ctx, stop := context.WithCancel(context.Background())
	unixEcho.Ready = func(addr net.Addr) {
		go func() {
			defer stop()
			fi, _ := os.Stat(sock)
			fmt.Println("listening on", addr.Network(), "mode", fi.Mode().Perm())
			c, err := net.Dial("unix", sock)
			if err != nil {
				fmt.Println(err)
				return
			}
			defer c.Close()
			fmt.Fprintln(c, "hello over a unix socket")
			line, _ := bufio.NewReader(c).ReadString('\n')
			fmt.Print("echoed: ", line)
		}()
	}
	if err := unixEcho.Run(ctx); err != nil {
		fmt.Println(err)
	}
	_, err1 := os.Stat(sock)
	_, err2 := os.Stat(pidFile)
	fmt.Println("socket and pid file removed:", os.IsNotExist(err1) && os.IsNotExist(err2))
	// Output:
	// listening on unix mode -rw-rw----
	// echoed: hello over a unix socket
	// socket and pid file removed: true
}
