package benchserve

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"sync"
	"time"
)

// MaxBytes bounds one request: a client asking for more is refused (its
// connection closed), so that a stray connection cannot make a worker write
// for minutes. UNP's web_child bounds it too (MAXN, 16384); this one is
// larger, to let the reply dominate when that is what is measured.
const MaxBytes = 64 << 20

// idleTimeout closes a connection that brings no request for this long.
const idleTimeout = 30 * time.Second

// reply is what every answer is cut from: the content does not matter,
// only its length. Made at the first answer, not at init: every process of
// the ipc binary (each fork-mode child, each worker) would pay for it at
// start.
var reply = sync.OnceValue(func() []byte {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
})

// Handler serves the protocol of UNIX Network Programming ch.30 (web_child):
// the client writes a byte count in decimal ending with a newline, the
// server answers with that many bytes; again, until the client closes. A
// line that is not a count from 1 to MaxBytes closes the connection.
func Handler(_ context.Context, c net.Conn) {
	r := bufio.NewReaderSize(c, 64)
	for {
		c.SetReadDeadline(time.Now().Add(idleTimeout))
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(string(trimEOL(line)))
		if err != nil || n < 1 || n > MaxBytes {
			return
		}
		b := reply()
		for n > 0 {
			k := min(n, len(b))
			if _, err := c.Write(b[:k]); err != nil {
				return
			}
			n -= k
		}
	}
}

func trimEOL(b []byte) []byte {
	b = b[:len(b)-1]
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b
}
