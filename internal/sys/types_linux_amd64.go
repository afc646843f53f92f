//go:build linux && amd64

package sys

import "golang.org/x/sys/unix"

// SemidDS is struct semid64_ds as x86-64 lays it out: with the padding words
// after each time that the generic 64-bit layout does not have. (MsqidDS
// has the generic layout here too: sys_linux.go.)
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
