// Command nethttp is the yardstick of internal/bench/peers/peers.sh: the
// one-process Go net/http server a Go programmer writes without this
// library, answering the same 20-byte body as ipc serve --handler http,
// nginx and the fasthttp servers there.
//
//	go run ./internal/bench/peers/nethttp 127.0.0.1:8080
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: nethttp HOST:PORT")
		os.Exit(2)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "hello from worker %d\n", 0)
	})
	if err := http.ListenAndServe(os.Args[1], mux); err != nil {
		fmt.Fprintln(os.Stderr, "nethttp:", err)
		os.Exit(1)
	}
}
