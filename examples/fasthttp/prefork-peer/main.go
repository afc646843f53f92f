// Command prefork-peer is fasthttp's own prefork mode (one child process
// per CPU, each with GOMAXPROCS 1), the yardstick the example in the
// directory above is measured against by internal/bench/peers/peers.sh: the
// same 20-byte body, with no ipc in the way.
//
//	go run ./prefork-peer 127.0.0.1:8080 [reuseport]
package main

import (
	"fmt"
	"os"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/prefork"
)

func main() {
	if len(os.Args) < 2 || len(os.Args) > 3 || (len(os.Args) == 3 && os.Args[2] != "reuseport") {
		fmt.Fprintln(os.Stderr, "usage: prefork-peer HOST:PORT [reuseport]")
		os.Exit(2)
	}
	h := func(rc *fasthttp.RequestCtx) {
		rc.SetContentType("text/plain; charset=utf-8")
		fmt.Fprintf(rc, "hello from worker %d\n", 0)
	}
	p := prefork.New(&fasthttp.Server{Handler: h})
	p.Reuseport = len(os.Args) == 3
	if err := p.ListenAndServe(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "prefork-peer:", err)
		os.Exit(1)
	}
}
