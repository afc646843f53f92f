package prefork

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// helloHandler answers as ipc serve --handler http and the peers of
// internal/bench/peers do: a 20-byte text/plain body.
var helloHandler = http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(rw, "hello from worker 0\n")
})

// BenchmarkHTTPRequest is what a kept-alive HTTP request costs in a
// worker, with its bookkeeping (the counted connection, the request table
// of the slow log and the request timeout, the silent-connection hook, the
// timeouts), next to the same request on a bare http.Server, on loopback,
// client and server in this process. The ratio of the two is the
// bookkeeping's price; allocs/op is the server's alone (ask allocates
// nothing).
func BenchmarkHTTPRequest(b *testing.B) {
	b.Run("net-http", func(b *testing.B) {
		bareServer(b, &http.Server{Handler: helloHandler})
	})
	// With the timeouts a worker's http.Server has, for each request's
	// header and each idle wait, and nothing else of the worker's.
	b.Run("net-http-timeouts", func(b *testing.B) {
		bareServer(b, &http.Server{Handler: helloHandler, ReadHeaderTimeout: httpHeaderTimeout, IdleTimeout: DefaultHTTPIdleTimeout})
	})
	b.Run("worker", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		w := heapWorker()
		w.log = slog.New(slog.DiscardHandler)
		w.startHTTP(context.Background(), helloHandler, 0)
		defer w.httpSrv.Close()
		go func() {
			for {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				fd, err := ownDescriptor(nc)
				nc.Close()
				if err != nil {
					b.Error(err)
					return
				}
				c, _ := w.counted(newSockConn(fd, ln.Addr(), nil))
				w.httpLn.give(c)
			}
		}()
		keptAliveRequests(b, ln.Addr().String())
	})
}

// bareServer runs the requests on hs alone, on a loopback listener.
func bareServer(b *testing.B, hs *http.Server) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go hs.Serve(ln)
	defer hs.Close()
	keptAliveRequests(b, ln.Addr().String())
}

// ownDescriptor is a duplicate of nc's descriptor, non-blocking as the
// one accept4 gives a worker.
func ownDescriptor(nc net.Conn) (int, error) {
	rc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	cerr := rc.Control(func(s uintptr) { fd, err = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) })
	if cerr != nil {
		return -1, cerr
	}
	return fd, err
}

// keptAliveRequests sends b.N requests to addr over 32 kept-alive
// connections at once (wrk's -c32 in the peers table), each connection's
// next request after the whole answer to the one before, so that ns/op is
// the time per request of a saturated server, its client included.
func keptAliveRequests(b *testing.B, addr string) {
	b.ReportAllocs()
	b.SetParallelism(16) // 16 per GOMAXPROCS: 32 on 2 CPUs
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for pb.Next() {
			if err := ask(c, r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

var helloRequest = []byte("GET / HTTP/1.1\r\nHost: bench\r\n\r\n")

// ask sends one request on c and reads its answer from r. It reads the
// answer by hand, not with http.ReadResponse (as the other tests do), so
// that the client allocates nothing and allocs/op is the server's.
func ask(c net.Conn, r *bufio.Reader) error {
	if _, err := c.Write(helloRequest); err != nil {
		return err
	}
	length := -1
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) == 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if length != 20 {
		return fmt.Errorf("Content-Length %d, want 20", length)
	}
	_, err := r.Discard(length)
	return err
}
