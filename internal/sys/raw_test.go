package sys_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// The raw wrappers are exercised once each, enough to show that arguments
// reach the kernel in the right registers and results come back; the
// packages above them test the semantics.

func newSet(t *testing.T, nsems int) int {
	t.Helper()
	id, e := sys.Semget(0, nsems, unix.IPC_CREAT|0o600)
	if e != 0 {
		t.Fatalf("semget: %v", e)
	}
	t.Cleanup(func() { sys.SemctlInt(id, 0, unix.IPC_RMID, 0) })
	return id
}

func TestSemaphoreWrappers(t *testing.T) {
	id := newSet(t, 3)

	if _, e := sys.SemctlInt(id, 1, sys.SETVAL, 5); e != 0 {
		t.Fatalf("SETVAL: %v", e)
	}
	if e := sys.Semop(id, []sys.Sembuf{{Num: 1, Op: 2}, {Num: 2, Op: 1}}); e != 0 {
		t.Fatalf("semop: %v", e)
	}
	for num, want := range []int{0, 7, 1} {
		if v, e := sys.SemctlInt(id, num, sys.GETVAL, 0); e != 0 || v != want {
			t.Errorf("GETVAL %d = %d, %v; want %d", num, v, e, want)
		}
	}
	if pid, e := sys.SemctlInt(id, 1, sys.GETPID, 0); e != 0 || pid != os.Getpid() {
		t.Errorf("GETPID = %d, %v; want %d", pid, e, os.Getpid())
	}
	for _, cmd := range []int{sys.GETNCNT, sys.GETZCNT} {
		if n, e := sys.SemctlInt(id, 0, cmd, 0); e != 0 || n != 0 {
			t.Errorf("semctl cmd %d = %d, %v; want 0", cmd, n, e)
		}
	}

	if e := sys.SemctlArray(id, sys.SETALL, []uint16{4, 5, 6}); e != 0 {
		t.Fatalf("SETALL: %v", e)
	}
	vals := make([]uint16, 3)
	if e := sys.SemctlArray(id, sys.GETALL, vals); e != 0 || vals[0] != 4 || vals[1] != 5 || vals[2] != 6 {
		t.Errorf("GETALL = %v, %v; want [4 5 6]", vals, e)
	}

	// A decrement below zero with a timeout fails with EAGAIN when it
	// expires and changes nothing.
	ts := unix.NsecToTimespec(1e6)
	if e := sys.Semtimedop(id, []sys.Sembuf{{Num: 0, Op: -5}, {Num: 1, Op: -1}}, &ts); e != unix.EAGAIN {
		t.Errorf("semtimedop past zero = %v, want EAGAIN", e)
	}
	if e := sys.Semop(id, []sys.Sembuf{{Num: 0, Op: -5, Flg: unix.IPC_NOWAIT}}); e != unix.EAGAIN {
		t.Errorf("semop IPC_NOWAIT past zero = %v, want EAGAIN", e)
	}

	var ds sys.SemidDS
	if _, e := sys.SemctlDS(id, unix.IPC_STAT, &ds); e != 0 {
		t.Fatalf("IPC_STAT: %v", e)
	}
	if ds.Nsems != 3 || ds.Perm.Mode&0o777 != 0o600 || ds.Perm.Uid != uint32(os.Geteuid()) || ds.Otime == 0 || ds.Ctime == 0 {
		t.Errorf("IPC_STAT = %+v", ds)
	}

	var info sys.Seminfo
	maxidx, e := sys.SemctlInfo(sys.SEM_INFO, &info)
	if e != 0 || maxidx < 0 || info.Semusz < 1 || info.Semaem < 3 {
		t.Errorf("SEM_INFO = %d, %+v, %v", maxidx, info, e)
	}
	if _, e := sys.SemctlInfo(sys.IPC_INFO, &info); e != 0 || info.Semvmx != 32767 {
		t.Errorf("IPC_INFO = %+v, %v; want semvmx 32767", info, e)
	}
	found := false
	for idx := 0; idx <= maxidx; idx++ {
		var ds sys.SemidDS
		if got, e := sys.SemctlDS(idx, sys.SEM_STAT_ANY, &ds); e == 0 && got == id {
			found = ds.Nsems == 3
		}
	}
	if !found {
		t.Errorf("SEM_STAT_ANY over indexes 0..%d did not find set %d", maxidx, id)
	}

	if _, e := sys.SemctlInt(id, 0, unix.IPC_RMID, 0); e != 0 {
		t.Fatalf("IPC_RMID: %v", e)
	}
	if _, e := sys.SemctlInt(id, 0, sys.GETVAL, 0); e != unix.EINVAL {
		t.Errorf("GETVAL after IPC_RMID = %v, want EINVAL", e)
	}
}

func TestQueueWrappers(t *testing.T) {
	id, e := sys.Msgget(0, unix.IPC_CREAT|0o600)
	if e != 0 {
		t.Fatalf("msgget: %v", e)
	}
	t.Cleanup(func() { sys.MsgctlDS(id, unix.IPC_RMID, nil) })

	msg := func(typ int64, text string) []byte {
		b := make([]byte, sys.LongSize+len(text))
		binary.NativeEndian.PutUint64(b, uint64(typ))
		copy(b[sys.LongSize:], text)
		return b
	}
	for typ, text := range map[int64]string{7: "seven", 3: "three!"} {
		if e := sys.Msgsnd(id, msg(typ, text), len(text), 0); e != 0 {
			t.Fatalf("msgsnd: %v", e)
		}
	}

	var ds sys.MsqidDS
	if _, e := sys.MsgctlDS(id, unix.IPC_STAT, &ds); e != 0 {
		t.Fatalf("IPC_STAT: %v", e)
	}
	if ds.Qnum != 2 || ds.Cbytes != 11 || ds.Lspid != int32(os.Getpid()) || ds.Qbytes == 0 || ds.Stime == 0 {
		t.Errorf("IPC_STAT = %+v", ds)
	}

	buf := make([]byte, sys.LongSize+64)
	n, e := sys.Msgrcv(id, buf, 64, 3, 0)
	if e != 0 || n != 6 || binary.NativeEndian.Uint64(buf) != 3 || string(buf[sys.LongSize:][:n]) != "three!" {
		t.Errorf("msgrcv type 3 = %d %q, %v", n, buf[:sys.LongSize+n], e)
	}
	if _, e := sys.Msgrcv(id, buf, 2, 7, unix.IPC_NOWAIT); e != unix.E2BIG {
		t.Errorf("msgrcv into 2 bytes = %v, want E2BIG", e)
	}
	if n, e := sys.Msgrcv(id, buf, 2, 7, sys.MSG_NOERROR); e != 0 || n != 2 || !bytes.Equal(buf[sys.LongSize:][:2], []byte("se")) {
		t.Errorf("msgrcv MSG_NOERROR = %d, %v", n, e)
	}
	if _, e := sys.Msgrcv(id, buf, 64, 0, unix.IPC_NOWAIT); e != unix.ENOMSG {
		t.Errorf("msgrcv on an empty queue = %v, want ENOMSG", e)
	}

	var info sys.Msginfo
	if maxidx, e := sys.MsgctlInfo(sys.MSG_INFO, &info); e != 0 || maxidx < 0 || info.Msgpool < 1 {
		t.Errorf("MSG_INFO = %d, %+v, %v", maxidx, info, e)
	}
	if _, e := sys.MsgctlInfo(sys.IPC_INFO, &info); e != 0 || info.Msgmax != int32(readSysctl(t, "msgmax")) {
		t.Errorf("IPC_INFO = %+v, %v; msgmax should match /proc/sys/kernel/msgmax", info, e)
	}

	if _, e := sys.MsgctlDS(id, unix.IPC_RMID, nil); e != 0 {
		t.Fatalf("IPC_RMID: %v", e)
	}
	if _, e := sys.MsgctlDS(id, unix.IPC_STAT, &ds); e != unix.EINVAL {
		t.Errorf("IPC_STAT after IPC_RMID = %v, want EINVAL", e)
	}
}

func TestShmInfoWrappers(t *testing.T) {
	id, err := unix.SysvShmGet(0, 3*os.Getpagesize()+1, unix.IPC_CREAT|0o600)
	if err != nil {
		t.Fatalf("shmget: %v", err)
	}
	t.Cleanup(func() { unix.SysvShmCtl(id, unix.IPC_RMID, nil) })

	var info sys.ShmInfo
	if maxidx, e := sys.ShmctlInfo(&info); e != 0 || maxidx < 0 || info.UsedIDs < 1 || info.ShmTot < 4 {
		t.Errorf("SHM_INFO = %d, %+v, %v; want a segment of 4 pages counted", maxidx, info, e)
	}
	var lim sys.Shminfo
	if _, e := sys.ShmctlLimits(&lim); e != 0 || lim.Shmmin != 1 || lim.Shmmax != readSysctl(t, "shmmax") ||
		lim.Shmall != readSysctl(t, "shmall") || lim.Shmmni != readSysctl(t, "shmmni") {
		t.Errorf("IPC_INFO = %+v, %v; want shmmin 1 and the /proc/sys/kernel values", lim, e)
	}
}

func readSysctl(t *testing.T, name string) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/kernel/" + name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
