package pipe

import (
	"errors"
	"net"
	"os"
	"strconv"

	"github.com/ipctoolkit/ipc/internal/ipcobj"
	"golang.org/x/sys/unix"
)

// Flags change how Pipe and Socketpair make their descriptors; combine
// them with |. 0 is the default: blocking, and close-on-exec. Close-on-exec
// is not a choice: a descriptor meant for a child goes through
// exec.Cmd.ExtraFiles, which passes it without the flag, and no other
// program the process runs ever inherits one by accident.
type Flags int

const (
	// NonBlocking makes the descriptors non-blocking (O_NONBLOCK), so that
	// the *os.File uses the runtime's poller: reads and writes park the
	// goroutine instead of a thread, and deadlines work. The flag is shared
	// with any process the descriptor is passed to.
	NonBlocking Flags = unix.O_NONBLOCK
	// Packet puts a pipe in packet mode (O_DIRECT, Linux 3.4): each write
	// of up to PIPE_BUF (4096) bytes is one packet, and each read returns
	// at most one packet, dropping what does not fit the buffer. Pipes
	// only; a socketpair has SeqPacket instead.
	Packet Flags = unix.O_DIRECT
)

// Pipe makes a pipe (pipe2): what is written to w is read from r, in order.
// With flags 0 both ends are blocking. Errors are *os.SyscallError values.
func Pipe(flags Flags) (r, w *os.File, err error) {
	var fds [2]int
	if flags&^(NonBlocking|Packet) != 0 {
		return nil, nil, os.NewSyscallError("pipe2", withDetail(unix.EINVAL, "flags other than NonBlocking and Packet"))
	}
	if e := unix.Pipe2(fds[:], int(flags)|unix.O_CLOEXEC); e != nil {
		detail := ""
		if flags&Packet != 0 && e == unix.EINVAL {
			detail = "packet mode needs Linux 3.4"
		}
		return nil, nil, os.NewSyscallError("pipe2", withDetail(errno(e), detail))
	}
	return os.NewFile(uintptr(fds[0]), "|0"), os.NewFile(uintptr(fds[1]), "|1"), nil
}

// Capacity returns the capacity of the pipe f is an end of, in bytes
// (F_GETPIPE_SZ): how much a writer may get ahead of the reader before it
// blocks. It is 64 KiB unless changed. Errors are *os.PathError values,
// whose Op is the call, "fcntl".
func Capacity(f *os.File) (int, error) {
	var (
		n int
		e error
	)
	if err := control(f, func(d int) {
		n, e = unix.FcntlInt(uintptr(d), unix.F_GETPIPE_SZ, 0)
	}); err != nil {
		return 0, fileErr("fcntl", f, err, "")
	}
	if e != nil {
		return 0, fileErr("fcntl", f, e, notPipe(e))
	}
	return n, nil
}

// SetCapacity sets the capacity of the pipe f is an end of (F_SETPIPE_SZ)
// and returns the capacity the kernel chose: n rounded up to a power of two
// pages. A larger pipe lets a streaming writer run further ahead, with fewer
// wake-ups. Above /proc/sys/fs/pipe-max-size (1 MiB by default), or beyond
// the user's pipe-user-pages limits, the call needs CAP_SYS_RESOURCE and
// otherwise fails with EPERM; the error says which limit. Shrinking below the
// data already in the pipe fails with EBUSY.
func SetCapacity(f *os.File, n int) (int, error) {
	if n < 0 || n > 1<<31 {
		return 0, fileErr("fcntl", f, unix.EINVAL, "a capacity is between 0 and 2 GiB")
	}
	var (
		got int
		e   error
	)
	if err := control(f, func(d int) {
		got, e = unix.FcntlInt(uintptr(d), unix.F_SETPIPE_SZ, n)
	}); err != nil {
		return 0, fileErr("fcntl", f, err, "")
	}
	if e != nil {
		detail := notPipe(e)
		switch e {
		case unix.EPERM:
			max, _ := ipcobj.ReadUint("/proc/sys/fs/pipe-max-size")
			if uint64(n) > max {
				detail = strconv.Itoa(n) + " bytes exceed fs.pipe-max-size " + strconv.FormatUint(max, 10) + "; more needs CAP_SYS_RESOURCE"
			} else {
				detail = "the user's pipes exceed fs.pipe-user-pages-hard; more needs CAP_SYS_RESOURCE"
			}
		case unix.EBUSY:
			detail = "the pipe holds more than " + strconv.Itoa(n) + " bytes"
		}
		return 0, fileErr("fcntl", f, e, detail)
	}
	return got, nil
}

func notPipe(e error) string {
	if e == unix.EBADF {
		return "not a pipe"
	}
	return ""
}

// Type is the type of a socketpair's sockets.
type Type int

const (
	// Stream is a byte stream, like a pipe in both directions
	// (SOCK_STREAM).
	Stream Type = unix.SOCK_STREAM
	// Datagram keeps message boundaries and may be sent to without a
	// connection; within a socketpair it is reliable and ordered
	// (SOCK_DGRAM).
	Datagram Type = unix.SOCK_DGRAM
	// SeqPacket keeps message boundaries on a connection, and a read of 0
	// bytes means the peer closed (SOCK_SEQPACKET).
	SeqPacket Type = unix.SOCK_SEQPACKET
)

// String names the type as the socket(2) constant does.
func (t Type) String() string {
	switch t {
	case Stream:
		return "SOCK_STREAM"
	case Datagram:
		return "SOCK_DGRAM"
	case SeqPacket:
		return "SOCK_SEQPACKET"
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

func socketpair(typ Type, flags Flags) ([2]int, error) {
	var fds [2]int
	fail := func(e error, detail string) ([2]int, error) {
		return fds, os.NewSyscallError("socketpair", withDetail(errno(e), detail))
	}
	switch {
	case typ != Stream && typ != Datagram && typ != SeqPacket:
		return fail(unix.EINVAL, "type "+typ.String()+" is not Stream, Datagram or SeqPacket")
	case flags&Packet != 0:
		return fail(unix.EINVAL, "packet mode is for pipes; use SeqPacket")
	case flags&^NonBlocking != 0:
		return fail(unix.EINVAL, "flags other than NonBlocking")
	}
	// SOCK_CLOEXEC and SOCK_NONBLOCK are O_CLOEXEC and O_NONBLOCK.
	fds, e := unix.Socketpair(unix.AF_UNIX, int(typ)|int(flags)|unix.O_CLOEXEC, 0)
	if e != nil {
		return fail(e, "")
	}
	return fds, nil
}

// Socketpair makes a pair of connected Unix sockets (socketpair AF_UNIX):
// what is written to a is read from b and the other way round. With flags 0
// both are blocking. Packet is refused (SeqPacket is the socket
// equivalent). Errors are *os.SyscallError values.
func Socketpair(typ Type, flags Flags) (a, b *os.File, err error) {
	fds, err := socketpair(typ, flags)
	if err != nil {
		return nil, nil, err
	}
	return os.NewFile(uintptr(fds[0]), "socketpair:0"), os.NewFile(uintptr(fds[1]), "socketpair:1"), nil
}

// SocketpairConn is Socketpair for use inside this process, or for a
// descriptor passed with SendFiles: both ends are *net.UnixConn on the
// runtime's poller, with deadlines, ReadMsgUnix and the rest. They are
// always non-blocking and close-on-exec. To give one end to a child, use
// Socketpair and pass that end through exec.Cmd.ExtraFiles: a descriptor
// from conn.File() shares the socket's O_NONBLOCK flag, which a child that
// reads it plainly would see as EAGAIN.
func SocketpairConn(typ Type) (*net.UnixConn, *net.UnixConn, error) {
	fds, err := socketpair(typ, NonBlocking)
	if err != nil {
		return nil, nil, err
	}
	a, err := fileConn(fds[0])
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	b, err := fileConn(fds[1])
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

// fileConn turns a socket into a *net.UnixConn and closes fd, which
// net.FileConn duplicates.
func fileConn(fd int) (*net.UnixConn, error) {
	f := os.NewFile(uintptr(fd), "socketpair")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, os.NewSyscallError("socketpair", withDetail(unix.EINVAL, "not a Unix socket"))
	}
	return uc, nil
}

// control runs fn with f's descriptor without touching its blocking mode
// (f.Fd would make a non-blocking file blocking).
func control(f *os.File, fn func(fd int)) error {
	if f == nil {
		return unix.EBADF
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	if err := rc.Control(func(fd uintptr) { fn(int(fd)) }); err != nil {
		// The one way Control fails: the file is closed (or closing).
		return os.ErrClosed
	}
	return nil
}

// fileErr is the error of a call on f's descriptor, as package os reports
// one: "fcntl |0: bad file descriptor (not a pipe)".
func fileErr(call string, f *os.File, err error, detail string) error {
	name := "<nil>"
	if f != nil {
		name = f.Name()
	}
	return &os.PathError{Op: call, Path: name, Err: withDetail(errno(err), detail)}
}

// detailed is an error with what it alone does not say. It unwraps to the
// error, so errors.Is still finds the errno (and fs.ErrPermission and the
// like through it).
type detailed struct {
	err    error
	detail string
}

func (d *detailed) Error() string { return d.err.Error() + " (" + d.detail + ")" }
func (d *detailed) Unwrap() error { return d.err }

func withDetail(err error, detail string) error {
	if detail == "" {
		return err
	}
	return &detailed{err, detail}
}

// errno extracts the errno from what x/sys/unix and os return, keeping any
// other error as it is.
func errno(err error) error {
	if e, ok := err.(unix.Errno); ok {
		return e
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return err
}
