package sys_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { ipctest.Main(m) }

// cField is one field of a kernel struct and where the Go mirror puts it.
type cField struct {
	cstruct, cfield string
	off, size       uintptr
}

// cStruct is the size of a kernel struct and of its Go mirror.
type cStruct struct {
	cstruct string
	size    uintptr
}

func layoutTables() ([]cStruct, []cField) {
	var (
		perm unix.SysvIpcPerm
		sem  sys.SemidDS
		msg  sys.MsqidDS
		shm  unix.SysvShmDesc
		semi sys.Seminfo
		msgi sys.Msginfo
		shmi sys.ShmInfo
		shml sys.Shminfo
		sop  sys.Sembuf
	)
	structs := []cStruct{
		{"ipc64_perm", unsafe.Sizeof(perm)},
		{"semid64_ds", unsafe.Sizeof(sem)},
		{"msqid64_ds", unsafe.Sizeof(msg)},
		{"shmid64_ds", unsafe.Sizeof(shm)},
		{"seminfo", unsafe.Sizeof(semi)},
		{"msginfo", unsafe.Sizeof(msgi)},
		{"shm_info", unsafe.Sizeof(shmi)},
		{"shminfo64", unsafe.Sizeof(shml)},
		{"sembuf", unsafe.Sizeof(sop)},
	}
	f := func(s, name string, off, size uintptr) cField { return cField{s, name, off, size} }
	fields := []cField{
		f("ipc64_perm", "key", unsafe.Offsetof(perm.Key), unsafe.Sizeof(perm.Key)),
		f("ipc64_perm", "uid", unsafe.Offsetof(perm.Uid), unsafe.Sizeof(perm.Uid)),
		f("ipc64_perm", "gid", unsafe.Offsetof(perm.Gid), unsafe.Sizeof(perm.Gid)),
		f("ipc64_perm", "cuid", unsafe.Offsetof(perm.Cuid), unsafe.Sizeof(perm.Cuid)),
		f("ipc64_perm", "cgid", unsafe.Offsetof(perm.Cgid), unsafe.Sizeof(perm.Cgid)),
		f("ipc64_perm", "mode", unsafe.Offsetof(perm.Mode), unsafe.Sizeof(perm.Mode)),
		f("ipc64_perm", "seq", unsafe.Offsetof(perm.Seq), unsafe.Sizeof(perm.Seq)),

		f("semid64_ds", "sem_perm", unsafe.Offsetof(sem.Perm), unsafe.Sizeof(sem.Perm)),
		f("semid64_ds", "sem_otime", unsafe.Offsetof(sem.Otime), unsafe.Sizeof(sem.Otime)),
		f("semid64_ds", "sem_ctime", unsafe.Offsetof(sem.Ctime), unsafe.Sizeof(sem.Ctime)),
		f("semid64_ds", "sem_nsems", unsafe.Offsetof(sem.Nsems), unsafe.Sizeof(sem.Nsems)),

		f("msqid64_ds", "msg_perm", unsafe.Offsetof(msg.Perm), unsafe.Sizeof(msg.Perm)),
		f("msqid64_ds", "msg_stime", unsafe.Offsetof(msg.Stime), unsafe.Sizeof(msg.Stime)),
		f("msqid64_ds", "msg_rtime", unsafe.Offsetof(msg.Rtime), unsafe.Sizeof(msg.Rtime)),
		f("msqid64_ds", "msg_ctime", unsafe.Offsetof(msg.Ctime), unsafe.Sizeof(msg.Ctime)),
		f("msqid64_ds", "msg_cbytes", unsafe.Offsetof(msg.Cbytes), unsafe.Sizeof(msg.Cbytes)),
		f("msqid64_ds", "msg_qnum", unsafe.Offsetof(msg.Qnum), unsafe.Sizeof(msg.Qnum)),
		f("msqid64_ds", "msg_qbytes", unsafe.Offsetof(msg.Qbytes), unsafe.Sizeof(msg.Qbytes)),
		f("msqid64_ds", "msg_lspid", unsafe.Offsetof(msg.Lspid), unsafe.Sizeof(msg.Lspid)),
		f("msqid64_ds", "msg_lrpid", unsafe.Offsetof(msg.Lrpid), unsafe.Sizeof(msg.Lrpid)),

		f("shmid64_ds", "shm_perm", unsafe.Offsetof(shm.Perm), unsafe.Sizeof(shm.Perm)),
		f("shmid64_ds", "shm_segsz", unsafe.Offsetof(shm.Segsz), unsafe.Sizeof(shm.Segsz)),
		f("shmid64_ds", "shm_atime", unsafe.Offsetof(shm.Atime), unsafe.Sizeof(shm.Atime)),
		f("shmid64_ds", "shm_dtime", unsafe.Offsetof(shm.Dtime), unsafe.Sizeof(shm.Dtime)),
		f("shmid64_ds", "shm_ctime", unsafe.Offsetof(shm.Ctime), unsafe.Sizeof(shm.Ctime)),
		f("shmid64_ds", "shm_cpid", unsafe.Offsetof(shm.Cpid), unsafe.Sizeof(shm.Cpid)),
		f("shmid64_ds", "shm_lpid", unsafe.Offsetof(shm.Lpid), unsafe.Sizeof(shm.Lpid)),
		f("shmid64_ds", "shm_nattch", unsafe.Offsetof(shm.Nattch), unsafe.Sizeof(shm.Nattch)),

		f("seminfo", "semmap", unsafe.Offsetof(semi.Semmap), unsafe.Sizeof(semi.Semmap)),
		f("seminfo", "semmni", unsafe.Offsetof(semi.Semmni), unsafe.Sizeof(semi.Semmni)),
		f("seminfo", "semmns", unsafe.Offsetof(semi.Semmns), unsafe.Sizeof(semi.Semmns)),
		f("seminfo", "semmnu", unsafe.Offsetof(semi.Semmnu), unsafe.Sizeof(semi.Semmnu)),
		f("seminfo", "semmsl", unsafe.Offsetof(semi.Semmsl), unsafe.Sizeof(semi.Semmsl)),
		f("seminfo", "semopm", unsafe.Offsetof(semi.Semopm), unsafe.Sizeof(semi.Semopm)),
		f("seminfo", "semume", unsafe.Offsetof(semi.Semume), unsafe.Sizeof(semi.Semume)),
		f("seminfo", "semusz", unsafe.Offsetof(semi.Semusz), unsafe.Sizeof(semi.Semusz)),
		f("seminfo", "semvmx", unsafe.Offsetof(semi.Semvmx), unsafe.Sizeof(semi.Semvmx)),
		f("seminfo", "semaem", unsafe.Offsetof(semi.Semaem), unsafe.Sizeof(semi.Semaem)),

		f("msginfo", "msgpool", unsafe.Offsetof(msgi.Msgpool), unsafe.Sizeof(msgi.Msgpool)),
		f("msginfo", "msgmap", unsafe.Offsetof(msgi.Msgmap), unsafe.Sizeof(msgi.Msgmap)),
		f("msginfo", "msgmax", unsafe.Offsetof(msgi.Msgmax), unsafe.Sizeof(msgi.Msgmax)),
		f("msginfo", "msgmnb", unsafe.Offsetof(msgi.Msgmnb), unsafe.Sizeof(msgi.Msgmnb)),
		f("msginfo", "msgmni", unsafe.Offsetof(msgi.Msgmni), unsafe.Sizeof(msgi.Msgmni)),
		f("msginfo", "msgssz", unsafe.Offsetof(msgi.Msgssz), unsafe.Sizeof(msgi.Msgssz)),
		f("msginfo", "msgtql", unsafe.Offsetof(msgi.Msgtql), unsafe.Sizeof(msgi.Msgtql)),
		f("msginfo", "msgseg", unsafe.Offsetof(msgi.Msgseg), unsafe.Sizeof(msgi.Msgseg)),

		f("shm_info", "used_ids", unsafe.Offsetof(shmi.UsedIDs), unsafe.Sizeof(shmi.UsedIDs)),
		f("shm_info", "shm_tot", unsafe.Offsetof(shmi.ShmTot), unsafe.Sizeof(shmi.ShmTot)),
		f("shm_info", "shm_rss", unsafe.Offsetof(shmi.ShmRss), unsafe.Sizeof(shmi.ShmRss)),
		f("shm_info", "shm_swp", unsafe.Offsetof(shmi.ShmSwp), unsafe.Sizeof(shmi.ShmSwp)),
		f("shm_info", "swap_attempts", unsafe.Offsetof(shmi.SwapAttempts), unsafe.Sizeof(shmi.SwapAttempts)),
		f("shm_info", "swap_successes", unsafe.Offsetof(shmi.SwapSuccesses), unsafe.Sizeof(shmi.SwapSuccesses)),

		f("shminfo64", "shmmax", unsafe.Offsetof(shml.Shmmax), unsafe.Sizeof(shml.Shmmax)),
		f("shminfo64", "shmmin", unsafe.Offsetof(shml.Shmmin), unsafe.Sizeof(shml.Shmmin)),
		f("shminfo64", "shmmni", unsafe.Offsetof(shml.Shmmni), unsafe.Sizeof(shml.Shmmni)),
		f("shminfo64", "shmseg", unsafe.Offsetof(shml.Shmseg), unsafe.Sizeof(shml.Shmseg)),
		f("shminfo64", "shmall", unsafe.Offsetof(shml.Shmall), unsafe.Sizeof(shml.Shmall)),

		f("sembuf", "sem_num", unsafe.Offsetof(sop.Num), unsafe.Sizeof(sop.Num)),
		f("sembuf", "sem_op", unsafe.Offsetof(sop.Op), unsafe.Sizeof(sop.Op)),
		f("sembuf", "sem_flg", unsafe.Offsetof(sop.Flg), unsafe.Sizeof(sop.Flg)),
	}
	return structs, fields
}

// TestLayout compiles a C program against the kernel's UAPI headers (the
// 64-bit structs the direct system calls use on this architecture) and
// checks every size and offset against the Go mirrors. A wrong layout lets
// the kernel write past a Go value, so this is the one place gcc is worth
// depending on; it is skipped only where gcc is missing.
func TestLayout(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found: layouts not checked")
	}
	structs, fields := layoutTables()

	var src bytes.Buffer
	src.WriteString(`#include <stdio.h>
#include <stddef.h>
#include <linux/ipc.h>
#include <linux/sem.h>
#include <linux/msg.h>
#include <linux/shm.h>
int main(void) {
`)
	for _, s := range structs {
		fmt.Fprintf(&src, "\tprintf(\"%s %%zu\\n\", sizeof(struct %s));\n", s.cstruct, s.cstruct)
	}
	for _, f := range fields {
		fmt.Fprintf(&src, "\tprintf(\"%s.%s %%zu %%zu\\n\", offsetof(struct %s, %s), sizeof(((struct %s *)0)->%s));\n",
			f.cstruct, f.cfield, f.cstruct, f.cfield, f.cstruct, f.cfield)
	}
	src.WriteString("\treturn 0;\n}\n")

	dir := t.TempDir()
	cfile, bin := filepath.Join(dir, "layout.c"), filepath.Join(dir, "layout")
	if err := os.WriteFile(cfile, src.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gcc, "-Wall", "-o", bin, cfile).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s\n%s", err, out, src.Bytes())
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatalf("layout program: %v", err)
	}

	got := map[string][]uintptr{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		w := strings.Fields(sc.Text())
		for _, s := range w[1:] {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				t.Fatalf("layout program printed %q", sc.Text())
			}
			got[w[0]] = append(got[w[0]], uintptr(v))
		}
	}
	if len(got) != len(structs)+len(fields) {
		t.Errorf("layout program printed %d names, want %d", len(got), len(structs)+len(fields))
	}
	for _, s := range structs {
		if c := got[s.cstruct]; len(c) != 1 || c[0] != s.size {
			t.Errorf("sizeof(struct %s) = %v in C, %d in Go", s.cstruct, c, s.size)
		}
	}
	for _, f := range fields {
		name := f.cstruct + "." + f.cfield
		c := got[name]
		if len(c) != 2 || c[0] != f.off || c[1] != f.size {
			t.Errorf("%s: C offset/size %v, Go %d/%d", name, c, f.off, f.size)
		}
	}
	if LongSize := unsafe.Sizeof(int(0)); sys.LongSize != LongSize {
		t.Errorf("sys.LongSize = %d, C long is %d here", sys.LongSize, LongSize)
	}
}
