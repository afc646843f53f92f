package prefork

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/ipctoolkit/ipc/shm"
)

func TestMessageRoundTrip(t *testing.T) {
	buf := make([]byte, msgBufSize)
	in := message{kind: kindExiting, slot: 4095, pid: 1 << 30, gen: 1<<40 + 3, arg: reasonMaxRequests, text: []byte("served its 5 requests")}
	out, ok := decode(in.encode(buf))
	if !ok || out.kind != in.kind || out.slot != in.slot || out.pid != in.pid || out.gen != in.gen || out.arg != in.arg || !bytes.Equal(out.text, in.text) {
		t.Errorf("%+v came back as %+v", in, out)
	}
	if _, ok := decode(buf[:msgHeader-1]); ok {
		t.Error("a message shorter than the header decoded")
	}
	// A text too long for the buffer is cut, not written past it.
	long := message{kind: kindBroadcast, text: bytes.Repeat([]byte("x"), 2*msgBufSize)}
	if n := len(long.encode(buf)); n != msgBufSize {
		t.Errorf("encoded %d bytes into a %d-byte buffer", n, msgBufSize)
	}
}

func TestBootRoundTrip(t *testing.T) {
	in := boot{slot: 3, slots: 8, gen: 7, semID: 32768, queueID: 5, segID: 0, supervisor: 1234,
		maxRequests: 1000, graceful: 30 * time.Second, timeout: time.Second, accept: AcceptShared}
	k, v, _ := strings.Cut(in.encode(), "=")
	if k != bootEnv {
		t.Fatalf("variable %q", k)
	}
	out, err := parseBoot(v)
	if err != nil || out != in {
		t.Errorf("%+v came back as %+v, %v", in, out, err)
	}
	for _, bad := range []string{"", "slot=1", "slot=x," + v, "slot=-1," + v, strings.Replace(v, "slot=3", "slot=9", 1)} {
		if _, err := parseBoot(bad); err == nil {
			t.Errorf("parseBoot(%q) accepted it", bad)
		}
	}
}

func TestStartTicks(t *testing.T) {
	a, ok1 := startTicks(1)
	b, ok2 := startTicks(1)
	if !ok1 || !ok2 || a != b {
		t.Errorf("start ticks of pid 1: %d %v, %d %v", a, ok1, b, ok2)
	}
	if _, ok := startTicks(1 << 30); ok {
		t.Error("start ticks of a pid that cannot exist")
	}
}

// The accept path's own work per connection: lock, poll bookkeeping and
// unlock, with no allocation.
func BenchmarkAcceptLockCycle(b *testing.B) {
	m, err := sem.CreateMutex(ipc.Private, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Set().Remove()
	b.ReportAllocs()
	for b.Loop() {
		if err := m.LockTimeout(time.Second); err != nil {
			b.Fatal(err)
		}
		if err := m.Unlock(); err != nil {
			b.Fatal(err)
		}
	}
}

// Updating the scoreboard as a connection is served: atomic stores and adds
// in shared memory, no allocation.
func BenchmarkScoreboardUpdate(b *testing.B) {
	seg, err := shm.Create(ipc.Private, boardSize(4), 0o600)
	if err != nil {
		b.Fatal(err)
	}
	m, err := seg.Attach()
	seg.Remove()
	if err != nil {
		b.Fatal(err)
	}
	defer m.Detach()
	bd, err := newBoard(m, 4)
	if err != nil {
		b.Fatal(err)
	}
	w := &bd.slots[2]
	b.ReportAllocs()
	for b.Loop() {
		t := now()
		w[wHeartbeat].Store(t)
		w[wConns].Add(1)
		w[wActive].Add(1)
		w[wBytesIn].Add(64)
		w[wBytesOut].Add(64)
		w[wLastActive].Store(t)
		w[wActive].Add(^uint64(0))
	}
}

func BenchmarkMessage(b *testing.B) {
	var buf [msgBufSize]byte
	m := message{kind: kindBroadcast, slot: 3, pid: 1234, gen: 2, text: []byte("a line of chat\n")}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := decode(m.encode(buf[:])); !ok {
			b.Fatal("decode")
		}
	}
}
