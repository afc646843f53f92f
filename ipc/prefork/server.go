package prefork

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ipctoolkit/ipc/ipc/proc"
)

// Server is a prefork server: a supervisor that listens and N worker
// processes that accept and serve. Fill it in before Run; the same value
// (or one built the same way) must be what Run is called on in the worker
// role, since a worker gets its handler from it and everything else from the
// supervisor.
type Server struct {
	// Addr is the TCP address to listen on ("127.0.0.1:8989", ":8080";
	// port 0 picks a free port, which the state file and the log show).
	Addr string
	// Workers is the number of worker processes; 0 means one per CPU.
	// SIGTTIN and SIGTTOU change it by one while the server runs.
	Workers int
	// MaxWorkers is the number of scoreboard slots, which bounds Workers
	// and how many workers may run at once during a reload (new ones start
	// before old ones stop). 0 means twice Workers, and at least Workers+1.
	// With a dynamic or ondemand Pool it is the pool's maximum (PHP-FPM's
	// pm.max_children, Apache's MaxRequestWorkers), and 0 means
	// DefaultPoolMax (see pool.go).
	MaxWorkers int

	// Handler serves one connection, which it need not close. Its ctx
	// carries the Worker (WorkerFrom) and is done when the worker begins to
	// stop: a handler of long-lived connections should finish what it is
	// doing and return, since the worker waits at most GracefulTimeout for
	// it. A panic closes the connection and is logged; the worker lives on.
	Handler func(ctx context.Context, conn net.Conn)
	// HTTPHandler, if Handler is nil, serves HTTP/1.1 on every connection.
	// A request's context carries the Worker.
	HTTPHandler http.Handler
	// HTTPIdleTimeout is how long a kept-alive HTTPHandler connection may
	// wait for its next request before the worker closes it
	// (http.Server.IdleTimeout). 0 means DefaultHTTPIdleTimeout; a
	// negative value means no limit, net/http's own default, under which
	// a client that keeps connections open and silent keeps a descriptor
	// each for good (and, in ModePass, a whole worker each). Read in the
	// worker, like HTTPHandler.
	HTTPIdleTimeout time.Duration
	// Serve, if set, is what each worker runs instead of Handler and
	// HTTPHandler: any Go server (net/http, gRPC, fasthttp) on l, a
	// net.Listener whose Accept is the worker's own accept path (in
	// prefork mode it takes the accept lock; see listener_api.go).
	// Accept's connections count in the worker's slot (connections, bytes,
	// active; requests are connections here). ctx carries the Worker and
	// is done when the worker begins to stop: Serve should then stop
	// accepting, finish its connections and return (ServeHTTP does this
	// for an *http.Server). Closing l, or returning, ends the worker,
	// which then waits up to GracefulTimeout for the connections l gave
	// to be closed. Nil Serve: Handler or HTTPHandler.
	Serve func(ctx context.Context, l net.Listener) error
	// OnBroadcast, if set, receives in every worker the messages another
	// worker sent with Worker.Broadcast, one at a time and in order: it
	// must not block for long, since the worker's control messages wait
	// behind it.
	OnBroadcast func(ctx context.Context, msg []byte)

	// Role is the name of the proc role the workers run (see Register).
	// The server's janitor (the process that removes its IPC objects if
	// the supervisor is killed) runs it too, and leaves at Run: a role that
	// builds its Server at run time should do little else before Run.
	Role string
	// WorkerArgs are the arguments the worker role is started with, for a
	// role that builds its Server from them.
	WorkerArgs []string

	// StateDir is where the supervisor records its pid and IPC objects
	// while it runs; "" means DefaultStateDir().
	StateDir string

	// Deployment (see deploy.go). Addrs, if not empty, are the addresses
	// listened on instead of Addr, every worker serving them all: TCP
	// "host:port", or "unix:/path" (Addr takes one too) for a Unix-domain
	// stream socket, made with SocketMode (0: DefaultSocketMode) and
	// SocketOwner ("user:group", "user" or ":group"; "" leaves it the
	// supervisor's); a socket file left by a dead server is replaced, one a
	// live server listens on refused, and it is removed on exit. A process
	// socket-activated by systemd (LISTEN_PID is its pid) serves the sockets
	// it was given and binds none of these.
	Addrs       []string
	SocketMode  os.FileMode
	SocketOwner string
	// PIDFile, if set, is written with the supervisor's pid at start
	// (atomically), refused while another live server holds it, and
	// removed on exit if it still names this process.
	PIDFile string
	// User and Group, if User is set, are who the workers run as (Group
	// "" is the user's primary group; supplementary groups are the
	// user's): the supervisor, which must start as root, binds first and
	// keeps root; the IPC objects become the user's, mode 0600.
	User, Group string
	// GracefulTimeout bounds a graceful stop or a worker's retirement:
	// connections still open after it are cut (the worker is killed). 0
	// means 30 s.
	GracefulTimeout time.Duration
	// Timeout is how long a worker may go without a heartbeat (or without
	// becoming ready, when it starts) before the supervisor kills and
	// replaces it. 0 means 30 s; it must be at least MinTimeout, twice the
	// heartbeat's period. A worker that holds the accept lock while stopped
	// or hung is killed within about a second whatever Timeout says.
	Timeout time.Duration
	// MaxRequests, if not 0, makes a worker retire after that many
	// requests (connections, or HTTP requests with HTTPHandler), plus a
	// random 0..MaxRequestsJitter so that workers do not all retire at once.
	MaxRequests       int
	MaxRequestsJitter int
	// Accept is how workers share the listener; the default, AcceptLock,
	// serializes accept with the semaphore.
	Accept AcceptMode

	// The server's design (mode.go): Mode, the zero value being prefork,
	// and MaxChildren, fork mode's bound on children alive at once (0:
	// DefaultMaxChildren). A field the mode cannot honour (Accept outside
	// prefork, MaxChildren outside fork, Workers in fork) is refused by Run.
	Mode        Mode
	MaxChildren int
	// Pool management and the crash breaker (pool.go, crash.go). Pool is
	// how the number of workers is decided: PoolStatic (the default) keeps
	// Workers; PoolDynamic keeps MinSpare to MaxSpare idle workers, starting
	// with StartWorkers; PoolOndemand starts none until a connection waits
	// and retires a worker idle for WorkerIdleTimeout. In the two automatic
	// pools MaxWorkers is the most worker processes there may be, starting
	// and draining ones included, and Scale changes that maximum.
	Pool              PoolMode
	MinSpare          int
	MaxSpare          int
	StartWorkers      int
	WorkerIdleTimeout time.Duration
	// CrashLimit, if not 0, is how many workers may crash (die of a signal
	// the supervisor did not send, or exit non-zero) within CrashWindow
	// before the supervisor acts as OnCrashLimit says: restart the whole
	// generation, or stop and make Run return a *CrashLimitError.
	CrashLimit   int
	CrashWindow  time.Duration
	OnCrashLimit CrashAction

	// Operating (reqtimeout.go, slowlog.go, metrics.go), as PHP-FPM's
	// request_terminate_timeout and request_slowlog_timeout.
	// RequestTimeout, if not 0, bounds a request (a connection for
	// Handler, an HTTP request for HTTPHandler): the worker running one
	// longer is stopped, the request's connection closed, and killed if it
	// has not exited within a second; it is replaced. SlowTimeout, if not
	// 0 (and below RequestTimeout), makes the worker running a request
	// longer write the stacks of all its goroutines to SlowLog, once per
	// request, without stopping it; SlowLog "" is the Logger. The
	// supervisor opens SlowLog (appending, created 0600) before it starts.
	RequestTimeout time.Duration
	SlowTimeout    time.Duration
	SlowLog        string

	// UpgradeTimeout is how long Upgrade waits for the new supervisor to
	// serve before it kills it and rolls back; 0 means
	// DefaultUpgradeTimeout.
	UpgradeTimeout time.Duration

	// Logger receives the supervisor's and the workers' structured logs;
	// nil means slog.Default().
	Logger *slog.Logger
	// Ready, if set, is called in the supervisor once the first workers
	// are all serving, with the address the server listens on (unicorn's
	// and gunicorn's when_ready). It runs once, in the supervisor's loop,
	// and must not block: the supervisor waits for it.
	Ready func(addr net.Addr)
	// OnWorkerStart, if set, is called in each worker process after it
	// has attached to the supervisor's objects and before it accepts a
	// connection (gunicorn's post_fork, unicorn's after_fork): open the
	// worker's database connections here. Its ctx carries the Worker
	// (WorkerFrom); the worker takes no orders while it runs and is not
	// ready until it returns, so it is bounded by Timeout. An error
	// (or a panic) makes the worker exit with ExitFailed as a start failure
	// with that reason: for the first pool the server stops and Run returns
	// it; later (a Reload, a replacement) the slot is retried with a
	// growing pause while the workers already serving go on.
	OnWorkerStart func(ctx context.Context, slot int) error
	// OnWorkerExit, if set, is called in the supervisor each time a
	// worker's end is reaped (gunicorn's child_exit), after it is logged
	// and before it is replaced. It runs in the supervisor's loop and must
	// not block.
	OnWorkerExit func(WorkerExit)

	life *lifecycle
}

// WorkerExit is what OnWorkerExit learns of a worker's end.
type WorkerExit struct {
	Slot       int
	PID        int
	Generation uint64
	// Status is the process's exit status as the supervisor reaped it.
	Status proc.Status
	// Ready is whether the worker had served: false is a start failure.
	Ready bool
	// Expected is whether the supervisor asked it to stop (a drain, a
	// retirement, a kill it decided).
	Expected bool
	// Reason is why it ended, in words, when known ("asked to stop",
	// "cannot start: ...", "hung: ..."); "" for an unexplained death.
	Reason string
	Uptime time.Duration
}

// Defaults for the Server fields left 0.
const (
	DefaultGracefulTimeout = 30 * time.Second
	DefaultTimeout         = 30 * time.Second
	// DefaultHTTPIdleTimeout is nginx's keepalive_timeout.
	DefaultHTTPIdleTimeout = 75 * time.Second
)

// Bounds of the Server fields: values outside them are refused by Run.
const (
	// MinTimeout is twice the heartbeat's period (a worker beats at least
	// once a second): a shorter Timeout kills healthy workers.
	MinTimeout = 2 * lockWait
	// MaxSlots bounds MaxWorkers (and so Workers).
	MaxSlots = 4096
)

// AcceptMode is how workers share the listening socket.
type AcceptMode int

const (
	// AcceptLock: a worker takes the accept lock (a System V binary
	// semaphore, with SEM_UNDO so that a worker killed while holding it
	// gives it back), waits for a connection with poll on the raw
	// descriptor, accepts one and releases the lock. Only the holder is
	// ever woken by a connection.
	AcceptLock AcceptMode = iota
	// AcceptShared: every idle worker polls the listener, and all of them
	// wake for each connection while one wins it (the thundering herd; it
	// is what net.FileListener in each worker amounts to). For comparison.
	AcceptShared
	// AcceptHold: the accept lock, kept by the worker that accepted for
	// as long as it keeps up. A Go worker is not the textbook's
	// single-threaded child: its goroutines use every CPU the runtime
	// gives it, so one worker can take all the connections a moment
	// brings, and the others wait as spares. It gives the lock back when
	// it drains, and when its accept loop, which yields its P after each
	// hand-over, comes back more than a millisecond late: its CPUs are
	// busy, and another worker takes the next connections. Fewer workers
	// awake means fewer wake-ups and context switches per request, at the
	// price of balance: a worker killed takes more connections with it,
	// and a worker limited to fewer CPUs than the machine (GOMAXPROCS)
	// holds the lock until it is saturated. With Server.Serve, whose
	// server calls Accept when it wants to, it is AcceptLock.
	AcceptHold
)

// String names the mode as the command line does.
func (m AcceptMode) String() string {
	switch m {
	case AcceptShared:
		return "shared"
	case AcceptHold:
		return "hold"
	}
	return "lock"
}

// Exit statuses of a worker process besides 0 (it stopped when asked, retired
// or outlived its supervisor).
const (
	// ExitFailed: the worker could not start (no handler, IPC objects
	// gone). If no pool has been ready yet (a configuration error), the
	// supervisor stops the server with the worker's reason; later (a
	// reload whose workers cannot start), it retries that slot with a
	// growing pause and logs why.
	ExitFailed = 3
)

// Register makes s the server whose workers run as the proc role named
// role, and returns s. Call it where the worker can see it before main
// runs, in a package-level var or init, so that proc.Dispatch (first thing
// in main) finds the role in a worker:
//
//	var server = prefork.Register("echo-worker", &prefork.Server{...})
//
//	func main() {
//		proc.Dispatch() // in a worker: serves, then exits
//		log.Fatal(server.Run(context.Background()))
//	}
//
// A program that builds its Server at run time (from flags, say) registers
// the role itself with proc.Register and calls Run from it on a Server whose
// Role is that name, as cmd/ipc's `serve` does.
func Register(role string, s *Server) *Server {
	s.Role = role
	proc.Register(role, func([]string) int {
		s.Run(context.Background())
		return ExitFailed // Run exits the process in a worker
	})
	return s
}

// IsWorker reports whether this process is one of s's workers (or its
// janitor, the process that removes the server's objects if the supervisor
// is killed).
func (s *Server) IsWorker() bool {
	return s.Role != "" && proc.IsChild() && proc.Role() == s.Role && (os.Getenv(bootEnv) != "" || os.Getenv(janitorEnv) != "")
}

// Run runs the server. In the process the program was started as, it is the
// supervisor: it listens, creates the IPC objects, starts the workers and
// keeps them running until ctx is done (a graceful stop; Run then returns
// nil), Shutdown or Close is called (Run returns ErrServerClosed), or a
// worker of the first pool cannot start (Run returns why); every IPC object
// is removed by then. Reload and Scale act on it while it runs. Run catches
// no signal: HandleSignals maps SIGTERM, SIGHUP and the rest onto those
// methods.
//
// In a worker process (IsWorker) Run serves connections and never returns:
// it exits the process, with status 0 when it stopped as asked and
// ExitFailed when it could not start.
//
// The program's main must call proc.Dispatch before anything else, so that
// a worker runs its role instead of main (Run cannot do it for main: in a
// process that is itself a proc child, a second Dispatch would run that
// process's role again).
func (s *Server) Run(ctx context.Context) error {
	if s.IsWorker() {
		if os.Getenv(janitorEnv) != "" {
			os.Exit(runJanitor(s.logger()))
		}
		os.Exit(runWorker(ctx, s))
	}
	return runSupervisor(ctx, s)
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// config is a Server with its defaults filled in and checked.
type config struct {
	Server
	workers, slots int
}

func (s *Server) config() (config, error) {
	c := config{Server: *s}
	const op = "configure"
	if c.Role == "" {
		return c, serverErr(op, errors.New("the worker Role is empty"), "register the worker role with prefork.Register or proc.Register")
	}
	c.workers = c.Workers
	if c.workers == 0 {
		c.workers = runtime.NumCPU()
	}
	c.slots = c.MaxWorkers
	if c.slots == 0 {
		c.slots = max(2*c.workers, c.workers+1)
	}
	if c.GracefulTimeout == 0 {
		c.GracefulTimeout = DefaultGracefulTimeout
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir()
	}
	if err := c.poolConfig(); err != nil {
		return c, err
	}
	switch {
	case c.workers < 1 && c.Pool == PoolStatic:
		return c, serverErr(op, errors.New("the number of Workers must be at least 1"), strconv.Itoa(c.Workers))
	case c.slots < c.workers:
		return c, serverErr(op, errors.New("MaxWorkers must be at least Workers"), strconv.Itoa(c.slots)+" < "+strconv.Itoa(c.workers))
	case c.workers > MaxSlots:
		return c, serverErr(op, errors.New("Workers is at most "+strconv.Itoa(MaxSlots)), strconv.Itoa(c.workers))
	case c.slots > MaxSlots:
		return c, serverErr(op, errors.New("MaxWorkers is at most "+strconv.Itoa(MaxSlots)), strconv.Itoa(c.slots))
	case c.GracefulTimeout < 0 || c.Timeout < 0:
		return c, serverErr(op, errors.New("timeouts must not be negative"), "")
	case c.Timeout < MinTimeout:
		return c, serverErr(op, errors.New("Timeout must be at least "+MinTimeout.String()+", twice the heartbeat's period"), c.Timeout.String())
	case c.MaxRequests < 0 || c.MaxRequestsJitter < 0:
		return c, serverErr(op, errors.New("MaxRequests and MaxRequestsJitter must not be negative"), "")
	case c.Accept < AcceptLock || c.Accept > AcceptHold:
		return c, serverErr(op, errors.New("unknown AcceptMode"), strconv.Itoa(int(c.Accept)))
	}
	if err := c.checkOps(); err != nil {
		return c, err
	}
	return c, c.checkMode()
}

// bootEnv carries what a worker learns from its supervisor: slot,
// generation, IPC ids and limits, as "key=value" pairs separated by commas.
// The worker removes it from its environment, so that programs its handler
// starts do not take themselves for workers.
const bootEnv = "IPC_PREFORK_WORKER"

// boot is the worker's part of the configuration.
type boot struct {
	slot, slots int
	gen         uint64
	semID       int
	queueID     int
	segID       int
	supervisor  int
	maxRequests uint64 // 0: no limit
	graceful    time.Duration
	timeout     time.Duration
	accept      AcceptMode
	listeners   int // descriptors 3 on; 1 if absent
	mode        Mode
}

func (b boot) encode() string {
	var sb strings.Builder
	add := func(k string, v int64) {
		if sb.Len() > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(k)
		sb.WriteByte('=')
		sb.WriteString(strconv.FormatInt(v, 10))
	}
	add("slot", int64(b.slot))
	add("slots", int64(b.slots))
	add("gen", int64(b.gen))
	add("sem", int64(b.semID))
	add("queue", int64(b.queueID))
	add("seg", int64(b.segID))
	add("supervisor", int64(b.supervisor))
	add("maxreq", int64(b.maxRequests))
	add("graceful", int64(b.graceful))
	add("timeout", int64(b.timeout))
	add("accept", int64(b.accept))
	add("listeners", int64(b.listeners))
	add("mode", int64(b.mode))
	return bootEnv + "=" + sb.String()
}

func parseBoot(v string) (boot, error) {
	var b boot
	seen := 0
	for kv := range strings.SplitSeq(v, ",") {
		k, val, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseInt(val, 10, 64)
		if !ok || err != nil || n < 0 {
			return b, errors.New("malformed " + bootEnv + ": " + strconv.Quote(kv))
		}
		seen++
		switch k {
		case "slot":
			b.slot = int(n)
		case "slots":
			b.slots = int(n)
		case "gen":
			b.gen = uint64(n)
		case "sem":
			b.semID = int(n)
		case "queue":
			b.queueID = int(n)
		case "seg":
			b.segID = int(n)
		case "supervisor":
			b.supervisor = int(n)
		case "maxreq":
			b.maxRequests = uint64(n)
		case "graceful":
			b.graceful = time.Duration(n)
		case "timeout":
			b.timeout = time.Duration(n)
		case "accept":
			b.accept = AcceptMode(n)
		case "listeners":
			b.listeners = int(n)
		case "mode":
			b.mode = Mode(n)
		default:
			seen--
		}
	}
	if seen < 11 || b.slot >= b.slots {
		return b, errors.New("incomplete " + bootEnv + ": " + strconv.Quote(v))
	}
	return b, nil
}
