package bench

import (
	"strconv"
	"time"
	"unsafe"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/sem"
	"golang.org/x/sys/unix"
)

// The bare loops: a split semaphore ping-pong (as semPingPong "split")
// written with nothing but unix.RawSyscall or unix.Syscall on a struct
// sembuf, on both sides, so that what package sem adds to a round trip is
// the difference between the two rows.

// sembuf is struct sembuf, spelled out so the loops use nothing of the
// module.
type sembuf struct {
	num uint16
	op  int16
	flg int16
}

// BareSemop is one semop of one operation (delta on semaphore num, no
// flags) on set id, with nothing of the module on the way: through
// unix.RawSyscall (raw) or unix.Syscall, retrying EINTR. ipc bench's bare
// rows use it, and so do package sem's benchmarks.
func BareSemop(id int, num uint16, delta int16, raw bool) error {
	op := sembuf{num: num, op: delta}
	for {
		var e unix.Errno
		if raw {
			_, _, e = unix.RawSyscall(unix.SYS_SEMOP, uintptr(id), uintptr(unsafe.Pointer(&op)), 1)
		} else {
			_, _, e = unix.Syscall(unix.SYS_SEMOP, uintptr(id), uintptr(unsafe.Pointer(&op)), 1)
		}
		if e != unix.EINTR {
			return errnoErr(e)
		}
	}
}

// errnoErr is e as an error, nil for 0.
func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func barePingPong(raw bool) func(Config, int) (time.Duration, error) {
	part := "sem-bare-plain"
	if raw {
		part = "sem-bare-raw"
	}
	return func(cfg Config, _ int) (time.Duration, error) {
		// The set is made and removed by the package: only the loop is
		// bare.
		set, err := sem.Create(ipc.Private, 2, 0o600)
		if err != nil {
			return 0, err
		}
		defer owned(set.Remove)()
		child, err := partner(cfg, part, nil, strconv.Itoa(set.ID()))
		if err != nil {
			return 0, err
		}
		id := set.ID()
		d, err := timed(warmup(cfg.Rounds), cfg.Rounds, func() error {
			if err := BareSemop(id, childSem, 1, raw); err != nil {
				return err
			}
			return BareSemop(id, parentSem, -1, raw)
		})
		return d, child.finish(err)
	}
}

// barePartner is the child's side of barePingPong.
func barePartner(id, total int, raw bool) error {
	for range total {
		if err := BareSemop(id, childSem, -1, raw); err != nil {
			return err
		}
		if err := BareSemop(id, parentSem, 1, raw); err != nil {
			return err
		}
	}
	return nil
}

// The bare queue loops: msgq's ping-pong and stream with nothing but
// unix.RawSyscall6 on a buffer already in the kernel's layout (the type,
// then the text), on both sides, as the C program does; what package msgq
// adds (packing the type and text into its buffer and out) is the
// difference between the rows.

// bareMsg is one msgsnd (typ > 0 sets the buffer's type first) or, with
// rcv, one msgrcv of type typ, raw, retrying EINTR.
func bareMsg(id int, buf []byte, size int, rcv bool, typ int64) error {
	for {
		var e unix.Errno
		if rcv {
			_, _, e = unix.RawSyscall6(unix.SYS_MSGRCV, uintptr(id), uintptr(unsafe.Pointer(&buf[0])), uintptr(size), uintptr(typ), 0, 0)
		} else {
			*(*int64)(unsafe.Pointer(&buf[0])) = typ
			_, _, e = unix.RawSyscall6(unix.SYS_MSGSND, uintptr(id), uintptr(unsafe.Pointer(&buf[0])), uintptr(size), 0, 0, 0)
		}
		if e != unix.EINTR {
			return errnoErr(e)
		}
	}
}

func bareMsgqPingPong(cfg Config, size int) (time.Duration, error) {
	q, child, release, err := startQueue(cfg, "msgq-bare-pong", size)
	if err != nil {
		return 0, err
	}
	defer release()
	id, buf := q.ID(), make([]byte, 8+size)
	d, err := timed(warmup(cfg.Rounds), cfg.Rounds, func() error {
		if err := bareMsg(id, buf, size, false, 1); err != nil {
			return err
		}
		return bareMsg(id, buf, size, true, 2)
	})
	return d, child.finish(err)
}

func bareMsgqStream(cfg Config, size int) (time.Duration, error) {
	q, child, release, err := startQueue(cfg, "msgq-bare-sink", size)
	if err != nil {
		return 0, err
	}
	defer release()
	id, buf := q.ID(), make([]byte, 8+size)
	if err := bareMsg(id, buf, size, true, 2); err != nil { // ready
		return 0, child.finish(err)
	}
	start := time.Now()
	for range cfg.Rounds {
		if err := bareMsg(id, buf, size, false, 1); err != nil {
			return 0, child.finish(err)
		}
	}
	err = bareMsg(id, buf, size, true, 2) // all taken
	return time.Since(start), child.finish(err)
}

// bareMsgqPartner is the child's side of the bare queue loops.
func bareMsgqPartner(part string, id, size, rounds, total int) error {
	buf := make([]byte, 8+size)
	if part == "msgq-bare-pong" {
		for range total {
			if err := bareMsg(id, buf, size, true, 1); err != nil {
				return err
			}
			if err := bareMsg(id, buf, size, false, 2); err != nil {
				return err
			}
		}
		return nil
	}
	if err := bareMsg(id, buf, 1, false, 2); err != nil {
		return err
	}
	for range rounds {
		if err := bareMsg(id, buf, size, true, 1); err != nil {
			return err
		}
	}
	return bareMsg(id, buf, 1, false, 2)
}
