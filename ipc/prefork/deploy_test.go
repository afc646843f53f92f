package prefork_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/ipc/prefork"
	"github.com/ipctoolkit/ipc/ipc/proc"
	"github.com/ipctoolkit/ipc/msgq"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/ipctoolkit/ipc/shm"
	"golang.org/x/sys/unix"
)

// Tests of the deployment pieces: pid file, Unix-domain and several
// listeners, privilege drop. Socket activation and the notify protocol are
// tested in cmd/ipc, under systemd-socket-activate, with the real binary.

const (
	deploySup    = "deploy-supervisor"
	deployWorker = "deploy-worker"
	statusRole   = "deploy-status"
)

func init() {
	// deploy-supervisor key=value...: a Server with the deployment fields.
	proc.Register(deploySup, func(args []string) int {
		s := &prefork.Server{Role: deployWorker, Workers: 2, Logger: slog.New(slog.NewJSONHandler(os.Stderr, nil))}
		handler := "upper"
		for _, a := range args {
			k, v, _ := strings.Cut(a, "=")
			switch k {
			case "addr":
				s.Addrs = append(s.Addrs, v)
			case "dir":
				s.StateDir = v
			case "pidfile":
				s.PIDFile = v
			case "user":
				s.User = v
			case "group":
				s.Group = v
			case "mode":
				m, _ := strconv.ParseUint(v, 8, 32)
				s.SocketMode = os.FileMode(m)
			case "owner":
				s.SocketOwner = v
			case "workers":
				s.Workers, _ = strconv.Atoi(v)
			case "handler":
				handler = v
			}
		}
		s.WorkerArgs = []string{handler}
		defer prefork.HandleSignals(s)()
		if err := s.Run(context.Background()); err != nil && !errors.Is(err, prefork.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "supervisor:", err)
			return 1
		}
		return 0
	})
	proc.Register(deployWorker, func(args []string) int {
		s := &prefork.Server{Role: deployWorker, Handler: upper(0)}
		if args[0] == "whoami" {
			s.Handler = whoami
		}
		s.Run(context.Background())
		return 1
	})
	// deploy-status DIR: what `ipc status` does, as whoever runs it.
	proc.Register(statusRole, func(args []string) int {
		sts, err := prefork.States(args[0])
		if err != nil || len(sts) != 1 {
			fmt.Println("states:", len(sts), err)
			return 1
		}
		st, err := sts[0].Status()
		if err != nil {
			fmt.Println("status:", err)
			return 1
		}
		fmt.Println("workers", len(st.Workers))
		return 0
	})
}

// whoami answers one line: the worker's uid, gid and groups, and what
// happened when it sent its supervisor SIGTERM.
func whoami(ctx context.Context, c net.Conn) {
	groups, _ := unix.Getgroups()
	err := unix.Kill(os.Getppid(), syscall.SIGTERM)
	fmt.Fprintf(c, "uid=%d gid=%d groups=%v kill=%v\n", os.Getuid(), os.Getgid(), groups, err)
}

type deployServer struct {
	t    *testing.T
	cmd  *proc.Cmd
	log  *logBuf
	done chan struct{}
	st   proc.Status
}

// startDeploy starts a deploy-supervisor with args; wait for it with ready
// or exited.
func startDeploy(t *testing.T, args ...string) *deployServer {
	t.Helper()
	s := &deployServer{t: t, log: &logBuf{}, done: make(chan struct{})}
	s.cmd = proc.Command(deploySup, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.st, _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.cmd.Signal(syscall.SIGQUIT)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.cmd.Signal(syscall.SIGKILL)
			<-s.done
		}
		if t.Failed() {
			t.Logf("supervisor %d log:\n%s", s.cmd.Pid(), s.log.String())
		}
	})
	return s
}

// ready waits until the server serves, and returns its "listening" or
// "server starting" addresses.
func (s *deployServer) ready() {
	s.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); len(s.log.events("server ready")) == 0; {
		select {
		case <-s.done:
			s.t.Fatalf("supervisor exited (%v) before it was ready:\n%s", s.st, s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("supervisor not ready after 20s:\n%s", s.log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// exited waits for the supervisor to exit and returns how.
func (s *deployServer) exited(d time.Duration) proc.Status {
	s.t.Helper()
	select {
	case <-s.done:
		return s.st
	case <-time.After(d):
		s.t.Fatalf("supervisor %d still running after %v:\n%s", s.cmd.Pid(), d, s.log.String())
	}
	return proc.Status{}
}

// stop stops the supervisor gracefully and checks that it exited 0.
func (s *deployServer) stop() {
	s.t.Helper()
	s.cmd.Signal(syscall.SIGTERM)
	if st := s.exited(15 * time.Second); !st.Success() {
		s.t.Fatalf("supervisor ended %v:\n%s", st, s.log.String())
	}
}

// workers are the pids of the supervisor's ready workers.
func (s *deployServer) workers() []int {
	var pids []int
	for _, e := range s.log.events("worker ready") {
		pids = append(pids, e.num("pid"))
	}
	return pids
}

// askOn sends line on a new connection to addr on network ("tcp",
// "unix") and returns the first line back.
func askOn(network, addr, line string) (string, error) {
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSuffix(got, "\n"), err
}

func TestPIDFile(t *testing.T) {
	dir := t.TempDir()
	pidPath := filepath.Join(dir, "ipc.pid")
	s := startDeploy(t, "addr=127.0.0.1:0", "dir="+dir, "pidfile="+pidPath)
	s.ready()
	b, err := os.ReadFile(pidPath)
	if err != nil || string(b) != strconv.Itoa(s.cmd.Pid())+"\n" {
		t.Fatalf("pid file: %q, %v; want %d", b, err, s.cmd.Pid())
	}
	fi, err := os.Stat(pidPath)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("pid file mode %v, %v", fi.Mode(), err)
	}

	// A second server is refused, whatever its address, and leaves the
	// first one's file as it was.
	s2 := startDeploy(t, "addr=127.0.0.1:0", "dir="+t.TempDir(), "pidfile="+pidPath)
	if st := s2.exited(10 * time.Second); st.ExitCode() != 1 {
		t.Fatalf("second server: %v", st)
	}
	want := fmt.Sprintf("supervisor: prefork: start server: a running server holds the pid file (%s: pid %d)\n", pidPath, s.cmd.Pid())
	if got := s2.log.String(); got != want {
		t.Fatalf("second server said %q, want %q", got, want)
	}
	if b2, _ := os.ReadFile(pidPath); string(b2) != string(b) {
		t.Fatalf("pid file changed to %q", b2)
	}

	s.stop()
	for _, p := range []string{pidPath, pidPath + ".lock"} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s after exit: %v", p, err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left in %s: %v", dir, ents)
	}
}

// A pid file that no longer names the server (another program rewrote it)
// is not removed on exit; one a server killed with -9 left is taken over.
func TestPIDFileNotOurs(t *testing.T) {
	dir := t.TempDir()
	pidPath := filepath.Join(dir, "ipc.pid")
	s := startDeploy(t, "addr=127.0.0.1:0", "dir="+dir, "pidfile="+pidPath)
	s.ready()
	if err := os.WriteFile(pidPath, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.stop()
	if b, err := os.ReadFile(pidPath); err != nil || string(b) != "1\n" {
		t.Fatalf("pid file that was not ours: %q, %v", b, err)
	}

	s = startDeploy(t, "addr=127.0.0.1:0", "dir="+dir, "pidfile="+pidPath)
	s.ready()
	s.cmd.Signal(syscall.SIGKILL)
	s.exited(10 * time.Second)
	for _, pid := range s.workers() {
		for deadline := time.Now().Add(10 * time.Second); !gone(pid); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("worker %d outlived its supervisor", pid)
			}
		}
	}
	if b, _ := os.ReadFile(pidPath); string(b) != strconv.Itoa(s.cmd.Pid())+"\n" {
		t.Fatalf("the killed server's pid file: %q", b)
	}
	s = startDeploy(t, "addr=127.0.0.1:0", "dir="+dir, "pidfile="+pidPath)
	s.ready()
	if b, _ := os.ReadFile(pidPath); string(b) != strconv.Itoa(s.cmd.Pid())+"\n" {
		t.Fatalf("pid file after a kill -9 and a new start: %q, want %d", b, s.cmd.Pid())
	}
	s.stop()
}

// Servers started at the same moment on one pid file: exactly one wins.
func TestPIDFileRace(t *testing.T) {
	race(t, "a running server holds the pid file", func(dir string) []string {
		return []string{"addr=127.0.0.1:0", "pidfile=" + filepath.Join(dir, "ipc.pid")}
	}, func(dir string, winner int) {
		if b, _ := os.ReadFile(filepath.Join(dir, "ipc.pid")); string(b) != strconv.Itoa(winner)+"\n" {
			t.Fatalf("pid file %q, winner %d", b, winner)
		}
	})
}

// Servers started at the same moment on one Unix socket path, with a stale
// socket file there: exactly one wins, and it is not replaced by another.
// Real processes rarely hit the window the directory's lock closes (it
// passes without the lock): TestUnixListenDirLock holds the window open.
func TestUnixSocketRace(t *testing.T) {
	race(t, "a running server listens on it", func(dir string) []string {
		sock := filepath.Join(dir, "ipc.sock")
		prefork.StaleSocket(t, sock)
		return []string{"addr=unix:" + sock}
	}, func(dir string, winner int) {
		if got, err := askOn("unix", filepath.Join(dir, "ipc.sock"), "still served"); err != nil || got != "STILL SERVED" {
			t.Fatalf("the winner's socket: %q, %v", got, err)
		}
	})
}

// race starts four servers at once, a few times over, with args(dir) and a
// state dir each: one must serve, the others exit 1 saying loser; check
// then looks at what the winner has.
func race(t *testing.T, loser string, args func(dir string) []string, check func(dir string, winner int)) {
	const rounds, racers = 3, 4
	for r := range rounds {
		dir := t.TempDir()
		common := args(dir)
		var all []*deployServer
		for range racers {
			all = append(all, startDeploy(t, append([]string{"dir=" + t.TempDir(), "workers=1"}, common...)...))
		}
		var winner *deployServer
		for deadline := time.Now().Add(20 * time.Second); winner == nil; time.Sleep(10 * time.Millisecond) {
			for _, s := range all {
				if len(s.log.events("server ready")) > 0 {
					if winner != nil {
						t.Fatalf("round %d: two servers ready", r)
					}
					winner = s
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: no server ready", r)
			}
		}
		for _, s := range all {
			if s == winner {
				continue
			}
			if st := s.exited(10 * time.Second); st.ExitCode() != 1 || !strings.Contains(s.log.String(), loser) {
				t.Fatalf("round %d: loser %d: %v: %s", r, s.cmd.Pid(), st, s.log.String())
			}
		}
		check(dir, winner.cmd.Pid())
		if winner.cmd.Signal(syscall.SIGTERM); !winner.exited(15 * time.Second).Success() {
			t.Fatalf("round %d: the winner did not stop cleanly:\n%s", r, winner.log.String())
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Fatalf("round %d: left in %s: %v", r, dir, ents)
		}
	}
}

// socketInode is the inode of the socket descriptor fd of pid.
func socketInode(t *testing.T, pid, fd int) string {
	t.Helper()
	l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd))
	if err != nil || !strings.HasPrefix(l, "socket:") {
		t.Fatalf("descriptor %d of %d: %q, %v", fd, pid, l, err)
	}
	return l
}

func TestUnixAndTCPListeners(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "ipc.sock")
	prefork.StaleSocket(t, sock)

	owner := ""
	if os.Geteuid() == 0 {
		owner = "nobody:" + nobodyGroup(t)
	}
	s := startDeploy(t, "addr=127.0.0.1:0", "addr=unix:"+sock, "dir="+dir, "mode=0640", "owner="+owner, "workers=2")
	s.ready()
	if ev := s.log.events("replaced a socket file nobody listened on (left by a server that is gone)"); len(ev) != 1 || ev[0].str("path") != sock {
		t.Errorf("stale socket: %v", ev)
	}
	ev := s.log.events("listening")
	if len(ev) != 1 {
		t.Fatalf("listening: %v", ev)
	}
	addrs := strings.Fields(ev[0].str("addrs"))
	if len(addrs) != 2 || addrs[1] != sock {
		t.Fatalf("addrs %q", addrs)
	}

	var st syscall.Stat_t
	if err := syscall.Lstat(sock, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFSOCK || st.Mode&0o7777 != 0o640 {
		t.Errorf("socket mode %o, want a socket 0640", st.Mode)
	}
	if owner != "" && (st.Uid != 65534 || strconv.Itoa(int(st.Gid)) != nobodyGID(t)) {
		t.Errorf("socket owner %d:%d, want %s", st.Uid, st.Gid, owner)
	}

	for i := range 10 {
		for _, a := range [][2]string{{"tcp", addrs[0]}, {"unix", sock}} {
			line := fmt.Sprintf("%s %d", a[0], i)
			if got, err := askOn(a[0], a[1], line); err != nil || got != strings.ToUpper(line) {
				t.Fatalf("%s %s: %q, %v", a[0], a[1], got, err)
			}
		}
	}
	// Every worker holds both listeners, as descriptors 3 and 4: the very
	// sockets the supervisor made.
	workers := s.workers()
	if len(workers) != 2 {
		t.Fatalf("workers %v", workers)
	}
	want := [2]string{}
	for i := range want {
		want[i] = socketInode(t, workers[0], 3+i)
	}
	for _, w := range workers {
		for i := range want {
			if got := socketInode(t, w, 3+i); got != want[i] {
				t.Errorf("worker %d descriptor %d is %s, worker %d's is %s", w, 3+i, got, workers[0], want[i])
			}
		}
	}

	// Another server on the same socket is refused while this one lives.
	s2 := startDeploy(t, "addr=unix:"+sock, "dir="+t.TempDir())
	if st := s2.exited(10 * time.Second); st.ExitCode() != 1 || !strings.Contains(s2.log.String(), "a running server listens on it (unix:"+sock+")") {
		t.Fatalf("second server on a live socket: %v: %s", st, s2.log.String())
	}
	s.stop()
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket file after exit: %v", err)
	}
}

// A path that is not a socket is never removed to make room.
func TestUnixListenerRefusesFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "not-a-socket")
	if err := os.WriteFile(path, []byte("keep me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startDeploy(t, "addr=unix:"+path, "dir="+dir)
	if st := s.exited(10 * time.Second); st.ExitCode() != 1 || s.log.String() != "supervisor: prefork: start server: the path exists and is not a socket (unix:"+path+")\n" {
		t.Fatalf("%v: %q", st, s.log.String())
	}
	if b, _ := os.ReadFile(path); string(b) != "keep me\n" {
		t.Fatalf("file now %q", b)
	}
}

func nobodyGroup(t *testing.T) string {
	t.Helper()
	g, err := user.LookupGroupId(nobodyGID(t))
	if err != nil {
		t.Skip("no group for nobody:", err)
	}
	return g.Name
}

func nobodyGID(t *testing.T) string {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody:", err)
	}
	return u.Gid
}

func TestPrivilegeDrop(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	gid := nobodyGID(t)
	// Where nobody may look, as in /run: the state dir decides.
	top := t.TempDir()
	for _, d := range []string{top, filepath.Dir(top)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(top, "state")
	s := startDeploy(t, "addr=127.0.0.1:0", "dir="+dir, "user=nobody", "handler=whoami", "workers=2")
	s.ready()
	for _, w := range s.workers() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", w))
		if err != nil {
			t.Fatal(err)
		}
		var uidLine, gidLine string
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "Uid:"); ok {
				uidLine = strings.Join(strings.Fields(v), " ")
			}
			if v, ok := strings.CutPrefix(l, "Gid:"); ok {
				gidLine = strings.Join(strings.Fields(v), " ")
			}
		}
		if uidLine != "65534 65534 65534 65534" || gidLine != strings.Repeat(gid+" ", 3)+gid {
			t.Errorf("worker %d: Uid %q, Gid %q", w, uidLine, gidLine)
		}
	}
	sts, err := prefork.States(dir)
	if err != nil || len(sts) != 1 {
		t.Fatalf("states %v, %v", sts, err)
	}
	got, err := askOn("tcp", sts[0].Addr, "who")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("uid=65534 gid=%s groups=[%s] kill=operation not permitted", gid, gid)
	if got != want {
		t.Errorf("worker says %q, want %q", got, want)
	}

	// The objects are nobody's, 0600, and still root's creation.
	set, _ := sem.FromID(sts[0].Semaphore)
	q, _ := msgq.FromID(sts[0].Queue)
	seg, _ := shm.FromID(sts[0].Segment)
	si, err1 := set.Stat()
	qi, err2 := q.Stat()
	mi, err3 := seg.Stat()
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatal(err1, err2, err3)
	}
	for name, p := range map[string]struct{ uid, gid, cuid, mode uint32 }{
		"set":   {si.Perm.UID, si.Perm.GID, si.Perm.CUID, uint32(si.Perm.Mode)},
		"queue": {qi.Perm.UID, qi.Perm.GID, qi.Perm.CUID, uint32(qi.Perm.Mode)},
		"board": {mi.Perm.UID, mi.Perm.GID, mi.Perm.CUID, uint32(mi.Perm.Mode)},
	} {
		if p.uid != 65534 || strconv.Itoa(int(p.gid)) != gid || p.cuid != 0 || p.mode != 0o600 {
			t.Errorf("%s: owner %d:%d creator %d mode %o", name, p.uid, p.gid, p.cuid, p.mode)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode() != fs.ModeDir|fs.ModeSetgid|0o750 {
		t.Errorf("state dir %v, %v", fi.Mode(), err)
	}

	// `ipc status` works for nobody, as it does for root.
	for _, cred := range []*syscall.Credential{nil, {Uid: 65534, Gid: 65534}} {
		c := proc.Command(statusRole, dir)
		var out logBuf
		c.Stdout, c.Stderr = &out, &out
		if cred != nil {
			c.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		st, err := c.Run()
		if err != nil || !st.Success() || out.String() != "workers 2\n" {
			t.Errorf("status as %v: %v %v: %q", cred, st, err, out.String())
		}
	}
	if ev := s.log.events("stopping gracefully"); len(ev) > 0 {
		t.Errorf("a worker's SIGTERM reached the supervisor: %v", ev)
	}
	s.stop()

	// The objects handed to nobody are still removed by root's janitor
	// when the supervisor is killed with -9 (IPC_SET changed their ctime
	// before the state file recorded it).
	s = startDeploy(t, "addr=127.0.0.1:0", "dir="+dir, "user=nobody", "workers=2")
	s.ready()
	sts, err = prefork.States(dir)
	if err != nil || len(sts) != 1 {
		t.Fatalf("states %v, %v", sts, err)
	}
	s.cmd.Signal(syscall.SIGKILL)
	s.exited(10 * time.Second)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, errSet := sem.FromID(sts[0].Semaphore)
		_, errQueue := msgq.FromID(sts[0].Queue)
		if errSet != nil && errQueue != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after kill -9 of the supervisor, set %d and queue %d still there", sts[0].Semaphore, sts[0].Queue)
		}
	}
}

// Only root may run its workers as another user: anyone else is told so
// at start, in one line.
func TestPrivilegeDropNeedsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start the supervisor as nobody")
	}
	c := proc.Command(deploySup, "addr=127.0.0.1:0", "dir="+t.TempDir(), "user=daemon")
	var out logBuf
	c.Stdout, c.Stderr = &out, &out
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	st, err := c.Run()
	want := "supervisor: prefork: configure server: operation not permitted (running the workers as daemon needs the server to start as root, not uid 65534)\n"
	if err != nil || st.ExitCode() != 1 || out.String() != want {
		t.Fatalf("%v %v: %q, want %q", st, err, out.String(), want)
	}
}

func init() {
	proc.Register("deploy-statedir", func([]string) int {
		fmt.Println(prefork.DefaultStateDir())
		return 0
	})
}

// Root's state dir is /run/ipc (a system service's); a user's is under
// $XDG_RUNTIME_DIR, or /tmp/ipc-$UID without it.
func TestDefaultStateDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a child as another user")
	}
	for _, c := range []struct {
		cred *syscall.Credential
		xdg  string
		want string
	}{
		{nil, "/run/user/0", "/run/ipc"},
		{&syscall.Credential{Uid: 65534, Gid: 65534}, "/run/user/65534", "/run/user/65534/ipc"},
		{&syscall.Credential{Uid: 65534, Gid: 65534}, "", os.TempDir() + "/ipc-65534"},
	} {
		cmd := proc.Command("deploy-statedir")
		cmd.Env = []string{"XDG_RUNTIME_DIR=" + c.xdg}
		var out logBuf
		cmd.Stdout = &out
		if c.cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
		}
		if st, err := cmd.Run(); err != nil || !st.Success() || out.String() != c.want+"\n" {
			t.Errorf("as %v with XDG_RUNTIME_DIR=%q: %v %v %q, want %s", c.cred, c.xdg, st, err, out.String(), c.want)
		}
	}
}

// Deployment fields that cannot work stop the start with one line, before
// anything is made.
func TestDeployConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cases := [][2]string{
		{"group=nogroup", "configure server: a Group without a User"},
		{"mode=1777", "configure server: SocketMode 01777 has bits other than permissions"},
		{"owner=nobody:no-such-group", "start server: no such group (socket owner \"nobody:no-such-group\")"},
		{"addr=unix:", "start server: an empty unix: address"},
	}
	if os.Geteuid() == 0 {
		cases = append(cases,
			[2]string{"user=no-such-user", "configure server: no such user (user \"no-such-user\")"},
			[2]string{"user=nobody group=no-such-group", "configure server: no such group (group \"no-such-group\")"})
	}
	for _, c := range cases {
		args := append([]string{"addr=127.0.0.1:0", "dir=" + dir}, strings.Fields(c[0])...)
		s := startDeploy(t, args...)
		if st := s.exited(10 * time.Second); st.ExitCode() != 1 || s.log.String() != "supervisor: prefork: "+c[1]+"\n" {
			t.Errorf("%s: %v: %q, want %q", c[0], st, s.log.String(), c[1])
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left in the state dir: %v", ents)
	}
}

func init() {
	// deploy-statusdir ROOTDIR: where `ipc status` would look, with root's
	// state dir moved to ROOTDIR, and what it finds there.
	proc.Register("deploy-statusdir", func(args []string) int {
		prefork.SetRootStateDir(args[0])
		dir := prefork.StatusDir()
		sts, _ := prefork.States(dir)
		fmt.Println(dir, len(sts))
		return 0
	})
}

// A user's `ipc status` without --state-dir finds root's system service,
// whose workers run as that user, when no server of the user's own runs;
// its own first when one does.
func TestStatusDirForUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	top := t.TempDir()
	for _, d := range []string{top, filepath.Dir(top)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rootDir, xdg := filepath.Join(top, "run-ipc"), filepath.Join(top, "xdg")
	if err := os.Mkdir(xdg, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(xdg, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	where := func() string {
		t.Helper()
		c := proc.Command("deploy-statusdir", rootDir)
		c.Env = []string{"XDG_RUNTIME_DIR=" + xdg}
		c.SysProcAttr = &syscall.SysProcAttr{Credential: nobody}
		var out logBuf
		c.Stdout, c.Stderr = &out, &out
		if st, err := c.Run(); err != nil || !st.Success() {
			t.Fatalf("statusdir: %v %v: %s", st, err, out.String())
		}
		return strings.TrimSpace(out.String())
	}
	own := filepath.Join(xdg, "ipc")
	if got := where(); got != own+" 0" {
		t.Errorf("no server anywhere: %q, want %s 0", got, own)
	}
	s := startDeploy(t, "addr=127.0.0.1:0", "dir="+rootDir, "user=nobody", "workers=1")
	s.ready()
	if got := where(); got != rootDir+" 1" {
		t.Errorf("root's service running as nobody: %q, want %s 1", got, rootDir)
	}
	// nobody's own server comes first.
	c := proc.Command(deploySup, "addr=127.0.0.1:0", "dir="+own, "workers=1")
	c.Env = []string{"XDG_RUNTIME_DIR=" + xdg}
	c.SysProcAttr = &syscall.SysProcAttr{Credential: nobody}
	mine := &deployServer{t: t, cmd: c, log: &logBuf{}, done: make(chan struct{})}
	c.Stdout, c.Stderr = mine.log, mine.log
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { mine.st, _ = c.Wait(); close(mine.done) }()
	defer func() {
		c.Signal(syscall.SIGKILL)
		<-mine.done
	}()
	mine.ready()
	if got := where(); got != own+" 1" {
		t.Errorf("nobody's own server and root's: %q, want %s 1", got, own)
	}
	mine.stop()
	s.stop()
	if got := where(); got != own+" 0" {
		t.Errorf("both stopped: %q, want %s 0", got, own)
	}
}

func init() {
	// deploy-stderr prefork|os: writes a line to standard error through
	// prefork.Stderr or os.Stderr, then says on stdout that it survived.
	proc.Register("deploy-stderr", func(args []string) int {
		w := prefork.Stderr
		if args[0] == "os" {
			w = os.Stderr
		}
		_, err := fmt.Fprintln(w, "a log line")
		fmt.Println("survived:", err)
		return 0
	})
}

// With standard error a pipe nobody reads, a write through prefork.Stderr
// fails with EPIPE and the process goes on; through os.Stderr Go kills it
// with SIGPIPE (the control: what a new supervisor of an upgrade died of).
func TestStderrBrokenPipe(t *testing.T) {
	for _, c := range []struct{ via, want string }{
		{"prefork", "survived: write stderr: broken pipe\n"},
		{"os", ""},
	} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		cmd := proc.Command("deploy-stderr", c.via)
		var out logBuf
		cmd.Stdout, cmd.Stderr = &out, w
		st, err := cmd.Run()
		w.Close()
		switch {
		case err != nil:
			t.Errorf("%s: %v", c.via, err)
		case c.want != "" && (!st.Success() || out.String() != c.want):
			t.Errorf("through %s.Stderr: %v, %q; want %q", c.via, st, out.String(), c.want)
		case c.want == "" && st.Signal() != syscall.SIGPIPE:
			t.Errorf("through os.Stderr: %v, %q; want killed by SIGPIPE", st, out.String())
		}
	}
}
