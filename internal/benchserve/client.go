package benchserve

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// The client is a process of its own (this binary re-executed in the
// clientRole), so that its CPU is never the server's: it runs its share of
// the streams, each a goroutine opening its connections one after the
// other, as UNP's client forks one child per stream. Its arguments are the
// address, the number of streams, connections per stream and bytes per
// connection. It says "ready" on stdout, waits for a byte on stdin (so that
// every client starts at once, after they have all paid for their own
// start), runs, and prints one JSON line: a clientResult.

// connTimeout bounds one connection (dial, request and the whole reply): a
// connection still unanswered after it is a failure, never a hang.
const connTimeout = 10 * time.Second

// clientResult is what a client process reports.
type clientResult struct {
	OK     int            `json:"ok"`
	Failed int            `json:"failed"`
	Errors map[string]int `json:"errors,omitempty"` // a few kinds of failure, counted
}

// maxErrorKinds bounds the kinds of failure a client keeps text for.
const maxErrorKinds = 4

func runClient(args []string) int {
	if len(args) != 4 {
		fmt.Fprintf(os.Stderr, "ipc: bench serve client: bad arguments %q\n", args)
		return 2
	}
	addr := args[0]
	streams, e1 := strconv.Atoi(args[1])
	conns, e2 := strconv.Atoi(args[2])
	nbytes, e3 := strconv.Atoi(args[3])
	if e1 != nil || e2 != nil || e3 != nil || streams < 1 || conns < 1 || nbytes < 1 {
		fmt.Fprintf(os.Stderr, "ipc: bench serve client: bad arguments %q\n", args)
		return 2
	}
	fmt.Println("ready")
	var go1 [1]byte
	if _, err := io.ReadFull(os.Stdin, go1[:]); err != nil {
		return 1 // the bench gave up before the start
	}
	var (
		mu  sync.Mutex
		res = clientResult{Errors: map[string]int{}}
		wg  sync.WaitGroup
	)
	for range streams {
		wg.Go(func() {
			ok, failed, errs := stream(addr, conns, nbytes)
			mu.Lock()
			defer mu.Unlock()
			res.OK += ok
			res.Failed += failed
			for k, v := range errs {
				if _, seen := res.Errors[k]; seen || len(res.Errors) < maxErrorKinds {
					res.Errors[k] += v
				}
			}
		})
	}
	wg.Wait()
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

// stream opens conns connections one after the other, each asking for
// nbytes and reading them all.
func stream(addr string, conns, nbytes int) (ok, failed int, errs map[string]int) {
	errs = map[string]int{}
	req := []byte(strconv.Itoa(nbytes) + "\n")
	buf := make([]byte, min(nbytes, 64<<10))
	for range conns {
		if err := oneConn(addr, req, buf, nbytes); err != nil {
			failed++
			if len(errs) < maxErrorKinds {
				errs[errorKind(err)]++
			}
			continue
		}
		ok++
	}
	return ok, failed, errs
}

func oneConn(addr string, req, buf []byte, nbytes int) error {
	c, err := net.DialTimeout("tcp", addr, connTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(connTimeout))
	if _, err := c.Write(req); err != nil {
		return err
	}
	for left := nbytes; left > 0; {
		n, err := c.Read(buf[:min(left, len(buf))])
		left -= n
		if err != nil {
			if err == io.EOF {
				return fmt.Errorf("short reply: %d of %d bytes", nbytes-left, nbytes)
			}
			return err
		}
	}
	return nil
}

// errorKind is an error's text without what varies per connection (the
// local port), so that failures of one kind are counted together.
func errorKind(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Op + ": " + op.Err.Error()
	}
	return err.Error()
}
