package shm

import (
	"testing"
)

// The C reference is shared/bench-ref/shmcopy: memcpy of 64 MiB into an
// attached segment, warm (its pages already faulted in).
const copySize = 64 << 20

func benchMapping(b *testing.B, size int) *Mapping {
	s := newSegment(b, size, 0o600)
	m := attach(b, s, 0)
	// Fault every page in first, as the C program's warm figure does.
	clear(m.Bytes())
	return m
}

// BenchmarkCopyInto64MiB copies into Bytes directly: what a program that
// lays out its own records does.
func BenchmarkCopyInto64MiB(b *testing.B) {
	m := benchMapping(b, copySize)
	src := make([]byte, copySize)
	for i := range src {
		src[i] = 0x5a
	}
	dst := m.Bytes()
	b.SetBytes(copySize)
	b.ReportAllocs()
	for b.Loop() {
		copy(dst, src)
	}
}

// BenchmarkWriteAt64MiB is the same copy through WriteAt, with its state
// check and lock.
func BenchmarkWriteAt64MiB(b *testing.B) {
	m := benchMapping(b, copySize)
	src := make([]byte, copySize)
	for i := range src {
		src[i] = 0x5a
	}
	b.SetBytes(copySize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.WriteAt(src, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadAt64 shows the fixed cost of a small ReadAt (lock, checks).
func BenchmarkReadAt64(b *testing.B) {
	m := benchMapping(b, 4096)
	buf := make([]byte, 64)
	b.SetBytes(64)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.ReadAt(buf, 128); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCounterAdd is one atomic add on a shared counter.
func BenchmarkCounterAdd(b *testing.B) {
	m := benchMapping(b, 4096)
	c, err := m.Uint64(64)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Add(1)
	}
}
