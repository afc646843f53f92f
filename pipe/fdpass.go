package pipe

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// MaxFiles is the most descriptors one message can carry (the kernel's
// SCM_MAX_FD).
const MaxFiles = 253

// Sentinels for the outcomes of a receive that no errno describes. Errors
// returned by this package match them with errors.Is.
var (
	// ErrTruncated: the message did not fit: more descriptors arrived than
	// there was room for (MSG_CTRUNC), or a datagram was longer than the
	// buffer (MSG_TRUNC). What was cut off is lost, and every descriptor
	// that did arrive has been closed.
	ErrTruncated = errors.New("message truncated")
	// ErrNoCredentials: the message carried no sender credentials, because
	// neither the sender attached them nor the receiving socket had
	// SO_PASSCRED on when the message was sent.
	ErrNoCredentials = errors.New("no credentials in the message")
)

// A transport is one socket, reached either through a *net.UnixConn (and
// the runtime's poller) or as a bare descriptor.
type transport struct {
	conn *net.UnixConn
	fd   int
}

func connTransport(conn *net.UnixConn) transport { return transport{conn: conn, fd: -1} }

// id is the descriptor number for error messages, -1 if unknown.
func (t transport) id() int {
	if t.conn == nil {
		return t.fd // -1 for a nil conn
	}
	id := -1
	if rc, err := t.conn.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { id = int(fd) })
	}
	return id
}

// fail is the error of a call on the socket, as package os reports one on
// a descriptor: "sendmsg fd 7: broken pipe".
func (t transport) fail(call string, err error, detail string) error {
	return &os.PathError{Op: call, Path: "fd " + strconv.Itoa(t.id()), Err: withDetail(errno(err), detail)}
}

// sendmsg makes one sendmsg call, waiting for room through the poller for a
// conn and retrying EINTR.
func (t transport) sendmsg(data, oob []byte) (int, error) {
	try := func(fd int) (int, error) {
		for {
			n, err := unix.SendmsgN(fd, data, oob, nil, unix.MSG_NOSIGNAL)
			if err != unix.EINTR {
				return n, err
			}
		}
	}
	if t.conn == nil {
		return try(t.fd)
	}
	rc, err := t.conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	var (
		n int
		e error
	)
	if err := rc.Write(func(fd uintptr) bool {
		n, e = try(int(fd))
		return e != unix.EAGAIN
	}); err != nil {
		return 0, err
	}
	return n, e
}

// recvmsg makes one recvmsg call with MSG_CMSG_CLOEXEC.
func (t transport) recvmsg(buf, oob []byte) (n, oobn, flags int, err error) {
	try := func(fd int) {
		for {
			n, oobn, flags, _, err = unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
			if err != unix.EINTR {
				return
			}
		}
	}
	if t.conn == nil {
		try(t.fd)
		return
	}
	rc, cerr := t.conn.SyscallConn()
	if cerr != nil {
		return 0, 0, 0, cerr
	}
	if rerr := rc.Read(func(fd uintptr) bool {
		try(int(fd))
		return err != unix.EAGAIN
	}); rerr != nil {
		return 0, 0, 0, rerr
	}
	return
}

// control runs fn on the socket's descriptor.
func (t transport) control(fn func(fd int)) error {
	if t.conn == nil {
		fn(t.fd)
		return nil
	}
	rc, err := t.conn.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Control(func(fd uintptr) { fn(int(fd)) })
}

// send sends data with oob attached to its first byte. A stream socket may
// take only part of data; the rest follows without oob.
func (t transport) send(op string, data, oob []byte) error {
	if len(data) == 0 {
		return t.fail(op, unix.EINVAL, "at least one byte of data must go with the control message")
	}
	for len(data) > 0 {
		n, err := t.sendmsg(data, oob)
		if err != nil {
			return t.fail("sendmsg", err, "")
		}
		data, oob = data[n:], nil
	}
	return nil
}

// message is what one recvmsg brought.
type message struct {
	n    int
	fds  []int
	cred *unix.Ucred
}

// receive reads one message into buf, with room for maxFDs descriptors and
// for credentials. On any error every descriptor that arrived is closed.
func (t transport) receive(op string, buf []byte, maxFDs int) (message, error) {
	var m message
	switch {
	case len(buf) == 0:
		return m, t.fail(op, unix.EINVAL, "the buffer must have room for at least one byte")
	case maxFDs < 0 || maxFDs > MaxFiles:
		return m, t.fail(op, unix.EINVAL, "room for 0 to "+strconv.Itoa(MaxFiles)+" descriptors")
	}
	oobSize := unix.CmsgSpace(unix.SizeofUcred)
	if maxFDs > 0 {
		oobSize += unix.CmsgSpace(4 * maxFDs)
	}
	oob := make([]byte, oobSize)
	n, oobn, flags, err := t.recvmsg(buf, oob)
	if err != nil {
		return m, t.fail("recvmsg", err, "")
	}
	m.n = n
	var perr error
	if oobn > 0 {
		perr = parseControl(oob[:oobn], &m)
	}
	var detail string
	switch {
	case perr != nil:
		detail = "unreadable control message: " + perr.Error()
	case flags&unix.MSG_CTRUNC != 0:
		detail = "more descriptors or control data than the room for " + strconv.Itoa(maxFDs) + " descriptors; the kernel dropped the rest"
	case len(m.fds) > maxFDs:
		detail = strconv.Itoa(len(m.fds)) + " descriptors arrived, more than the " + strconv.Itoa(maxFDs) + " asked for"
	case flags&unix.MSG_TRUNC != 0:
		detail = "the message was longer than the " + strconv.Itoa(len(buf)) + "-byte buffer; the rest is lost"
	}
	if detail != "" {
		for _, fd := range m.fds {
			unix.Close(fd)
		}
		m.fds = nil
		return m, t.fail("recvmsg", ErrTruncated, detail)
	}
	if n == 0 && oobn == 0 {
		// A stream or seqpacket peer that closed; a datagram may be empty.
		typ := 0
		t.control(func(fd int) { typ, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE) })
		if typ != unix.SOCK_DGRAM {
			return m, io.EOF
		}
	}
	return m, nil
}

// parseControl collects the descriptors and credentials of a control
// buffer. Descriptors are collected even when a later message is bad, so
// that the caller can close them.
func parseControl(oob []byte, m *message) error {
	var bad error
	for len(oob) > 0 {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return err
		}
		oob = rest
		if h.Level != unix.SOL_SOCKET {
			continue
		}
		switch h.Type {
		case unix.SCM_RIGHTS:
			for i := 0; i+4 <= len(data); i += 4 {
				m.fds = append(m.fds, int(int32(binary.NativeEndian.Uint32(data[i:]))))
			}
		case unix.SCM_CREDENTIALS:
			if len(data) < unix.SizeofUcred {
				bad = unix.EINVAL
				continue
			}
			c, err := unix.ParseUnixCredentials(&unix.SocketControlMessage{Header: h, Data: data[:unix.SizeofUcred]})
			if err != nil {
				bad = err
				continue
			}
			m.cred = c
		}
	}
	return bad
}

// withFDs calls fn with the descriptors of files, each held open (its
// number valid) until fn returns.
func withFDs(files []*os.File, fds []int, fn func(fds []int) error) error {
	if len(files) == 0 {
		return fn(fds)
	}
	var err error
	if cerr := control(files[0], func(fd int) { err = withFDs(files[1:], append(fds, fd), fn) }); cerr != nil {
		return cerr
	}
	return err
}

// SendFiles sends data over conn with the open files attached
// (SCM_RIGHTS): the receiver gets new descriptors for the same open files,
// sharing their offsets and flags. data must not be empty (a stream socket
// carries a control message only with data) and at most MaxFiles files go
// in one message. The files stay open here; close them once sent if this
// process no longer needs them. Without files it is a plain send.
func SendFiles(conn *net.UnixConn, data []byte, files ...*os.File) error {
	return sendFiles(connTransport(conn), data, files)
}

// SendFDs is SendFiles for a socket and descriptors given as numbers. It
// blocks unless the socket is non-blocking, which gives an error matching
// ipc.ErrWouldBlock when the socket's buffer is full.
func SendFDs(sock int, data []byte, fds ...int) error {
	t := transport{fd: sock}
	if len(fds) > MaxFiles {
		return t.fail("send descriptors over", unix.EINVAL, strconv.Itoa(len(fds))+" descriptors; one message carries at most "+strconv.Itoa(MaxFiles))
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	return t.send("send descriptors over", data, oob)
}

func sendFiles(t transport, data []byte, files []*os.File) error {
	const op = "send descriptors over"
	if t.conn == nil {
		return t.fail(op, unix.EINVAL, "nil connection")
	}
	if len(files) > MaxFiles {
		return t.fail(op, unix.EINVAL, strconv.Itoa(len(files))+" files; one message carries at most "+strconv.Itoa(MaxFiles))
	}
	err := withFDs(files, make([]int, 0, len(files)), func(fds []int) error {
		var oob []byte
		if len(fds) > 0 {
			oob = unix.UnixRights(fds...)
		}
		return t.send(op, data, oob)
	})
	if err != nil {
		if _, ok := err.(*os.PathError); !ok {
			// A file was closed or is not backed by a descriptor.
			return t.fail(op, err, "a file to send")
		}
	}
	return err
}

// ReceiveFiles reads one message from conn into buf, with room for up to
// maxFiles descriptors, and returns the number of bytes read and the files
// that came with them, each close-on-exec and named "received:<fd>". On a
// stream socket the descriptors come with the first byte the sender sent
// with them: the kernel never joins that byte to data sent before it in one
// read, so they arrive with the message they were sent with.
//
// If more descriptors arrived than maxFiles, or a datagram did not fit buf,
// the error matches ErrTruncated, and the descriptors that did arrive are
// closed: nothing leaks, and on error files is always nil. A peer that
// closed gives io.EOF.
func ReceiveFiles(conn *net.UnixConn, buf []byte, maxFiles int) (n int, files []*os.File, err error) {
	t := connTransport(conn)
	if conn == nil {
		return 0, nil, t.fail("receive descriptors from", unix.EINVAL, "nil connection")
	}
	m, err := t.receive("receive descriptors from", buf, maxFiles)
	if err != nil {
		return m.n, nil, err
	}
	for _, fd := range m.fds {
		files = append(files, os.NewFile(uintptr(fd), "received:"+strconv.Itoa(fd)))
	}
	return m.n, files, nil
}

// ReceiveFDs is ReceiveFiles for a socket given as a descriptor, returning
// descriptor numbers (close-on-exec) that the caller must close. It blocks
// unless the socket is non-blocking, which gives an error matching
// ipc.ErrWouldBlock when no message is waiting.
func ReceiveFDs(sock int, buf []byte, maxFDs int) (n int, fds []int, err error) {
	m, err := transport{fd: sock}.receive("receive descriptors from", buf, maxFDs)
	return m.n, m.fds, err
}

// EnableCredentials turns SO_PASSCRED on for conn, so that every message
// sent to it from now on carries the sender's pid, uid and gid, whether or
// not the sender attaches them. ReceiveCredentials does this itself, but a
// message already queued before that had none unless its sender used
// SendCredentials: call EnableCredentials first when the peer sends plain
// data.
func EnableCredentials(conn *net.UnixConn) error {
	t := connTransport(conn)
	if conn == nil {
		return t.fail("enable credentials on", unix.EINVAL, "nil connection")
	}
	var e error
	if err := t.control(func(fd int) { e = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1) }); err != nil {
		return t.fail("setsockopt", err, "")
	}
	if e != nil {
		return t.fail("setsockopt", e, "")
	}
	return nil
}

// SendCredentials sends data over conn with this process's credentials
// attached (SCM_CREDENTIALS): its pid, real uid and real gid, which the
// kernel checks, so the receiver can trust them. data must not be empty.
func SendCredentials(conn *net.UnixConn, data []byte) error {
	t := connTransport(conn)
	if conn == nil {
		return t.fail("send credentials over", unix.EINVAL, "nil connection")
	}
	oob := unix.UnixCredentials(&unix.Ucred{Pid: int32(os.Getpid()), Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())})
	return t.send("send credentials over", data, oob)
}

// ReceiveCredentials reads one message from conn into buf and returns the
// number of bytes read and the sender's credentials, as the kernel vouches
// for them: the pid (in this process's pid namespace), uid and gid. It turns
// SO_PASSCRED on first (see EnableCredentials). A message without
// credentials gives an error matching ErrNoCredentials; one that brought
// descriptors, an error matching ErrTruncated (they are closed).
func ReceiveCredentials(conn *net.UnixConn, buf []byte) (n int, cred unix.Ucred, err error) {
	if err := EnableCredentials(conn); err != nil {
		return 0, cred, err
	}
	t := connTransport(conn)
	m, err := t.receive("receive credentials from", buf, 0)
	if err != nil {
		return m.n, cred, err
	}
	if m.cred == nil || m.cred.Pid == 0 {
		return m.n, cred, t.fail("recvmsg", ErrNoCredentials, "")
	}
	return m.n, *m.cred, nil
}
