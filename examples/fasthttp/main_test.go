package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/ipc/proc"
)

func TestMain(m *testing.M) {
	proc.Dispatch()
	os.Exit(m.Run())
}

// fasthttp answers in each of two worker processes, in every mode that has
// workers, and the server stops cleanly.
func TestServe(t *testing.T) {
	for _, mode := range []string{"prefork", "pass", "reuseport"} {
		t.Run(mode, func(t *testing.T) {
			srv, err := newServer(mode, "1")
			if err != nil {
				t.Fatal(err)
			}
			srv.Addr, srv.Workers, srv.StateDir = "127.0.0.1:0", 2, t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			bodies := make(chan string, 1)
			srv.Ready = func(a net.Addr) {
				go func() {
					defer cancel()
					seen := map[string]bool{}
					c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
					for range 40 {
						resp, err := c.Get("http://" + a.String() + "/")
						if err != nil {
							bodies <- err.Error()
							return
						}
						b, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						seen[string(b)] = true
					}
					var all []string
					for b := range seen {
						all = append(all, strings.TrimSpace(b))
					}
					bodies <- strings.Join(all, ",")
				}()
			}
			if err := srv.Run(ctx); err != nil {
				t.Fatal(err)
			}
			got := <-bodies
			if !strings.Contains(got, "hello from worker") {
				t.Fatalf("answers: %s", got)
			}
			t.Logf("%s: %s", mode, got)
		})
	}
	if _, err := newServer("fork", "1"); err == nil {
		t.Error("fork mode accepted")
	}
}
