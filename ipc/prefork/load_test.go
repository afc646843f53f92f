package prefork_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/ipc/proc"
)

func init() {
	// test-single HANDLER: the same handler in one plain Go process (a
	// goroutine per connection), for comparison. Prints its address.
	proc.Register("test-single", func(args []string) int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(ln.Addr())
		if args[0] == "http" {
			http.Serve(ln, httpHandler())
			return 0
		}
		h := upper(0)
		for {
			c, err := ln.Accept()
			if err != nil {
				return 1
			}
			go func() {
				defer c.Close()
				h(context.Background(), c)
			}()
		}
	})
}

// startSingle starts the single-process server and returns its address.
func startSingle(t *testing.T, handler string) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := proc.Command("test-single", handler)
	cmd.Stdout = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() {
		cmd.Signal(syscall.SIGKILL)
		cmd.Wait()
	})
	addr, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(addr)
}

// connRate makes a new connection per request from clients goroutines for
// d and returns connections per second.
func connRate(t *testing.T, addr string, clients int, d time.Duration) float64 {
	var n, failed atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if got, err := ask(addr, "ping"); err != nil || got != "PING" {
					failed.Add(1)
					continue
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Errorf("%s: %d failed connections", addr, failed.Load())
	}
	return float64(n.Load()) / d.Seconds()
}

// requestRate sends line requests over clients persistent connections for d
// and returns requests per second.
func requestRate(t *testing.T, addr string, clients int, d time.Duration) float64 {
	var n atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			r := bufio.NewReader(c)
			for time.Now().Before(deadline) {
				if _, err := io.WriteString(c, "ping\n"); err != nil {
					t.Error(err)
					return
				}
				if got, err := r.ReadString('\n'); err != nil || got != "PING\n" {
					t.Errorf("%q, %v", got, err)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / d.Seconds()
}

// wrk runs wrk against url and returns its summary lines.
func wrk(t *testing.T, url string, d time.Duration) string {
	out, err := exec.Command("wrk", "-t2", "-c32", "-d"+d.String(), "--latency", url).CombinedOutput()
	if err != nil {
		t.Errorf("wrk: %v\n%s", err, out)
		return ""
	}
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "Requests/sec") || strings.Contains(l, "Latency ") || strings.Contains(l, " 99%") ||
			strings.Contains(l, "Non-2xx") || strings.Contains(l, "Socket errors") {
			keep = append(keep, strings.TrimSpace(l))
		}
	}
	return strings.Join(keep, "; ")
}

// TestLoad measures throughput on loopback: connections and requests per
// second for the upper-case line handler, and HTTP requests per second with
// wrk, for the prefork server (accept lock and shared poll) and the same
// handler in one plain Go process. It takes about a minute of both CPUs, so
// it runs only with PREFORK_LOAD=1:
//
//	PREFORK_LOAD=1 go test -run TestLoad -v ./ipc/prefork
func TestLoad(t *testing.T) {
	if os.Getenv("PREFORK_LOAD") == "" {
		t.Skip("set PREFORK_LOAD=1 to measure throughput")
	}
	d := 3 * time.Second
	const clients = 16
	type target struct {
		name, addr string
	}
	var lines []string
	for _, tg := range []func() target{
		func() target { return target{"prefork lock, 2 workers", startServer(t, "workers=2").addr} },
		func() target { return target{"prefork lock, 4 workers", startServer(t, "workers=4").addr} },
		func() target {
			return target{"prefork shared, 2 workers", startServer(t, "workers=2", "accept=shared").addr}
		},
		func() target { return target{"single process", startSingle(t, "upper")} },
	} {
		tgt := tg()
		cr := connRate(t, tgt.addr, clients, d)
		rr := requestRate(t, tgt.addr, clients, d)
		lines = append(lines, fmt.Sprintf("upper %-26s %8.0f conns/s %8.0f req/s (keep-alive)", tgt.name+":", cr, rr))
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Log("no wrk: skipping the http measurements (apt-get install wrk)")
	} else {
		for _, tg := range []func() target{
			func() target {
				return target{"prefork lock, 2 workers", startServer(t, "workers=2", "handler=http").addr}
			},
			func() target { return target{"single process", startSingle(t, "http")} },
		} {
			tgt := tg()
			lines = append(lines, fmt.Sprintf("http  %-26s wrk -t2 -c32 -d5s: %s", tgt.name+":", wrk(t, "http://"+tgt.addr+"/", 5*time.Second)))
		}
	}
	for _, l := range lines {
		t.Log(l)
	}
}
