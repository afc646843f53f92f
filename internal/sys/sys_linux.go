//go:build linux && (amd64 || arm64 || riscv64 || loong64)

package sys

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// MsqidDS is struct msqid64_ds in the asm-generic 64-bit layout, which x86-64
// uses too.
type MsqidDS struct {
	Perm   unix.SysvIpcPerm
	Stime  int64
	Rtime  int64
	Ctime  int64
	Cbytes uint64
	Qnum   uint64
	Qbytes uint64
	Lspid  int32
	Lrpid  int32
	_      uint64
	_      uint64
}

// Sembuf is struct sembuf: one operation of a semop call.
type Sembuf struct {
	Num uint16
	Op  int16
	Flg int16
}

// Semctl commands that x/sys/unix does not name.
const (
	GETPID  = 11
	GETVAL  = 12
	GETALL  = 13
	GETNCNT = 14
	GETZCNT = 15
	SETVAL  = 16
	SETALL  = 17

	SEM_STAT     = 18
	SEM_INFO     = 19
	SEM_STAT_ANY = 20

	MSG_STAT     = 11
	MSG_INFO     = 12
	MSG_STAT_ANY = 13

	// Flags of semop and msgrcv.
	SEM_UNDO    = 0x1000
	MSG_NOERROR = 0o10000
	MSG_EXCEPT  = 0o20000
	MSG_COPY    = 0o40000
)

// Semget calls semget(2).
func Semget(key int32, nsems int, flag int) (int, unix.Errno) {
	id, _, e := unix.Syscall(unix.SYS_SEMGET, uintptr(key), uintptr(nsems), uintptr(flag))
	return int(id), e
}

// Semop calls semop(2) with the operations in sops, which must not be empty.
func Semop(id int, sops []Sembuf) unix.Errno {
	_, _, e := unix.Syscall(unix.SYS_SEMOP, uintptr(id), uintptr(unsafe.Pointer(&sops[0])), uintptr(len(sops)))
	return e
}

// Semtimedop calls semtimedop(2); a nil timeout blocks without limit.
func Semtimedop(id int, sops []Sembuf, timeout *unix.Timespec) unix.Errno {
	_, _, e := unix.Syscall6(unix.SYS_SEMTIMEDOP, uintptr(id), uintptr(unsafe.Pointer(&sops[0])), uintptr(len(sops)),
		uintptr(unsafe.Pointer(timeout)), 0, 0)
	return e
}

// SemctlInt calls semctl(2) with an int (or no) fourth argument: GETVAL,
// SETVAL, GETPID, GETNCNT, GETZCNT, IPC_RMID. On these little-endian 64-bit
// targets the int member of union semun is the low word of the register.
func SemctlInt(id, num, cmd, val int) (int, unix.Errno) {
	r, _, e := unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), uintptr(num), uintptr(cmd), uintptr(val), 0, 0)
	return int(r), e
}

// SemctlArray calls semctl(2) with GETALL or SETALL; vals has one entry per
// semaphore of the set.
func SemctlArray(id, cmd int, vals []uint16) unix.Errno {
	var p *uint16
	if len(vals) > 0 {
		p = &vals[0]
	}
	_, _, e := unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), 0, uintptr(cmd), uintptr(unsafe.Pointer(p)), 0, 0)
	return e
}

// SemctlDS calls semctl(2) with IPC_STAT, IPC_SET, SEM_STAT or SEM_STAT_ANY.
// For the *_STAT commands by index the result is the id of the set.
func SemctlDS(id, cmd int, ds *SemidDS) (int, unix.Errno) {
	r, _, e := unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), 0, uintptr(cmd), uintptr(unsafe.Pointer(ds)), 0, 0)
	return int(r), e
}

// SemctlInfo calls semctl(2) with IPC_INFO or SEM_INFO; the result is the
// highest index in use.
func SemctlInfo(cmd int, info *Seminfo) (int, unix.Errno) {
	r, _, e := unix.Syscall6(unix.SYS_SEMCTL, 0, 0, uintptr(cmd), uintptr(unsafe.Pointer(info)), 0, 0)
	return int(r), e
}

// Msgget calls msgget(2).
func Msgget(key int32, flag int) (int, unix.Errno) {
	id, _, e := unix.Syscall(unix.SYS_MSGGET, uintptr(key), uintptr(flag), 0)
	return int(id), e
}

// Msgsnd calls msgsnd(2). buf holds the message as the kernel wants it: the
// type as a native long, then the text; size is the length of the text only.
func Msgsnd(id int, buf []byte, size int, flag int) unix.Errno {
	_, _, e := unix.Syscall6(unix.SYS_MSGSND, uintptr(id), uintptr(unsafe.Pointer(&buf[0])), uintptr(size), uintptr(flag), 0, 0)
	return e
}

// Msgrcv calls msgrcv(2) into buf (type, then room for size bytes of text)
// and returns the length of the text received.
func Msgrcv(id int, buf []byte, size int, typ int64, flag int) (int, unix.Errno) {
	n, _, e := unix.Syscall6(unix.SYS_MSGRCV, uintptr(id), uintptr(unsafe.Pointer(&buf[0])), uintptr(size), uintptr(typ), uintptr(flag), 0)
	return int(n), e
}

// MsgctlDS calls msgctl(2) with IPC_STAT, IPC_SET, IPC_RMID (ds may be nil),
// MSG_STAT or MSG_STAT_ANY.
func MsgctlDS(id, cmd int, ds *MsqidDS) (int, unix.Errno) {
	r, _, e := unix.Syscall(unix.SYS_MSGCTL, uintptr(id), uintptr(cmd), uintptr(unsafe.Pointer(ds)))
	return int(r), e
}

// MsgctlInfo calls msgctl(2) with IPC_INFO or MSG_INFO; the result is the
// highest index in use.
func MsgctlInfo(cmd int, info *Msginfo) (int, unix.Errno) {
	r, _, e := unix.Syscall(unix.SYS_MSGCTL, 0, uintptr(cmd), uintptr(unsafe.Pointer(info)))
	return int(r), e
}

// Seminfo is struct seminfo, filled by IPC_INFO and SEM_INFO.
type Seminfo struct {
	Semmap int32
	Semmni int32
	Semmns int32
	Semmnu int32
	Semmsl int32
	Semopm int32
	Semume int32
	Semusz int32
	Semvmx int32
	Semaem int32
}

// Msginfo is struct msginfo, filled by IPC_INFO and MSG_INFO.
type Msginfo struct {
	Msgpool int32
	Msgmap  int32
	Msgmax  int32
	Msgmnb  int32
	Msgmni  int32
	Msgssz  int32
	Msgtql  int32
	Msgseg  uint16
	_       uint16
}

// LongSize is the size of a C long, the width of a message's type field.
const LongSize = 8
