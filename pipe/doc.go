// Package pipe makes the descriptor-based channels between related
// processes: pipes (pipe2, with packet mode and a settable capacity),
// socketpairs, and the two things only a Unix socket can carry, open
// descriptors (SCM_RIGHTS) and the sender's verified pid, uid and gid
// (SCM_CREDENTIALS).
//
// Descriptors are always made close-on-exec: a descriptor meant for a child
// is passed on purpose, through exec.Cmd.ExtraFiles (which clears the flag
// in the child only), never leaked into every program the process runs. Received descriptors are
// close-on-exec too (MSG_CMSG_CLOEXEC), so that one arriving while another
// goroutine starts a program does not leak into it.
//
// Pipes and socketpairs are blocking unless the NonBlocking flag is given
// (Flags are combined with |; Packet is the other).
// Blocking suits a descriptor handed to a child, since the O_NONBLOCK flag
// belongs to the open file and is shared with every process that holds it.
// A non-blocking *os.File is served by the runtime's poller instead: Read
// parks the goroutine rather than a thread, and deadlines work; a raw read
// or write through SyscallConn then returns EAGAIN when it would block.
// For request/reply exchanges with another process, where every read waits
// only microseconds, NewHandoff wraps a blocking end so that its reads and
// writes skip the scheduler's system call bookkeeping while the waits stay
// short.
//
// Errors are what package os returns for descriptors: *os.SyscallError
// when making one failed ("pipe2", "socketpair"), *os.PathError for a call
// on one, its Op the call ("fcntl", "read", "sendmsg") and its Path the
// file's name or "fd N". They wrap the errno, so errors.Is works with it
// (unix.EAGAIN for a call that would block), with fs.ErrPermission and the
// like, and with this package's ErrTruncated and ErrNoCredentials; what the
// errno alone does not say follows it in parentheses. The only exception is
// io.EOF, returned as is when the peer has closed, as io readers do.
package pipe
