//go:build linux && (arm64 || riscv64 || loong64)

package sys

import "golang.org/x/sys/unix"

// SemidDS is struct semid64_ds in the asm-generic 64-bit layout.
type SemidDS struct {
	Perm  unix.SysvIpcPerm
	Otime int64
	Ctime int64
	Nsems uint64
	_     uint64
	_     uint64
}

// MsqidDS is struct msqid64_ds in the asm-generic 64-bit layout.
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
