package prefork

import (
	"os"
	"runtime"
	"strconv"
	"syscall"

	"github.com/ipctoolkit/ipc/ipc/proc"
	"golang.org/x/sys/unix"
)

// A server in a private IPC namespace cannot leak anything: the namespace,
// with every object in it, goes when its last process does. It is opt-in,
// because its workers then cannot see the host's objects, which a daemon
// that talks to other programs over System V IPC needs.

// privateIPCEnv marks the process ReexecInPrivateIPC started, so that it does
// not start itself again.
const privateIPCEnv = "IPC_PREFORK_PRIVATE_IPC"

// ReexecInPrivateIPC makes this process run again, with the same pid,
// arguments and environment, in a new IPC namespace of its own: it unshares
// the namespace on a locked thread and executes /proc/self/exe from that
// thread, so that the new program starts in it. In the process so started it
// returns nil at once (and its workers, started later, share its namespace).
// It needs CAP_SYS_ADMIN; without it, it returns the error and this process
// goes on in its namespace. Call it first thing in main (after
// proc.Dispatch), before anything that creates IPC objects or threads that
// matter.
func ReexecInPrivateIPC() error {
	if os.Getenv(privateIPCEnv) != "" {
		os.Unsetenv(privateIPCEnv)
		return nil
	}
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWIPC); err != nil {
		runtime.UnlockOSThread()
		return serverErr("enter a private IPC namespace for", err, "unshare(CLONE_NEWIPC) needs CAP_SYS_ADMIN")
	}
	err := syscall.Exec(proc.Self, os.Args, append(os.Environ(), privateIPCEnv+"=1"))
	// Still here: this thread is in the new namespace, the others are not;
	// it must never run anything else.
	return serverErr("enter a private IPC namespace for", err, "exec "+proc.Self)
}

// ipcNamespace is the inode of pid's IPC namespace, 0 if unknown.
func ipcNamespace(pid int) uint64 {
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+strconv.Itoa(pid)+"/ns/ipc", &st); err != nil {
		return 0
	}
	return st.Ino
}

// inIPCNamespaceOf runs fn on a thread of its own that has entered pid's IPC
// namespace (setns on /proc/PID/ns/ipc), so that the ids of pid's objects
// mean there what they mean to pid. The thread is never unlocked: it ends
// with its goroutine, namespace and all.
func inIPCNamespaceOf(pid int, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		path := "/proc/" + strconv.Itoa(pid) + "/ns/ipc"
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- serverErr("enter the IPC namespace of", err, "supervisor "+strconv.Itoa(pid)+" runs in another IPC namespace")
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWIPC); err != nil {
			errc <- serverErr("enter the IPC namespace of", err, "supervisor "+strconv.Itoa(pid)+
				" runs in another IPC namespace; entering it needs CAP_SYS_ADMIN (try: nsenter --ipc --target "+strconv.Itoa(pid)+" ipc status)")
			return
		}
		errc <- fn()
	}()
	return <-errc
}
