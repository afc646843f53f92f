package benchserve

import (
	"bufio"
	"context"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc/prefork"
	"github.com/ipctoolkit/ipc/ipc/proc"
)

func TestMain(m *testing.M) {
	proc.Dispatch()
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	ipctest.Main(m)
}

// serveOne runs Handler on a loopback listener for one connection.
func serveOne(t *testing.T) (addr string, done <-chan struct{}) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		Handler(context.Background(), c)
	}()
	return l.Addr().String(), ch
}

// The handler answers each count with that many bytes, on one connection
// as many times as asked, and closes on what is not a count.
func TestHandler(t *testing.T) {
	addr, done := serveOne(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	for _, n := range []int{1, 26, 4000, 200000} {
		if _, err := io.WriteString(c, strconv.Itoa(n)+"\r\n"); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if buf[0] != 'a' || (n >= 26 && buf[25] != 'z') {
			t.Fatalf("%d bytes: starts %q", n, buf[:min(n, 30)])
		}
	}
	for _, bad := range []string{"0\n", "-5\n", "x\n", strconv.Itoa(MaxBytes+1) + "\n"} {
		addr, done := serveOne(t)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, bad)
		if n, err := c.Read(make([]byte, 10)); err != io.EOF {
			t.Errorf("%q: read %d, %v; want EOF", bad, n, err)
		}
		<-done
		c.Close()
	}
	c.Close()
	<-done
}

func TestShares(t *testing.T) {
	before := prefork.Status{Workers: []prefork.WorkerStatus{{PID: 10, Connections: 5}, {PID: 11, Connections: 7}}, Exited: prefork.Totals{Connections: 3}}
	after := prefork.Status{Workers: []prefork.WorkerStatus{{PID: 10, Connections: 15}, {PID: 11, Connections: 37}, {PID: 12, Connections: 20}},
		Exited: prefork.Totals{Connections: 4}}
	sh := shares(before, after)
	if len(sh.PerWorker) != 3 || sh.PerWorker[0] != 10 || sh.PerWorker[1] != 30 || sh.PerWorker[2] != 20 ||
		sh.Exited != 1 || sh.Min != 10 || sh.Max != 30 || sh.Stddev < 8.16 || sh.Stddev > 8.17 {
		t.Fatalf("%+v", sh)
	}
	if sh := shares(prefork.Status{}, prefork.Status{}); sh.PerWorker == nil || sh.Min != 0 || sh.Max != 0 {
		t.Fatalf("no workers: %+v", sh)
	}
}

// treeCPU counts a child's time whether it runs or has been reaped by its
// own parent: a burning grandchild, reaped by the child, is in the child's
// cutime.
func TestTreeCPU(t *testing.T) {
	cmd := exec.Command("sh", "-c", `sh -c 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done'; echo done; read x`)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	// "done": the grandchild has ended and been reaped by the shell.
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "done\n" {
		t.Fatalf("the shell said %q, %v", line, err)
	}
	c := treeCPU(cmd.Process.Pid)
	if c.Total < 0.02 || math.Abs(c.User+c.Sys-c.Total) > 1e-9 { // Total is the sum before the conversion to seconds
		t.Fatalf("tree of %d: %+v, want the grandchild's loop (tens of ms)", cmd.Process.Pid, c)
	}
	if mine := treeCPU(os.Getpid()); mine.Total < c.Total {
		t.Fatalf("this process's tree %+v has less than its child's %+v", mine, c)
	}
}

func TestCheck(t *testing.T) {
	ok := Config{Clients: 1, Connections: 1, Bytes: 1, Workers: 1}
	if err := ok.Check(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Clients: 0, Connections: 1, Bytes: 1, Workers: 1}, "--clients"},
		{Config{Clients: 1, Connections: 0, Bytes: 1, Workers: 1}, "--connections"},
		{Config{Clients: 1, Connections: 1, Bytes: MaxBytes + 1, Workers: 1}, "--bytes"},
		{Config{Clients: 1, Connections: 1, Bytes: 1, Workers: MaxWorkers + 1}, "--workers"},
		{Config{Modes: []string{"prefork", "nope"}, Clients: 1, Connections: 1, Bytes: 1, Workers: 1}, `unknown mode "nope"`},
		{Config{Modes: []string{"single", "single"}, Clients: 1, Connections: 1, Bytes: 1, Workers: 1}, "twice"},
	} {
		if err := c.cfg.Check(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

// Run in the library: one prefork design and the baseline, a done context
// stops it.
func TestRun(t *testing.T) {
	rep, err := Run(context.Background(), Config{Modes: []string{"prefork", "single"}, Clients: 3, Connections: 20, Bytes: 100, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ClientProcesses != 2 && rep.CPUs <= 2 || len(rep.Results) != 2 {
		t.Fatalf("%+v", rep)
	}
	for _, r := range rep.Results {
		if r.Failed != 0 || r.Served != 60 || r.LifeCPU.Total <= 0 {
			t.Errorf("%+v", r)
		}
	}
	if w := rep.Results[0].Shares.PerWorker; len(w) != 3 {
		t.Errorf("prefork shares %v, want 3 workers", w)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := Run(ctx, Config{Modes: []string{"prefork"}, Connections: MaxConnections}); err != context.DeadlineExceeded {
		t.Fatalf("stopped run: %v", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("took %v to stop", el)
	}
}

// A client counts what fails, by kind, rather than stopping: here nothing
// listens, so every connection is refused.
func TestClientCountsFailures(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cs, err := startClients(context.Background(), addr, Config{Clients: 3, Connections: 4, Bytes: 10})
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.run(context.Background(), func() {})
	if err != nil {
		t.Fatal(err)
	}
	var ok, failed, kinds int
	for _, r := range res {
		ok += r.OK
		failed += r.Failed
		for k, n := range r.Errors {
			kinds += n
			if !strings.Contains(k, "refused") {
				t.Errorf("failure %q", k)
			}
		}
	}
	if ok != 0 || failed != 12 || kinds != 12 {
		t.Fatalf("%d ok, %d failed, %d by kind (%+v); want 0, 12, 12", ok, failed, kinds, res)
	}
}

// A server that answers short is a failure of each connection it cuts.
func TestClientShortReply(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			// Read the request first: closed with it unread, the
			// socket would reset the connection instead of ending it.
			bufio.NewReader(c).ReadString('\n')
			c.Write([]byte("abc")) // 3 of the 10 asked for
			c.Close()
		}
	}()
	err = oneConn(l.Addr().String(), []byte("10\n"), make([]byte, 10), 10)
	if err == nil || !strings.Contains(err.Error(), "short reply: 3 of 10 bytes") {
		t.Fatalf("short reply: %v", err)
	}
}
