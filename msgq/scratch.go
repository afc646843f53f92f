package msgq

import (
	"math/bits"
	"sync"

	"github.com/ipctoolkit/ipc/internal/sys"
)

// The kernel reads and writes a message as one buffer: the type as a C long,
// then the text. Callers hand over the text alone, so each call borrows a
// scratch buffer of LongSize + text bytes from a pool and returns it before
// it returns. The pools are per size class (LongSize + 2^k bytes) so that a
// mix of sizes never makes a small buffer come back for a large message;
// sync.Pool keeps them per P, so concurrent senders and receivers do not
// contend. In steady state a call allocates nothing.
//
// Send and Receive use a buffer on the goroutine's stack instead for texts
// of up to stackText bytes: zeroing it costs less than a trip to the pool.
// The kernel may write to the stack: during the call the goroutine is either
// running (raw call) or in a system call, and Go moves a goroutine's stack
// in neither state.

const stackText = 512

const (
	minClass = 6  // 64 bytes of text
	maxClass = 24 // 16 MiB; larger buffers are allocated per call
)

var scratchPools [maxClass + 1]sync.Pool

// class is the size class for n bytes of text: the smallest k >= minClass
// with 2^k >= n.
func class(n int) int {
	if n <= 1<<minClass {
		return minClass
	}
	return bits.Len(uint(n - 1))
}

// getScratch returns a buffer of at least LongSize+n bytes. The pointer is
// what putScratch takes back, so that returning it allocates nothing.
func getScratch(n int) *[]byte {
	k := class(n)
	if k > maxClass {
		b := make([]byte, sys.LongSize+n)
		return &b
	}
	if p, _ := scratchPools[k].Get().(*[]byte); p != nil {
		return p
	}
	b := make([]byte, sys.LongSize+1<<k)
	return &b
}

func putScratch(p *[]byte) {
	k := class(len(*p) - sys.LongSize)
	if k > maxClass || len(*p) != sys.LongSize+1<<k {
		return
	}
	scratchPools[k].Put(p)
}
