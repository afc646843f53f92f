package sys_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// TestSigeventLayout checks Sigevent against the kernel's struct sigevent
// as TestLayout checks the IPC structs.
func TestSigeventLayout(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found: layout not checked")
	}
	const src = `#include <stdio.h>
#include <stddef.h>
#include <linux/signal.h>
int main(void) {
	printf("%zu %zu %zu %zu %zu %d\n", sizeof(struct sigevent), offsetof(struct sigevent, sigev_value),
		offsetof(struct sigevent, sigev_signo), offsetof(struct sigevent, sigev_notify),
		offsetof(struct sigevent, sigev_notify_thread_id), SIGEV_THREAD_ID);
	return 0;
}
`
	dir := t.TempDir()
	cfile, bin := filepath.Join(dir, "sigevent.c"), filepath.Join(dir, "sigevent")
	if err := os.WriteFile(cfile, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gcc, "-Wall", "-o", bin, cfile).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	var ev sys.Sigevent
	got := strings.TrimSpace(string(out))
	want := strings.Join([]string{
		itoa(unsafe.Sizeof(ev)), itoa(unsafe.Offsetof(ev.Value)), itoa(unsafe.Offsetof(ev.Signo)),
		itoa(unsafe.Offsetof(ev.Notify)), itoa(unsafe.Offsetof(ev.Tid)), itoa(sys.SIGEV_THREAD_ID),
	}, " ")
	if got != want {
		t.Errorf("struct sigevent: C says %q (size, value, signo, notify, tid, SIGEV_THREAD_ID), Go %q", got, want)
	}
}

func itoa[T ~int | ~uintptr](v T) string { return strconv.FormatUint(uint64(v), 10) }

// A thread-directed timer interrupts a blocked msgrcv of that thread with
// EINTR when it fires.
func TestTimerInterruptsMsgrcv(t *testing.T) {
	id, e := sys.Msgget(0, unix.IPC_CREAT|0o600)
	if e != 0 {
		t.Fatal(e)
	}
	defer sys.MsgctlDS(id, unix.IPC_RMID, nil)

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ev := sys.Sigevent{Signo: int32(unix.SIGURG), Notify: sys.SIGEV_THREAD_ID, Tid: int32(unix.Gettid())}
	timer, e := sys.TimerCreate(unix.CLOCK_MONOTONIC, &ev)
	if e != 0 {
		t.Fatalf("timer_create: %v", e)
	}
	defer sys.TimerDelete(timer)
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(20 * time.Millisecond)), Interval: unix.NsecToTimespec(int64(time.Millisecond))}
	if e := sys.TimerSettime(timer, 0, &spec); e != 0 {
		t.Fatalf("timer_settime: %v", e)
	}
	start := time.Now()
	buf := make([]byte, 16)
	// The runtime may interrupt the call too (preemption signals): only an
	// EINTR after the timer's 20ms is the timer's.
	for {
		_, e := sys.Msgrcv(id, buf, 8, 0, 0)
		if e != unix.EINTR {
			t.Fatalf("msgrcv = %v, want EINTR", e)
		}
		if time.Since(start) >= 20*time.Millisecond {
			break
		}
	}
	if d := time.Since(start); d < 20*time.Millisecond || d > time.Second {
		t.Errorf("interrupted after %v, want 20ms", d)
	}
	if e := sys.TimerDelete(timer); e != 0 {
		t.Errorf("timer_delete: %v", e)
	}
}
