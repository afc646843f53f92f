package prefork_test

import (
	"io"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
)

// A kept-alive HTTP connection left silent for HTTPIdleTimeout (2 s here)
// is closed by its worker; one that asks again within it stays open and is
// answered on the same connection.
func TestHTTPIdleTimeout(t *testing.T) {
	before := ipctest.Snapshot()
	o := startOps(t, "http-idle", nil)
	busy, idle := dialHTTP(t, o.addr), dialHTTP(t, o.addr)
	busy.slotOf(t)
	idle.slotOf(t)
	answered := time.Now()
	type end struct {
		after time.Duration
		err   error
	}
	closed := make(chan end, 1)
	go func() {
		idle.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := idle.r.ReadByte()
		closed <- end{time.Since(answered), err}
	}()
	// 3.2 s of requests 200 ms apart: more than the timeout in all, a
	// tenth of it between two (room for a loaded machine's pauses).
	for range 16 {
		time.Sleep(200 * time.Millisecond)
		busy.slotOf(t)
	}
	select {
	case e := <-closed:
		d := e.after
		if e.err != io.EOF {
			t.Errorf("the silent connection: %v, want EOF", e.err)
		}
		// The worker's clock starts when it has written the answer, a
		// moment before this client has read it (CI saw 1.9998 s), so
		// only a close well before the timeout is a failure.
		if d < 1900*time.Millisecond {
			t.Errorf("the silent connection was closed after %v, before the 2 s timeout", d)
		}
		t.Logf("the silent connection was closed %v after its answer", d.Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Error("the silent connection is still open 5 s past the timeout")
	}
	o.closeLeavingNothing(t, before)
}
