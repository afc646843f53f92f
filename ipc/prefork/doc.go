// Package prefork is a multiprocess server in the manner of Apache's prefork
// MPM and gunicorn's arbiter: a supervisor process that listens, and worker
// processes (the same binary, re-executed through package proc) that inherit
// the listening socket, take turns accepting on it and serve.
//
// A daemon is a Server, a registered worker role and one call:
//
//	var server = prefork.Register("echo-worker", &prefork.Server{
//		Addr:    "127.0.0.1:8989",
//		Workers: 4,
//		Handler: func(ctx context.Context, c net.Conn) { io.Copy(c, c) },
//	})
//
//	func main() {
//		proc.Dispatch()                       // a worker runs its role here, and exits
//		defer prefork.HandleSignals(server)() // SIGTERM, SIGHUP, SIGTTIN...
//		err := server.Run(context.Background())
//		if err != nil && !errors.Is(err, prefork.ErrServerClosed) {
//			log.Fatal(err)
//		}
//	}
//
// # How the processes coordinate
//
// The supervisor creates the IPC objects, all IPC_PRIVATE with mode 0600:
//
//   - a semaphore set of five: the accept lock, a count of members, and a
//     random signature (15 bits in each of three). A worker takes the lock
//     with SEM_UNDO (semtimedop, so that it also beats its heartbeat every
//     second), accepts with accept4 what is waiting (up to 8 at once; when
//     nothing is, it first waits with poll on the raw listening descriptor),
//     and gives the lock back. Only the holder waits on the listener, so a
//     connection wakes one process; a
//     worker killed while holding the lock gives it back through SEM_UNDO.
//     With Accept = AcceptHold a worker that accepted keeps the lock for
//     its next turn while it keeps up (its accept loop back within 1 ms),
//     so that one multi-threaded Go worker takes what a moment brings and
//     fewer processes wake per request.
//     The supervisor and every worker add 1 to members with SEM_UNDO, so
//     the kernel counts them out however they end.
//   - a message queue: mtype 1 is the supervisor's inbox (a worker is ready,
//     is retiring and why, cannot start, wants a message broadcast), mtype
//     slot+2 the inbox of the worker in that slot (stop gracefully, report,
//     a broadcast). Each message carries the worker's pid and generation, so
//     a message for an earlier worker of the slot is never obeyed. A message
//     nobody reads holds the signature.
//   - a shared memory scoreboard, one slot per worker (pid, generation,
//     state, connections, requests, bytes in and out, start time, last
//     activity, heartbeat, wakeups), every field a 64-bit word stored and
//     loaded atomically. The supervisor removes the segment (IPC_RMID) right
//     after attaching it, so it can never leak: Linux still lets workers and
//     `ipc status` attach it by id, which the state file records.
//
// The scoreboard is the state and the queue only a doorbell: a message can
// be lost to a full queue, so no decision waits on one. The supervisor's
// tick (every 100 ms) reads from the slots which workers are ready or
// draining; a stop order is written into the worker's slot, which the worker
// reads at least once a second, and its message is resent if it did not fit.
// A full queue is logged at most every 2 s with the workers whose inboxes
// hold its room, and one worker's unread broadcasts may take at most a
// quarter of it.
//
// The supervisor records its pid, the objects' ids and the signature in a
// state file in Server.StateDir. It also starts a janitor, a child that
// outlives it and waits for members to reach 0: when the supervisor is
// killed with -9 and its last worker has gone, the janitor removes the set
// and the queue. Only a kill of every process at once leaves them; the next
// start (or `ipc status --clean`, CleanStale) then removes what the state
// file names, after checking the objects carry its signature (key, owner
// and creation time alone matched objects a planted file named), and logs
// what it removed and why. ReexecInPrivateIPC runs a server in an IPC
// namespace of its own, where nothing can leak at all.
//
// # Supervision
//
// Every worker is started and reaped through a proc.Group (a pidfd per
// child, never wait4(-1)), so none is ever left a zombie; each exit is logged
// in words ("killed by signal 9 (killed)") with the reason the worker gave.
// Each slot is a small state machine (slots.go): free, starting, ready,
// draining, and backoff. A worker that was ready and dies is replaced at
// once, however young: a storm of kills (an OOM killer's) must not empty
// the pool. A worker that dies before it is ready is a start crash, and only
// its slot waits: 100 ms, then twice as long for each crash in a row there
// (up to 30 s), logging why. A worker whose heartbeat stops for
// Server.Timeout gets SIGQUIT (a Go stack dump) and then SIGKILL ("hung"),
// and is replaced. A stopped accept-lock holder stops every accept, so the
// supervisor watches the lock (lockwatch.go): the scoreboard's header says
// who holds it and since when, and a holder that /proc shows stopped for
// 300 ms, or without a heartbeat for 2.5 s, is killed, whatever Timeout
// says; SEM_UNDO gives the lock back. Stops and continues of workers are
// logged. A process that will not accept again (the supervisor when it
// stops, a worker when it drains) closes its copy of the listener at once,
// so that new connections are refused rather than left in a backlog nobody
// reads; a draining HTTP worker answers Connection: close and closes idle
// keep-alive connections only after a grace. Every TCP connection has
// TCP_NODELAY and TCP keep-alive with Go's default timings, as a connection
// Go's own listener accepts has: set on the listening socket, and
// inherited by each accepted one.
//
// # Lifecycle
//
// As net/http.Server: Shutdown(ctx) stops gracefully (the listener closes at
// once, workers finish their connections for up to GracefulTimeout, then are
// killed), Close stops at once, and Run then returns ErrServerClosed; Reload
// starts a new generation and retires the old workers one by one as new ones
// become ready, so the pool never serves with fewer workers (with every slot
// taken, MaxWorkers == Workers, one old worker makes room first); Scale(n)
// sets the pool's size. The package catches no signal: HandleSignals is the
// opt-in helper that maps SIGTERM and SIGINT to Shutdown (a second SIGINT
// to Close), SIGQUIT to Close, SIGHUP to Reload, SIGTTIN and SIGTTOU to
// Scale by one, SIGUSR1 to a log of each worker's counters, SIGUSR2 to
// Upgrade; `ipc serve` uses it. Reload's workers run the binary the
// supervisor runs; Upgrade (upgrade.go) starts a new supervisor from the
// binary now at the path this one was started from, hands it the
// listeners, and drains once it serves, or kills it and serves on if it
// does not within UpgradeTimeout. Workers ignore terminal signals (they run in their own process
// group) and take their orders from their slot and the queue; SIGTERM,
// which is also their parent-death signal, makes one stop gracefully. A
// worker also stops when its supervisor is gone (proc.WatchParent), when
// its queue or semaphore is removed, and after MaxRequests requests.
//
// # Pools and the crash breaker
//
// Server.Pool decides how many workers run (pool.go): PoolStatic keeps
// Workers; PoolDynamic keeps MinSpare to MaxSpare idle workers (a worker
// the scoreboard shows serving with no open connection), checking once a
// second, starting 1, 2, 4 ... up to 32 a second while short and retiring
// one a second while over, as Apache's prefork MPM and PHP-FPM do;
// PoolOndemand starts none until a connection waits with no worker idle
// (the supervisor polls its raw listening descriptors, from a goroutine
// armed at most once a tick and only while no worker is idle or starting,
// so it takes no connection and never spins), and retires a worker idle for
// WorkerIdleTimeout. For both, MaxWorkers (the scoreboard's slots) is the
// most worker processes there can be, and Scale moves the pool's maximum
// rather than its size. A refused worker is counted and logged ("max
// workers reached"). CrashLimit crashes within CrashWindow (crash.go says
// what is a crash: a death by a signal the supervisor did not send, or a
// non-zero exit) restart the whole generation or stop the server with a
// *CrashLimitError, as OnCrashLimit says. Status.Pool reports all of it.
// In ModeFork the crashes are children's, and a restart is a Reload: new
// connections get children of the new generation, the running ones finish
// their connection.
//
// # Hooks
//
// Three, as unicorn's and gunicorn's, each run in one process:
//
//   - OnWorkerStart(ctx, slot), in each worker process, after it has
//     attached to the supervisor's objects and before it accepts (open a
//     database there, never in the supervisor: a connection does not
//     survive the re-exec). The worker is ready only once it returns; an
//     error or a panic is a start failure with that reason (the first
//     pool: Run returns it; later: the slot is retried with backoff while
//     the workers already serving go on).
//   - OnWorkerExit(WorkerExit), in the supervisor, each time a worker's end
//     is reaped: slot, pid, generation, exit status, whether it had served
//     and whether it was asked to stop, why.
//   - Ready(addr), in the supervisor, once, when the first pool serves.
//
// The supervisor's two run in its event loop and must not block.
//
// # Operating
//
// RequestTimeout and SlowTimeout are PHP-FPM's request_terminate_timeout
// and request_slowlog_timeout (reqtimeout.go, slowlog.go). A request is a
// connection for Handler and an HTTP request for HTTPHandler. A worker keeps
// its running requests oldest first and records the oldest's start in its
// slot; the supervisor's tick compares it with the limits. Past SlowTimeout
// it asks the worker over the queue, once per request, to write
// runtime.Stack of all its goroutines to SlowLog (or the Logger): no ptrace,
// and the request goes on. Past RequestTimeout it stops the worker: the
// worker closes the request's connection and drains, and it is killed a
// second later if still alive, then replaced. Status.WriteMetrics
// (metrics.go) writes the scoreboard and the supervisor's counters (worker
// starts and exits by why, slow and timed-out requests, the accept lock's
// wait and hold, the queue's depth) in the Prometheus text format.
//
// # Deploying
//
// The fields for running as a system service (deploy.go and the files it
// names): Addrs lists several addresses, each served by every worker (TCP
// "host:port" or "unix:/path", a Unix socket made with SocketMode and
// SocketOwner; a socket file nobody listens on is replaced, a live one
// refused). A process started by systemd's socket activation (LISTEN_PID is
// its pid) serves the sockets it was given instead and binds nothing. With
// NOTIFY_SOCKET set the supervisor tells systemd READY=1 once its first
// workers serve, RELOADING=1 and READY=1 around a SIGHUP, STOPPING=1, and
// WATCHDOG=1 every WATCHDOG_USEC/2 from its event loop. PIDFile is written
// by rename and held with an flock on PIDFile+".lock": a second server is
// refused while the first lives. User and Group run the workers as another
// user (the supervisor, which must start as root, keeps root), the IPC
// objects becoming theirs, mode 0600. DefaultStateDir is /run/ipc for root;
// StatusDir finds a system service's state from its workers' user too. A
// daemon that may be upgraded logs through Stderr, not os.Stderr: see
// there.
//
// # Modes
//
// Server.Mode chooses the design, among the four UNIX Network Programming
// ch.30 compares (mode.go); all run the same handlers under the same
// supervisor, scoreboard, signals and faults. ModePrefork (the zero value)
// is the one described above. ModeFork (fork.go): the supervisor accepts
// and starts a child per connection, the connection its descriptor 3; each
// child has a scoreboard slot while it lives, and its end is logged in the
// textbook's words (TextbookWords); at MaxChildren live children the
// supervisor stops accepting. Scale (SIGTTIN, SIGTTOU) moves that bound and
// Reload starts new children in a new generation. ModePass (pass.go, UNP's
// child05.c): the supervisor accepts and passes each socket with
// SCM_RIGHTS over the socketpair each worker got before it started, to the
// first idle worker; the worker serves that one client, unlike prefork's
// goroutine per connection, and writes a byte back when free; the
// per-worker counts are logged in the book's words on SIGUSR1 and at the
// stop. ModeReuseport (reuseport.go): each worker listens on its own
// SO_REUSEPORT socket, bound to the address the supervisor holds without
// listening; a retiring worker serves what is queued on its socket before
// closing it, since the kernel resets it otherwise (unless
// net.ipv4.tcp_migrate_req is 1).
//
// # Any Go server in the workers
//
// Server.Serve, if set, is run in each worker with a net.Listener whose
// Accept is the mode's accept path, in the calling goroutine (listener_api.go):
// the accept lock's turn in prefork mode, the worker's own socket in
// reuseport, the passed descriptor in pass, the one connection in fork. So
// net/http (ServeHTTP), gRPC or fasthttp run inside the workers unchanged.
//
// # Traps avoided
//
//   - The epoll herd behind the lock: the listener is never given to the Go
//     runtime in a worker (net.FileListener, even os.NewFile, would put it in
//     each worker's epoll set and wake every worker for every connection);
//     the supervisor also closes its Go listener and keeps a plain
//     descriptor, so it is not woken either. O_NONBLOCK, which every process
//     shares, is set once by the supervisor and never changed.
//   - A thread woken per connection: the accept loop blocks in system
//     calls (the lock, the poll), so a connection's goroutine made runnable
//     there would wait for the runtime to wake another thread to take it;
//     the loop yields first, and it runs on the accepting thread (half the
//     context switches per connection with Connection: close).
//   - Pdeathsig and threads: workers are started by package proc from one
//     thread locked for the life of the process.
//   - A wait4(-1) reaper: none; each child is reaped through its own pidfd.
//   - An early signal killing a fresh worker: control goes through the
//     queue, which keeps a message until the worker reads it.
//   - The leaked accept lock ("No space left on device: Couldn't create
//     accept lock"): every exit path the supervisor survives removes the
//     objects, its janitor removes them when it does not survive, and the
//     state file lets the next start remove what a kill of every process at
//     once left.
package prefork
