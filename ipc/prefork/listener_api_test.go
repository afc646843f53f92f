package prefork_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/ipc/prefork"
	"github.com/ipctoolkit/ipc/ipc/proc"
)

// serveRole is a worker role whose Server runs its connections through
// Server.Serve: "upper" a hand-written Accept loop, "http" net/http through
// ServeHTTP; any other argument the Handler of that name (as workerRole).
const serveRole = "test-serve-worker"

func init() {
	proc.Register(serveRole, func(args []string) int {
		s := &prefork.Server{Role: serveRole, Logger: slog.New(slog.NewJSONHandler(os.Stderr, nil))}
		switch args[0] {
		case "serve-upper":
			s.Serve = serveUpper
		case "serve-http":
			s.Serve = prefork.ServeHTTP(&http.Server{Handler: httpHandler()})
		case "upper":
			s.Handler = upper(0)
		case "http":
			s.HTTPHandler = httpHandler()
		}
		s.Run(context.Background())
		return 1
	})
}

// serveUpper is what a Go server does with a listener: accept until it
// fails, a goroutine per connection, and on ctx's end stop accepting and
// wait for its connections.
func serveUpper(ctx context.Context, l net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	go func() { <-ctx.Done(); l.Close() }()
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			upper(0)(ctx, c)
		}()
	}
}

// Server.Serve in prefork mode: 200 concurrent clients through a
// hand-written accept loop, and through net/http, all answered; every
// connection is counted in a slot, and Accept took the accept lock.
func TestServeListener(t *testing.T) {
	t.Run("accept-loop", func(t *testing.T) {
		s := startServer(t, "workers=3", "role="+serveRole, "handler=serve-upper")
		const clients = 200
		if f := clientsUpper(t, s.addr, clients); f > 0 {
			t.Fatalf("%d of %d failed", f, clients)
		}
		st := s.waitStatus(5*time.Second, "all closed", allClosed)
		var sum, locks uint64
		for _, w := range st.Workers {
			sum += w.Connections
			locks += w.Locks
		}
		if sum != clients || st.Total.Connections != clients {
			t.Errorf("slots counted %d connections (total %d), want %d", sum, st.Total.Connections, clients)
		}
		if locks == 0 || locks > clients+uint64(len(st.Workers))*20 {
			t.Errorf("%d lock acquisitions for %d connections", locks, clients)
		}
		if st.Total.BytesIn == 0 || st.Total.BytesIn != st.Total.BytesOut {
			t.Errorf("bytes in %d, out %d", st.Total.BytesIn, st.Total.BytesOut)
		}
		s.signal(syscall.SIGTERM)
		if st := s.wait(10 * time.Second); !st.Success() {
			t.Errorf("supervisor: %v", st)
		}
	})
	t.Run("net-http", func(t *testing.T) {
		s := startServer(t, "workers=2", "role="+serveRole, "handler=serve-http")
		const clients = 200
		tr := &http.Transport{MaxIdleConnsPerHost: 0, DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		var wg sync.WaitGroup
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := cl.Get("http://" + s.addr + "/")
				if err != nil {
					t.Error(err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !bytes.HasPrefix(body, []byte("hello from ")) {
					t.Errorf("%s: %q", resp.Status, body)
				}
			}()
		}
		wg.Wait()
		st := s.waitStatus(5*time.Second, "all closed", allClosed)
		if st.Total.Connections != clients || st.Total.Requests != clients {
			t.Errorf("counted %d connections, %d requests; want %d", st.Total.Connections, st.Total.Requests, clients)
		}
		// A keep-alive connection open across the stop is answered, then
		// closed by the server's Shutdown.
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		s.signal(syscall.SIGTERM)
		if st := s.wait(10 * time.Second); !st.Success() {
			t.Errorf("supervisor: %v", st)
		}
	})
}
