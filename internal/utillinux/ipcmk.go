package utillinux

import (
	"crypto/rand"
	"encoding/binary"

	"github.com/ipctoolkit/ipc/internal/sys"
	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/msgq"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/ipctoolkit/ipc/shm"
	"golang.org/x/sys/unix"
)

// ipc mk is util-linux 2.38.1's ipcmk: a random key, IPC_CREAT without
// IPC_EXCL, the mode in octal (default 0644), the objects made in the order
// segment, queue, semaphore set whatever the order of the options, and one
// line per object: "Shared memory id: N", "Message queue id: N",
// "Semaphore id: N".

// ipcmkShorts is 2.38.1's optstring, its "h" twice included.
const ipcmkShorts = "hM:QS:p:Vh"

var ipcmkLongs = []longOpt{
	{"shmem", requiredArg, 'M'},
	{"semaphore", requiredArg, 'S'},
	{"queue", noArg, 'Q'},
	{"mode", requiredArg, 'p'},
	{"version", noArg, 'V'},
	{"help", noArg, 'h'},
}

func runIpcmk(t *utilTool, args []string) int {
	perm := 0o644
	var size uint64
	nsems := 0
	askShm, askMsg, askSem := false, false, false
	g := t.getopt(args, ipcmkShorts, ipcmkLongs)
	for {
		opt, arg, _, done := g.next()
		if done {
			break
		}
		switch opt {
		case 'M':
			v, err := parseSize(arg)
			if err != nil {
				t.warn(err, "failed to parse size: '%s'", arg)
				return t.finish(1)
			}
			size, askShm = v, true
		case 'Q':
			askMsg = true
		case 'S':
			v, err := strtos32(arg)
			if err != nil {
				return t.finish(t.parseFailure("failed to parse elements", arg, err))
			}
			nsems, askSem = int(v), true
		case 'p':
			v, rest, overflow := strtoul(arg, 8)
			switch {
			case overflow:
				t.warn(unix.ERANGE, "failed to parse mode")
				return t.finish(1)
			case rest == arg || rest != "":
				t.warn(unix.Errno(0), "failed to parse mode")
				return t.finish(1)
			}
			perm = int(int32(uint32(v))) // C stores it in an int
		case 'h':
			ipcmkUsage(t)
			return t.finish(0)
		case 'V':
			t.printf("%s from ipc (util-linux 2.38.1 compatible)\n", t.name)
			return t.finish(0)
		default:
			return t.finish(t.tryHelp())
		}
	}
	if !askShm && !askMsg && !askSem {
		t.warnx("bad usage")
		return t.finish(t.tryHelp())
	}
	if askShm {
		id, err := makeSegment(randomKey(), size, perm)
		if err != nil {
			t.warn(errnoOf(err), "create share memory failed")
			return t.finish(1)
		}
		t.printf("Shared memory id: %d\n", id)
	}
	if askMsg {
		id, err := makeQueue(randomKey(), perm)
		if err != nil {
			t.warn(errnoOf(err), "create message queue failed")
			return t.finish(1)
		}
		t.printf("Message queue id: %d\n", id)
	}
	if askSem {
		id, err := makeSemaphores(randomKey(), nsems, perm)
		if err != nil {
			t.warn(errnoOf(err), "create semaphore failed")
			return t.finish(1)
		}
		t.printf("Semaphore id: %d\n", id)
	}
	return t.finish(0)
}

// randomKey is ipcmk's key: 32 random bits (it may even be 0, the private
// key, as with ipcmk).
func randomKey() ipc.Key {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return ipc.Key(int32(binary.NativeEndian.Uint32(b[:])))
}

// plainMode reports whether perm is a mode the object packages accept:
// read and write bits only. ipcmk passes whatever -p says to the kernel
// beside IPC_CREAT (execute bits, which the kernel keeps in the mode and
// ignores, even flag bits with -p -1); the packages refuse such modes by
// design, so those go to the raw system calls to stay compatible.
func plainMode(perm int) bool { return perm >= 0 && ipc.Mode(perm).Valid() }

func makeSegment(key ipc.Key, size uint64, perm int) (int, error) {
	if plainMode(perm) && size <= uint64(^uint(0)>>1) {
		s, err := shm.Get(key, int(size), ipc.Create, ipc.Mode(perm))
		if err != nil {
			return 0, err
		}
		return s.ID(), nil
	}
	return unix.SysvShmGet(int(key), int(size), perm|unix.IPC_CREAT)
}

func makeQueue(key ipc.Key, perm int) (int, error) {
	if plainMode(perm) {
		q, err := msgq.Get(key, ipc.Create, ipc.Mode(perm))
		if err != nil {
			return 0, err
		}
		return q.ID(), nil
	}
	id, errno := sys.Msgget(int32(key), perm|unix.IPC_CREAT)
	if errno != 0 {
		return 0, errno
	}
	return id, nil
}

func makeSemaphores(key ipc.Key, nsems, perm int) (int, error) {
	if plainMode(perm) {
		s, err := sem.Get(key, nsems, ipc.Create, ipc.Mode(perm))
		if err != nil {
			return 0, err
		}
		return s.ID(), nil
	}
	id, errno := sys.Semget(int32(key), nsems, perm|unix.IPC_CREAT)
	if errno != 0 {
		return 0, errno
	}
	return id, nil
}

func ipcmkUsage(t *utilTool) {
	t.printf(`
Usage:
 %s [options]

Create various IPC resources.

Options:
 -M, --shmem <size>       create shared memory segment of size <size>
 -S, --semaphore <number> create semaphore array with <number> elements
 -Q, --queue              create message queue
 -p, --mode <mode>        permission for the resource (default is 0644)

 -h, --help               display this help
 -V, --version            display version

Arguments:
 <size> arguments may be followed by the suffixes for
   GiB, TiB, PiB, EiB, ZiB, and YiB (the "iB" is optional)

For more details see ipcmk(1).
`, t.usage)
}
