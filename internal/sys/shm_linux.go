//go:build linux && (amd64 || arm64 || riscv64 || loong64)

package sys

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Commands and mode bits the shm side of x/sys/unix does not name. IPC_INFO
// is shared by the three families; the rest are shmctl's.
const (
	IPC_INFO = 3

	SHM_LOCK     = 11
	SHM_UNLOCK   = 12
	SHM_STAT     = 13
	SHM_INFO     = 14
	SHM_STAT_ANY = 15

	// Bits the kernel keeps in a segment's shm_perm.mode beside the
	// permissions: marked for removal (key cleared, freed on last detach)
	// and locked in memory (SHM_LOCK).
	SHM_DEST   = 0o1000
	SHM_LOCKED = 0o2000
)

// ShmInfo is struct shm_info, what shmctl(SHM_INFO) fills: the segments in
// use and their pages.
type ShmInfo struct {
	UsedIDs       int32
	_             int32
	ShmTot        uint64 // pages of all segments
	ShmRss        uint64 // pages resident
	ShmSwp        uint64 // pages swapped out
	SwapAttempts  uint64 // always 0 since Linux 2.4
	SwapSuccesses uint64 // always 0 since Linux 2.4
}

// Shminfo is struct shminfo64, what shmctl(IPC_INFO) fills: the limits.
type Shminfo struct {
	Shmmax uint64
	Shmmin uint64
	Shmmni uint64
	Shmseg uint64
	Shmall uint64
	_      [4]uint64
}

// ShmctlInfo calls shmctl(2) with SHM_INFO; the result is the highest index
// in use, -1 if none. x/sys's SysvShmCtl only takes a *SysvShmDesc.
func ShmctlInfo(info *ShmInfo) (int, unix.Errno) {
	r, _, e := unix.Syscall(unix.SYS_SHMCTL, 0, SHM_INFO, uintptr(unsafe.Pointer(info)))
	return int(r), e
}

// ShmctlLimits calls shmctl(2) with IPC_INFO.
func ShmctlLimits(info *Shminfo) (int, unix.Errno) {
	r, _, e := unix.Syscall(unix.SYS_SHMCTL, 0, IPC_INFO, uintptr(unsafe.Pointer(info)))
	return int(r), e
}
