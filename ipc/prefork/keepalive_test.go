package prefork_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// In every mode the server's end of a connection has TCP keep-alive, as a
// connection Go's own listener accepts has, whichever process accepted it
// (a worker in prefork and reuseport, the supervisor in pass and fork): the
// kernel's keep-alive timer runs on it, due within Go's 15 s. Without it a
// client that vanishes without a FIN holds its connection for good.
func TestModesKeepAlive(t *testing.T) {
	for _, m := range []string{"prefork", "fork", "pass", "reuseport"} {
		t.Run(m, func(t *testing.T) {
			s := startServer(t, modeArgs(m, "handler=pid", "graceful=2s")...)
			c, r := dial(t, s.addr)
			pidOf(t, c, r, "served") // accepted, and in its handler
			timer, due := tcpTimer(t, s.addr, c.LocalAddr().String())
			// /proc/net/tcp's timer 2 is sk_timer, which on an
			// established socket is the keep-alive timer; due is in
			// USER_HZ ticks (100 a second).
			if timer != 2 || due > 15*100 {
				t.Errorf("server's end of the connection: timer %d due in %d ticks; want the keep-alive timer (2), due within 1500", timer, due)
			}
			c.Close()
		})
	}
}

// tcpTimer finds the established IPv4 socket local -> remote in
// /proc/net/tcp and returns its timer kind and when it is due.
func tcpTimer(t *testing.T, local, remote string) (timer int, due int64) {
	t.Helper()
	want := [2]string{procNetAddr(t, local), procNetAddr(t, remote)}
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local rem st tx:rx tr:when ...
		fs := strings.Fields(sc.Text())
		if len(fs) < 6 || fs[1] != want[0] || fs[2] != want[1] || fs[3] != "01" {
			continue
		}
		tr, when, _ := strings.Cut(fs[5], ":")
		k, err1 := strconv.ParseInt(tr, 16, 32)
		d, err2 := strconv.ParseInt(when, 16, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("/proc/net/tcp: timer field %q", fs[5])
		}
		return int(k), d
	}
	t.Fatalf("no established socket %s -> %s in /proc/net/tcp (%v)", local, remote, sc.Err())
	return 0, 0
}

// procNetAddr writes an IPv4 host:port as /proc/net/tcp does: the address's
// four bytes as one hex word in the machine's (little-endian) order, the
// port in hex.
func procNetAddr(t *testing.T, hostport string) string {
	t.Helper()
	ap, err := net.ResolveTCPAddr("tcp", hostport)
	if err != nil {
		t.Fatal(err)
	}
	ip := ap.IP.To4()
	if ip == nil {
		t.Fatalf("%q: not an IPv4 address", hostport)
	}
	return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], ap.Port)
}
