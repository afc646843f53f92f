//go:build linux && (arm64 || riscv64 || loong64)

package sys

import "golang.org/x/sys/unix"

// SemidDS is struct semid64_ds in the asm-generic 64-bit layout. (MsqidDS
// has that layout everywhere: sys_linux.go.)
type SemidDS struct {
	Perm  unix.SysvIpcPerm
	Otime int64
	Ctime int64
	Nsems uint64
	_     uint64
	_     uint64
}
