package pipe

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/ipctoolkit/ipc/ipc"
	"golang.org/x/sys/unix"
)

// Option sets one property of the descriptors Pipe and Socketpair make. The
// last option given for a property wins.
type Option struct {
	flag int
	on   bool
}

// CloseOnExec sets whether the descriptors are closed when the process
// executes a program (O_CLOEXEC). On by default: a descriptor meant for a
// child goes through exec.Cmd.ExtraFiles, which passes it without the flag.
func CloseOnExec(on bool) Option { return Option{unix.O_CLOEXEC, on} }

// NonBlocking makes the descriptors non-blocking (O_NONBLOCK), so that the
// *os.File uses the runtime's poller: reads and writes park the goroutine
// instead of a thread, and deadlines work. The flag is shared with any
// process the descriptor is passed to. Off by default.
func NonBlocking(on bool) Option { return Option{unix.O_NONBLOCK, on} }

// Packet puts a pipe in packet mode (O_DIRECT, Linux 3.4): each write of up
// to PIPE_BUF (4096) bytes is one packet, and each read returns at most one
// packet, dropping what does not fit the buffer. Pipes only; a socketpair
// has SeqPacket instead.
func Packet(on bool) Option { return Option{unix.O_DIRECT, on} }

func flags(opts []Option) int {
	f := unix.O_CLOEXEC
	for _, o := range opts {
		if o.on {
			f |= o.flag
		} else {
			f &^= o.flag
		}
	}
	return f
}

// Pipe makes a pipe (pipe2): what is written to w is read from r, in order.
// With no options both ends are blocking and close-on-exec.
func Pipe(opts ...Option) (r, w *os.File, err error) {
	var fds [2]int
	f := flags(opts)
	if e := unix.Pipe2(fds[:], f); e != nil {
		err := &ipc.Error{Pkg: "pipe", Op: "create", Kind: ipc.Pipe, ID: -1, Call: "pipe2", Err: errno(e)}
		if f&unix.O_DIRECT != 0 && err.Err == unix.EINVAL {
			err.Detail = "packet mode needs Linux 3.4"
		}
		return nil, nil, err
	}
	return os.NewFile(uintptr(fds[0]), "|0"), os.NewFile(uintptr(fds[1]), "|1"), nil
}

// Capacity returns the capacity of the pipe f is an end of, in bytes
// (F_GETPIPE_SZ): how much a writer may get ahead of the reader before it
// blocks. It is 64 KiB unless changed.
func Capacity(f *os.File) (int, error) {
	var (
		n  int
		e  error
		fd = -1
	)
	if err := control(f, func(d int) {
		fd = d
		n, e = unix.FcntlInt(uintptr(d), unix.F_GETPIPE_SZ, 0)
	}); err != nil {
		return 0, pipeErr("read capacity of", fd, "fcntl(F_GETPIPE_SZ)", err, "")
	}
	if e != nil {
		return 0, pipeErr("read capacity of", fd, "fcntl(F_GETPIPE_SZ)", e, notPipe(e))
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
	const op, call = "set capacity of", "fcntl(F_SETPIPE_SZ)"
	fd := -1
	if n < 0 || n > 1<<31 {
		control(f, func(d int) { fd = d })
		return 0, pipeErr(op, fd, call, unix.EINVAL, "a capacity is between 0 and 2 GiB")
	}
	var (
		got int
		e   error
	)
	if err := control(f, func(d int) {
		fd = d
		got, e = unix.FcntlInt(uintptr(d), unix.F_SETPIPE_SZ, n)
	}); err != nil {
		return 0, pipeErr(op, fd, call, err, "")
	}
	if e != nil {
		detail := notPipe(e)
		switch e {
		case unix.EPERM:
			max, _ := readSysctl("fs/pipe-max-size")
			if n > max {
				detail = strconv.Itoa(n) + " bytes exceed fs.pipe-max-size " + strconv.Itoa(max) + "; more needs CAP_SYS_RESOURCE"
			} else {
				detail = "the user's pipes exceed fs.pipe-user-pages-hard; more needs CAP_SYS_RESOURCE"
			}
		case unix.EBUSY:
			detail = "the pipe holds more than " + strconv.Itoa(n) + " bytes"
		}
		return 0, pipeErr(op, fd, call, e, detail)
	}
	return got, nil
}

func notPipe(e error) string {
	if e == unix.EBADF {
		return "not a pipe"
	}
	return ""
}

func readSysctl(name string) (int, bool) {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return 0, false
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return v, err == nil
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

func socketpair(typ Type, opts []Option) ([2]int, error) {
	var fds [2]int
	fail := func(e error, detail string) ([2]int, error) {
		return fds, &ipc.Error{Pkg: "pipe", Op: "create", Kind: ipc.Socket, ID: -1, Call: "socketpair", Err: errno(e), Detail: detail}
	}
	if typ != Stream && typ != Datagram && typ != SeqPacket {
		return fail(unix.EINVAL, "type "+typ.String()+" is not Stream, Datagram or SeqPacket")
	}
	f := flags(opts)
	if f&unix.O_DIRECT != 0 {
		return fail(unix.EINVAL, "packet mode is for pipes; use SeqPacket")
	}
	// SOCK_CLOEXEC and SOCK_NONBLOCK are O_CLOEXEC and O_NONBLOCK.
	fds, e := unix.Socketpair(unix.AF_UNIX, int(typ)|f, 0)
	if e != nil {
		return fail(e, "")
	}
	return fds, nil
}

// Socketpair makes a pair of connected Unix sockets (socketpair AF_UNIX):
// what is written to a is read from b and the other way round. With no
// options both are blocking and close-on-exec. Packet is refused (SeqPacket
// is the socket equivalent).
func Socketpair(typ Type, opts ...Option) (a, b *os.File, err error) {
	fds, err := socketpair(typ, opts)
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
	fds, err := socketpair(typ, []Option{NonBlocking(true)})
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
		return nil, &ipc.Error{Pkg: "pipe", Op: "create", Kind: ipc.Socket, ID: fd, Call: "net.FileConn", Err: err}
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, &ipc.Error{Pkg: "pipe", Op: "create", Kind: ipc.Socket, ID: fd, Err: unix.EINVAL, Detail: "not a Unix socket"}
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

func pipeErr(op string, fd int, call string, err error, detail string) error {
	return &ipc.Error{Pkg: "pipe", Op: op, Kind: ipc.Pipe, ID: fd, Call: call, Err: errno(err), Detail: detail}
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
