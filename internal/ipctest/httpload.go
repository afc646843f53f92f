package ipctest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// HTTPLoad is a load of HTTP/1.1 GET requests on a server under test: half
// its clients keep their connection alive (until a response says
// Connection: close), half open a new connection for every request. Unlike
// net/http's client it never retries: a request that gets no whole 200
// response is a failure, counted, whatever the cause (net/http's Transport
// silently sends a GET again when a kept-alive connection was closed under
// it, which would hide exactly the drops a graceful hand-over must not have).
type HTTPLoad struct {
	// Sent and Failed count requests, all clients together; KeepAlive and
	// NewConn count the requests of each kind that were sent.
	Sent, Failed, KeepAlive, NewConn atomic.Int64

	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	errs  []string
}

// StartHTTPLoad starts clients (an even number: half of each kind) that
// connect with dial, until Stop.
func StartHTTPLoad(dial func() (net.Conn, error), clients int) *HTTPLoad {
	l := &HTTPLoad{start: time.Now(), stop: make(chan struct{})}
	for i := range clients {
		l.wg.Add(1)
		go l.client(dial, i%2 == 0)
	}
	return l
}

// Stop stops the clients and waits for them.
func (l *HTTPLoad) Stop() {
	close(l.stop)
	l.wg.Wait()
}

// Errors are the first failures (at most 10), each with its kind and when,
// from the start of the load.
func (l *HTTPLoad) Errors() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.errs, "; ")
}

// String sums the load up for a test's log.
func (l *HTTPLoad) String() string {
	return fmt.Sprintf("%d requests sent (%d keep-alive, %d on a new connection each), %d failed",
		l.Sent.Load(), l.KeepAlive.Load(), l.NewConn.Load(), l.Failed.Load())
}

func (l *HTTPLoad) client(dial func() (net.Conn, error), keepAlive bool) {
	defer l.wg.Done()
	req := "GET / HTTP/1.1\r\nHost: test\r\n\r\n"
	kind := "keep-alive"
	if !keepAlive {
		req = "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
		kind = "new connection"
	}
	var c net.Conn
	var br *bufio.Reader
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		l.Sent.Add(1)
		if keepAlive {
			l.KeepAlive.Add(1)
		} else {
			l.NewConn.Add(1)
		}
		reused := c != nil
		again, err := func() (bool, error) {
			if c == nil {
				var err error
				if c, err = dial(); err != nil {
					return false, err
				}
				br = bufio.NewReader(c)
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(c, req); err != nil {
				return false, err
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return false, err
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %s", resp.Status)
			}
			return keepAlive && !resp.Close, err
		}()
		if err != nil {
			l.Failed.Add(1)
			l.mu.Lock()
			if len(l.errs) < 10 {
				l.errs = append(l.errs, fmt.Sprintf("%s (reused %v) at %v: %v", kind, reused,
					time.Since(l.start).Round(time.Millisecond), err))
			}
			l.mu.Unlock()
		}
		if !again && c != nil {
			c.Close()
			c = nil
		}
	}
}
