package ipc

import (
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ipctoolkit/ipc/internal/ipcobj"
	"github.com/ipctoolkit/ipc/internal/ipctest"
	"golang.org/x/sys/unix"
)

func sysctl(t *testing.T, name string) []uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/kernel/" + name)
	if err != nil {
		t.Skipf("no /proc/sys/kernel/%s: %v", name, err)
	}
	var out []uint64
	for _, f := range strings.Fields(string(b)) {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, v)
	}
	return out
}

func TestReadLimits(t *testing.T) {
	l, err := ReadLimits()
	if err != nil {
		t.Fatal(err)
	}
	sem := sysctl(t, "sem")
	want := Limits{
		MSGMNI: sysctl(t, "msgmni")[0], MSGMAX: sysctl(t, "msgmax")[0], MSGMNB: sysctl(t, "msgmnb")[0],
		SHMMNI: sysctl(t, "shmmni")[0], SHMMAX: sysctl(t, "shmmax")[0], SHMALL: sysctl(t, "shmall")[0], SHMMIN: 1,
		SEMMSL: int(sem[0]), SEMMNS: int(sem[1]), SEMOPM: int(sem[2]), SEMMNI: int(sem[3]), SEMVMX: 32767,
		PageSize: os.Getpagesize(),
	}
	if l != want {
		t.Errorf("ReadLimits() = %+v\nwant          %+v", l, want)
	}

	// Without /proc/sys, IPC_INFO gives the same (except shmall/shmmax,
	// which the kernel reports as they are, so equal too).
	fallback, err := readLimits(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if fallback != l {
		t.Errorf("IPC_INFO limits = %+v\n/proc/sys limits = %+v", fallback, l)
	}

	// A malformed file is an error, not a silent zero.
	dir := t.TempDir()
	os.WriteFile(dir+"/sem", []byte("1 2 3\n"), 0o644)
	if _, err := readLimits(dir); err == nil || !strings.Contains(err.Error(), "limits of semaphore sets") {
		t.Errorf("readLimits with a 3-field sem file = %v", err)
	}
}

func TestSHMTotal(t *testing.T) {
	const max = math.MaxUint64
	for _, c := range []struct {
		shmall    uint64
		page      int
		bytes, kb uint64
	}{
		// The values util-linux.md captured: shmall 18446744073692774399,
		// 4 KiB pages.
		{18446744073692774399, 4096, 18446744073709547520, 18446744073709551612},
		{2097152, 4096, 8589934592, 8388608},
		{0, 4096, 0, 0},
		{1, 65536, 65536, 64},
		{max / 4096, 4096, max / 4096 * 4096, max / 4096 * 4},
		{max/4096 + 1, 4096, max - max%4096, (max/4096 + 1) * 4},
		{max/4 + 1, 4096, max - max%4096, max - max%4},
	} {
		l := Limits{SHMALL: c.shmall, PageSize: c.page}
		if got := l.SHMTotalBytes(); got != c.bytes {
			t.Errorf("SHMALL %d, page %d: SHMTotalBytes = %d, want %d", c.shmall, c.page, got, c.bytes)
		}
		if got := l.SHMTotalKB(); got != c.kb {
			t.Errorf("SHMALL %d, page %d: SHMTotalKB = %d, want %d", c.shmall, c.page, got, c.kb)
		}
	}
}

func TestReadUsage(t *testing.T) {
	page := os.Getpagesize()
	newSemSet(t, 4, 0o600)
	newSemSet(t, 2, 0o600)
	q, _ := newQueue(t, 0o600)
	sendMsg(t, q, 1, 300)
	sendMsg(t, q, 1, 5)
	touched, _ := newSegment(t, page+1, 0o600)
	newSegment(t, 1, 0o600)
	mem, err := unix.SysvShmAttach(touched, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.SysvShmDetach(mem)
	mem[page] = 1

	u, err := ReadUsage()
	if err != nil {
		t.Fatal(err)
	}
	// What /proc/sysvipc lists, summed as the kernel's *_INFO calls sum it.
	var want Usage
	procRows(t, "sem", 10, func(r *ipcobj.Row) {
		want.SemaphoreSets++
		want.Semaphores += int(r.U32(3))
	})
	procRows(t, "msg", 14, func(r *ipcobj.Row) {
		want.Queues++
		want.MessageBytes += r.U64(3)
		want.Messages += int(r.U64(4))
	})
	procRows(t, "shm", 16, func(r *ipcobj.Row) {
		want.Segments++
		want.SegmentPages += (r.U64(3) + uint64(page) - 1) / uint64(page)
		// /proc gives bytes, SHM_INFO pages.
		want.ResidentPages += r.U64(14) / uint64(page)
		want.SwappedPages += r.U64(15) / uint64(page)
	})
	if !ipctest.PrivateNamespace() {
		// Others may come and go in a shared namespace: only check ours is
		// counted.
		if u.SemaphoreSets < 2 || u.Semaphores < 6 || u.Queues < 1 || u.Messages < 2 || u.MessageBytes < 305 || u.Segments < 2 {
			t.Errorf("ReadUsage() = %+v", u)
		}
		return
	}
	if u != want {
		t.Errorf("ReadUsage() = %+v\nlisting says  %+v", u, want)
	}
	if u.SemaphoreSets != 2 || u.Semaphores != 6 || u.Queues != 1 || u.Messages != 2 || u.MessageBytes != 305 ||
		u.Segments != 2 || u.SegmentPages != 3 || u.ResidentPages < 1 {
		t.Errorf("ReadUsage() in a private namespace = %+v", u)
	}
}

func procRows(t *testing.T, file string, min int, fn func(r *ipcobj.Row)) {
	t.Helper()
	if err := ipcobj.ReadProc(ipcobj.ProcDir+"/"+file, min, fn); err != nil {
		t.Fatal(err)
	}
}
