//go:build linux && amd64

package sys

import "golang.org/x/sys/unix"

// SemidDS is struct semid64_ds as x86-64 lays it out: with the padding words
// after each time that the generic 64-bit layout does not have.
type SemidDS struct {
	Perm  unix.SysvIpcPerm
	Otime int64
	_     uint64
	Ctime int64
	_     uint64
	Nsems uint64
	_     uint64
	_     uint64
}

// MsqidDS is struct msqid64_ds (the generic 64-bit layout on x86-64 too).
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
