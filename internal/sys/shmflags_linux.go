//go:build linux && (amd64 || arm64 || riscv64 || loong64)

package sys

// shmget and shmat flags that x/sys/unix does not name (include/uapi/linux/shm.h,
// include/linux/shm.h). They are the same on every Linux architecture.
const (
	// SHM_HUGETLB backs the segment with huge pages from the hugetlb pool.
	SHM_HUGETLB = 0o4000
	// SHM_NORESERVE does not reserve swap space for the segment.
	SHM_NORESERVE = 0o10000

	// SHM_REMAP lets shmat replace a mapping already at the address.
	SHM_REMAP = 0o40000
)
