package prefork

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/ipctoolkit/ipc/internal/sys"
	"golang.org/x/sys/unix"
)

// Reuseport mode: every worker binds and listens on a socket of its own
// with SO_REUSEPORT, and the kernel hashes each connection to one of them.
// The supervisor binds each address first, with SO_REUSEPORT and without
// listening: that fixes the port once (port 0 included) and keeps it from
// other users, while no socket of the supervisor is in the group, where
// connections would wait for an accept that never comes. The workers
// inherit these holders at descriptor 3 on, bind their own sockets to the
// holders' addresses and put them in the holders' places.
//
// The trap: when a listening socket of the group closes, the connections
// in its queue are reset, and a reload closes every old worker's socket.
// The kernel's fix is net.ipv4.tcp_migrate_req=1 (Linux 5.14): a closing
// listener's queued and half-open connections move to another socket of
// the group. It is the operator's to set (a system setting; the server
// never writes it), so the supervisor warns at start when it is off. With
// it off, a retiring worker first accepts every connection already queued
// on its socket and serves them, then closes it at once: what remains is
// the handshakes that complete within the microseconds between its last
// accept and its close. (eBPF steering, SO_ATTACH_REUSEPORT_EBPF with a
// sockarray map that drops the retiring socket before it drains, closes
// that too, but needs CAP_BPF and a BPF loader this module does not have.)

// listenModes binds the server's addresses as the mode needs.
func (sv *supervisor) listenModes() (*os.File, error) {
	if sv.cfg.Mode != ModeReuseport {
		return sv.dep.listen(sv)
	}
	held, err := inheritedHolders()
	if err != nil {
		return nil, err
	}
	sv.dep.lns = held
	for _, a := range sv.cfg.addrs() {
		if held != nil {
			break // an upgrade: the old supervisor's holders, same ports
		}
		l, err := reuseportHolder(a)
		if err != nil {
			closeListeners(sv.dep.lns)
			sv.dep.lns = nil
			return nil, err
		}
		sv.dep.lns = append(sv.dep.lns, l)
	}
	sv.addr = sv.dep.lns[0].addr
	return sv.dep.lns[0].file, nil
}

// inheritedHolders are the address holders an upgrading supervisor handed
// this one (upgrade.go passes the listeners it has, which in reuseport mode
// are these), nil when it was not started by an upgrade.
func inheritedHolders() ([]*listener, error) {
	n, err := upgradeFDCount()
	if n == 0 || err != nil {
		return nil, err
	}
	var ls []*listener
	for i := range n {
		fd := listenFD + i
		unix.CloseOnExec(fd)
		sa, err := unix.Getsockname(fd)
		if err == nil {
			var on int
			if on, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT); err == nil && on == 0 {
				err = errors.New("not an SO_REUSEPORT socket")
			}
		}
		if err != nil {
			closeListeners(ls)
			return nil, serverErr("start", err, "inherited address holder "+strconv.Itoa(fd))
		}
		ls = append(ls, &listener{file: os.NewFile(uintptr(fd), "reuseport address (inherited)"), addr: netAddr(sa)})
	}
	return ls, nil
}

// reuseportHolder binds addr with SO_REUSEPORT and does not listen.
func reuseportHolder(addr string) (*listener, error) {
	const op = "start"
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, serverErr(op, err, addr)
	}
	domain := unix.AF_INET6
	var sa unix.Sockaddr
	if ip4 := ta.IP.To4(); ip4 != nil {
		domain = unix.AF_INET
		s4 := &unix.SockaddrInet4{Port: ta.Port}
		copy(s4.Addr[:], ip4)
		sa = s4
	} else {
		s6 := &unix.SockaddrInet6{Port: ta.Port}
		copy(s6.Addr[:], ta.IP.To16())
		sa = s6
	}
	fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, serverErr(op, err, addr)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		unix.Close(fd)
		return nil, serverErr(op, err, "SO_REUSEPORT on "+addr)
	}
	if domain == unix.AF_INET6 && len(ta.IP) == 0 {
		// ":port" listens on IPv4 too, as Go's net.Listen does.
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, serverErr(op, err, "bind "+addr)
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, serverErr(op, err, addr)
	}
	return &listener{file: os.NewFile(uintptr(fd), "reuseport address "+addr), addr: netAddr(bound)}, nil
}

// bindReuseport, in a worker, replaces each address holder it inherited
// by a listening socket of its own bound to the same address.
func (w *worker) bindReuseport() error {
	for i := range max(w.boot.listeners, 1) {
		holder := listenFD + i
		sa, err := unix.Getsockname(holder)
		if err != nil {
			return os.NewSyscallError("getsockname of the address holder", err)
		}
		domain := unix.AF_INET
		if _, ok := sa.(*unix.SockaddrInet6); ok {
			domain = unix.AF_INET6
		}
		fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			return os.NewSyscallError("socket", err)
		}
		fail := func(call string, err error) error {
			unix.Close(fd)
			return os.NewSyscallError(call, err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("setsockopt SO_REUSEPORT", err)
		}
		if domain == unix.AF_INET6 {
			if v, err := unix.GetsockoptInt(holder, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY); err == nil {
				unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v)
			}
		}
		// Accepted sockets inherit them, as in the other modes.
		if err := tuneTCPListener(fd); err != nil {
			unix.Close(fd)
			return err
		}
		if err := unix.Bind(fd, sa); err != nil {
			return fail("bind "+netAddr(sa).String(), err)
		}
		if err := unix.Listen(fd, backlog()); err != nil {
			return fail("listen", err)
		}
		if err := unix.Dup3(fd, holder, unix.O_CLOEXEC); err != nil {
			return fail("dup3", err)
		}
		unix.Close(fd)
		if i == 0 {
			var st unix.Stat_t
			if unix.Fstat(holder, &st) == nil {
				w.sockIno = st.Ino
			}
		}
	}
	return nil
}

// drainQueue, in a reuseport worker about to close its sockets, accepts
// and serves what is queued on them (closed, the kernel would reset it).
// Under lnMu.
func (w *worker) drainQueue() {
	if w.boot.mode != ModeReuseport || w.serveLn != nil {
		return
	}
	for i := range max(w.boot.listeners, 1) {
		for {
			var a accepted
			var e unix.Errno
			a.fd, e = sys.Accept4Peer(listenFD+i, &a.peer)
			if e == unix.EINTR || e == unix.ECONNABORTED {
				continue
			}
			if e != 0 {
				break
			}
			w.handoff(&a)
		}
	}
}

// migrateSysctl is the kernel's switch for moving a closing listener's
// connections to the rest of its SO_REUSEPORT group.
const migrateSysctl = "/proc/sys/net/ipv4/tcp_migrate_req"

func (sv *supervisor) warnMigrate() {
	b, err := os.ReadFile(migrateSysctl)
	if err == nil && strings.TrimSpace(string(b)) == "1" {
		return
	}
	why := "it is 0"
	if err != nil {
		why = "cannot read it: " + errors.Unwrap(err).Error()
	}
	sv.log.Warn("reuseport: net.ipv4.tcp_migrate_req is off, so a worker's socket that closes (a reload, a retirement) resets the handshakes still completing on it; "+
		"a retiring worker serves what is queued before it closes. Set net.ipv4.tcp_migrate_req=1 to have the kernel move them to another worker", "sysctl", why)
}
