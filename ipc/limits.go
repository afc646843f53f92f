package ipc

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/ipctoolkit/ipc/internal/ipcobj"
	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// Limits are the kernel's System V IPC limits for the caller's IPC
// namespace: what ipcs -l and lsipc --global print. The field names are the
// sysctl and lsipc names.
type Limits struct {
	MSGMNI uint64 // queues, system wide
	MSGMAX uint64 // bytes in one message
	MSGMNB uint64 // bytes in a new queue (its initial msg_qbytes)

	SHMMNI uint64 // segments, system wide
	SHMMAX uint64 // bytes in one segment
	SHMALL uint64 // pages of all segments together
	SHMMIN uint64 // bytes in one segment, at least: always 1

	SEMMNI int // semaphore sets, system wide
	SEMMSL int // semaphores in one set
	SEMMNS int // semaphores, system wide
	SEMOPM int // operations in one semop call
	SEMVMX int // largest semaphore value: always 32767

	// PageSize is the unit of SHMALL and of the shared memory usage.
	PageSize int
}

// Constants of the kernel that no sysctl shows.
const (
	shmmin = 1
	semvmx = 32767
)

const procSysKernel = "/proc/sys/kernel"

// ReadLimits reads the limits from /proc/sys/kernel/{msgmni,msgmax,msgmnb,
// shmmni,shmmax,shmall,sem}, falling back to msgctl, shmctl and semctl
// IPC_INFO for a family whose files are missing, as ipcs does.
func ReadLimits() (Limits, error) { return readLimits(procSysKernel) }

func readLimits(dir string) (Limits, error) {
	l := Limits{SHMMIN: shmmin, SEMVMX: semvmx, PageSize: os.Getpagesize()}

	// Queues.
	if vals, ok, err := readSysctls(dir, "msgmni", "msgmax", "msgmnb"); err != nil {
		return l, limitsError(Queue, "", err)
	} else if ok {
		l.MSGMNI, l.MSGMAX, l.MSGMNB = vals[0], vals[1], vals[2]
	} else {
		var mi sys.Msginfo
		if _, e := sys.MsgctlInfo(sys.IPC_INFO, &mi); e != 0 {
			return l, limitsError(Queue, "msgctl(IPC_INFO)", e)
		}
		l.MSGMNI, l.MSGMAX, l.MSGMNB = uint64(mi.Msgmni), uint64(mi.Msgmax), uint64(mi.Msgmnb)
	}

	// Segments.
	if vals, ok, err := readSysctls(dir, "shmmni", "shmmax", "shmall"); err != nil {
		return l, limitsError(Segment, "", err)
	} else if ok {
		l.SHMMNI, l.SHMMAX, l.SHMALL = vals[0], vals[1], vals[2]
	} else {
		var si sys.Shminfo
		if _, e := sys.ShmctlLimits(&si); e != 0 {
			return l, limitsError(Segment, "shmctl(IPC_INFO)", e)
		}
		l.SHMMNI, l.SHMMAX, l.SHMALL = si.Shmmni, si.Shmmax, si.Shmall
	}

	// Semaphores: one file, "semmsl semmns semopm semmni".
	if v, ok, err := readSemSysctl(dir + "/sem"); err != nil {
		return l, limitsError(Semaphore, "", err)
	} else if ok {
		l.SEMMSL, l.SEMMNS, l.SEMOPM, l.SEMMNI = v[0], v[1], v[2], v[3]
	} else {
		var si sys.Seminfo
		if _, e := sys.SemctlInfo(sys.IPC_INFO, &si); e != 0 {
			return l, limitsError(Semaphore, "semctl(IPC_INFO)", e)
		}
		l.SEMMSL, l.SEMMNS, l.SEMOPM, l.SEMMNI = int(si.Semmsl), int(si.Semmns), int(si.Semopm), int(si.Semmni)
	}
	return l, nil
}

// readSysctls reads numeric files of dir. ok is false, with no error, when
// one of them is missing: the caller then asks the kernel with IPC_INFO.
func readSysctls(dir string, names ...string) (vals []uint64, ok bool, err error) {
	for _, name := range names {
		v, err := ipcobj.ReadUint(dir + "/" + name)
		if errors.Is(err, os.ErrNotExist) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		vals = append(vals, v)
	}
	return vals, true, nil
}

// readSemSysctl reads /proc/sys/kernel/sem: "semmsl semmns semopm semmni".
func readSemSysctl(path string) (v [4]int, ok bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return v, false, nil
	}
	if err != nil {
		return v, false, err
	}
	f := strings.Fields(string(data))
	if len(f) != len(v) {
		return v, false, fmt.Errorf("%s: %q: want 4 numbers", path, strings.TrimSpace(string(data)))
	}
	for i := range v {
		if v[i], err = strconv.Atoi(f[i]); err != nil {
			return v, false, fmt.Errorf("%s: %v", path, err)
		}
	}
	return v, true, nil
}

func limitsError(kind Kind, call string, err error) error {
	return &Error{Pkg: "ipc", Op: "read limits of", Kind: kind, ID: AllObjects, Call: call, Err: err}
}

// SHMTotalBytes is SHMALL in bytes, as ipcs -l -b prints it: on overflow the
// largest multiple of the page size, not a wrapped-around small number.
func (l Limits) SHMTotalBytes() uint64 { return mulClamp(l.SHMALL, uint64(l.PageSize)) }

// SHMTotalKB is SHMALL in KiB, as plain ipcs -l prints it ("max total shared
// memory (kbytes)"), clamped on overflow as SHMTotalBytes is.
func (l Limits) SHMTotalKB() uint64 { return mulClamp(l.SHMALL, uint64(l.PageSize)/1024) }

func mulClamp(a, b uint64) uint64 {
	if b == 0 {
		return 0
	}
	if a != 0 && a > math.MaxUint64/b {
		return math.MaxUint64 - math.MaxUint64%b
	}
	return a * b
}

// Usage is how much of the limits is in use: what ipcs -u prints, from
// semctl SEM_INFO, msgctl MSG_INFO and shmctl SHM_INFO.
type Usage struct {
	SemaphoreSets int // "used arrays" (semusz)
	Semaphores    int // "allocated semaphores" (semaem)

	Queues       int    // "allocated queues" (msgpool)
	Messages     int    // "used headers" (msgmap)
	MessageBytes uint64 // "used space" (msgtql)

	Segments      int    // "segments allocated" (used_ids)
	SegmentPages  uint64 // "pages allocated" (shm_tot): each segment rounded up to whole pages
	ResidentPages uint64 // "pages resident" (shm_rss)
	SwappedPages  uint64 // "pages swapped" (shm_swp)
	SwapAttempts  uint64 // always 0 since Linux 2.4, still printed by ipcs
	SwapSuccesses uint64 // likewise
}

// ReadUsage asks the kernel how much of each family is in use.
func ReadUsage() (Usage, error) {
	var u Usage

	var si sys.Seminfo
	if _, e := sys.SemctlInfo(sys.SEM_INFO, &si); e != 0 {
		return u, usageError(Semaphore, "semctl(SEM_INFO)", e)
	}
	u.SemaphoreSets, u.Semaphores = int(si.Semusz), int(si.Semaem)

	var mi sys.Msginfo
	if _, e := sys.MsgctlInfo(sys.MSG_INFO, &mi); e != 0 {
		return u, usageError(Queue, "msgctl(MSG_INFO)", e)
	}
	// The kernel stores the byte count in an int; read it back unsigned so a
	// sum past 2 GiB does not turn negative.
	u.Queues, u.Messages, u.MessageBytes = int(mi.Msgpool), int(mi.Msgmap), uint64(uint32(mi.Msgtql))

	var shi sys.ShmInfo
	if _, e := sys.ShmctlInfo(&shi); e != 0 {
		return u, usageError(Segment, "shmctl(SHM_INFO)", e)
	}
	u.Segments = int(shi.UsedIDs)
	u.SegmentPages, u.ResidentPages, u.SwappedPages = shi.ShmTot, shi.ShmRss, shi.ShmSwp
	u.SwapAttempts, u.SwapSuccesses = shi.SwapAttempts, shi.SwapSuccesses
	return u, nil
}

func usageError(kind Kind, call string, e unix.Errno) error {
	return &Error{Pkg: "ipc", Op: "read usage of", Kind: kind, ID: AllObjects, Call: call, Err: e}
}
