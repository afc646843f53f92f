// Package benchserve measures the server designs as UNIX Network
// Programming ch.30 does (`ipc bench serve`): for each design it starts the
// server as a process of its own (a prefork supervisor with its workers, or
// the one-process baseline), lets client processes open C concurrent streams
// of N connections, each asking for B bytes and reading them, and reports
// the wall time, the rate, the server's CPU time (the supervisor's and every
// child's, reaped or not), the CPU per connection, the failed connections,
// and each worker's share of the connections, read from the scoreboard.
package benchserve

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ipctoolkit/ipc/ipc/prefork"
	"github.com/ipctoolkit/ipc/ipc/proc"
)

// Config is one run. The zero values of Clients, Connections, Bytes and
// Workers take UNP's: 5 streams of 500 connections, 4000 bytes each (UNP
// asks for 4000), 2 workers.
type Config struct {
	// Modes are the designs to measure, in order; nil means Modes.
	Modes []string
	// Clients is the number of concurrent streams, Connections the
	// connections each opens one after the other, Bytes what each asks for.
	Clients, Connections, Bytes int
	// Workers is the number of worker processes of a prefork design.
	Workers int
	// Progress, if set, is told what runs now: the mode, its place in the
	// run, and the connections served so far of the total (where the
	// server can say, else -1), a few times a second.
	Progress func(mode string, i, n int, served, total int)
}

// Defaults of Config.
const (
	DefaultClients     = 5
	DefaultConnections = 500
	DefaultBytes       = 4000
	DefaultWorkers     = 2
)

// Report is a run's results.
type Report struct {
	Clients     int `json:"clients"`
	Connections int `json:"connections_per_client"`
	Bytes       int `json:"bytes"`
	Workers     int `json:"workers"`
	// ClientProcesses is how many processes the streams were spread over.
	ClientProcesses int `json:"client_processes"`
	// CPUs is the number of processors the machine has.
	CPUs    int      `json:"cpus"`
	Results []Result `json:"results"`
}

// Result is one design's measurement.
type Result struct {
	Mode string `json:"mode"`
	// Workers is the number of worker processes: 1 for single, and for
	// fork the children started during the load.
	Workers int `json:"workers"`
	// Connections is what the clients opened; Failed, those that did not
	// get their whole reply; Served, those the server counted.
	Connections int            `json:"connections"`
	Failed      int            `json:"failed"`
	Errors      map[string]int `json:"errors,omitempty"`
	Served      uint64         `json:"served"`
	// Wall is the time from the clients' start to the last one's end.
	WallSeconds float64 `json:"wall_seconds"`
	PerSecond   float64 `json:"connections_per_second"`
	// CPU is the server's processor time during the load: the supervisor
	// and all its children, whether they still run or were reaped
	// (/proc/PID/stat, to a clock tick per process). CPUPerConnection is
	// CPU over the connections opened, in microseconds.
	CPU              CPU     `json:"cpu"`
	CPUPerConnection float64 `json:"cpu_us_per_connection"`
	// LifeCPU is the server's whole life's processor time, its start and
	// stop included (getrusage RUSAGE_CHILDREN across its reaping, to the
	// microsecond).
	LifeCPU CPU `json:"life_cpu"`
	// Shares is how the connections were spread over the workers.
	Shares Shares `json:"shares"`
	// LoadAverage is the machine's when the design started: the machine
	// may be shared, and this says how much.
	LoadAverage [3]float64 `json:"load_average"`
}

// Shares is each worker's count of connections during the load, from the
// scoreboard (slot order), and their spread. Exited counts connections of
// workers that ended during the load: in fork mode every connection's
// (PerWorker is empty there, and the share of each child is one).
type Shares struct {
	PerWorker []uint64 `json:"per_worker"`
	Exited    uint64   `json:"exited,omitempty"`
	Min       uint64   `json:"min"`
	Max       uint64   `json:"max"`
	Stddev    float64  `json:"stddev"`
}

// Bounds of a Config.
const (
	MaxClients     = 1000
	MaxConnections = 10_000_000
	MaxWorkers     = 256
)

// Check reports what is wrong with cfg, before anything starts. Unlike
// Run, it takes a 0 for what it is, not for the default.
func (cfg Config) Check() error {
	if cfg.Modes == nil {
		cfg.Modes = Modes
	}
	switch {
	case cfg.Clients < 1 || cfg.Clients > MaxClients:
		return fmt.Errorf("--clients must be between 1 and %d, not %d", MaxClients, cfg.Clients)
	case cfg.Connections < 1 || cfg.Connections > MaxConnections:
		return fmt.Errorf("--connections must be between 1 and %d, not %d", MaxConnections, cfg.Connections)
	case cfg.Bytes < 1 || cfg.Bytes > MaxBytes:
		return fmt.Errorf("--bytes must be between 1 and %d, not %d", MaxBytes, cfg.Bytes)
	case cfg.Workers < 1 || cfg.Workers > MaxWorkers:
		return fmt.Errorf("--workers must be between 1 and %d, not %d", MaxWorkers, cfg.Workers)
	}
	return CheckModes(cfg.Modes)
}

func (cfg Config) withDefaults() Config {
	if cfg.Modes == nil {
		cfg.Modes = Modes
	}
	if cfg.Clients == 0 {
		cfg.Clients = DefaultClients
	}
	if cfg.Connections == 0 {
		cfg.Connections = DefaultConnections
	}
	if cfg.Bytes == 0 {
		cfg.Bytes = DefaultBytes
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultWorkers
	}
	return cfg
}

// clientProcs is how many processes the streams are spread over: one per
// processor (at least two), never more than the streams. More would only
// add processes the scheduler must juggle on the machine it shares with the
// server.
func clientProcs(streams int) int { return min(streams, max(2, runtime.NumCPU())) }

// Run measures every design of cfg, one after the other, and stops at the
// first that fails to run (a server that cannot start, a client that
// dies); failed connections are results, not errors. A done ctx stops the
// design under way: its processes are stopped and reaped, and Run returns
// ctx.Err().
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	rep := &Report{
		Clients: cfg.Clients, Connections: cfg.Connections, Bytes: cfg.Bytes, Workers: cfg.Workers,
		ClientProcesses: clientProcs(cfg.Clients), CPUs: runtime.NumCPU(), Results: []Result{},
	}
	for i, mode := range cfg.Modes {
		var progress func(served, total int)
		if cfg.Progress != nil {
			progress = func(served, total int) { cfg.Progress(mode, i+1, len(cfg.Modes), served, total) }
		}
		r, err := runMode(ctx, cfg, mode, progress)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("%s: %w", mode, err)
		}
		rep.Results = append(rep.Results, r)
	}
	return rep, nil
}

// startTimeout bounds a server's start and the clients' (each is a Go
// binary started again: milliseconds, unless the machine is very busy).
const startTimeout = 30 * time.Second

// server is the process under test.
type server struct {
	mode  string
	cmd   *proc.Cmd
	out   *bufio.Reader // its stdout: the address, then for single "served N"
	outR  *os.File
	dir   string // its state directory, and its log
	log   string
	addr  string
	board bool // it has a scoreboard (every design but single)
}

func runMode(ctx context.Context, cfg Config, mode string, progress func(served, total int)) (r Result, err error) {
	r = Result{Mode: mode, Workers: cfg.Workers, Connections: cfg.Clients * cfg.Connections, LoadAverage: loadAverage()}
	if mode == "single" {
		r.Workers = 1
	}
	workers := cfg.Workers
	if mode == "fork" {
		workers = forkChildren(cfg.Clients)
	}
	srv, err := startServer(ctx, mode, workers)
	if err != nil {
		return r, err
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.cmd.Signal(syscall.SIGTERM)
			srv.cmd.Wait()
		}
		srv.outR.Close()
		os.RemoveAll(srv.dir)
	}()

	var before prefork.Status
	if srv.board {
		if before, err = srv.status(); err != nil {
			return r, err
		}
	}
	clients, err := startClients(ctx, srv.addr, cfg)
	if err != nil {
		return r, err
	}
	cpu0 := treeCPU(srv.cmd.Pid())
	start := time.Now()
	results, err := clients.run(ctx, func() {
		if progress == nil {
			return
		}
		served := -1
		if srv.board {
			if st, err := srv.status(); err == nil {
				served = int(st.Total.Connections - before.Total.Connections)
			}
		}
		progress(served, r.Connections)
	})
	r.WallSeconds = time.Since(start).Seconds()
	if err != nil {
		return r, err
	}
	for _, cr := range results {
		r.Failed += cr.Failed
		for k, v := range cr.Errors {
			if r.Errors == nil {
				r.Errors = map[string]int{}
			}
			r.Errors[k] += v
		}
	}
	if r.WallSeconds > 0 {
		r.PerSecond = float64(r.Connections-r.Failed) / r.WallSeconds
	}

	if srv.board {
		// The clients are done, but the server may still be closing the
		// last connections (a fork child exiting): wait for it to be idle
		// so that its work is all counted.
		after, err := srv.settle(ctx)
		if err != nil {
			return r, err
		}
		r.Shares = shares(before, after)
		r.Served = after.Total.Connections - before.Total.Connections
		if mode == "fork" {
			// A child per connection: its share is one, always. Workers
			// says how many were started.
			r.Workers = int(after.Forked - before.Forked)
			r.Shares = Shares{PerWorker: []uint64{}, Exited: r.Shares.Exited + sum(r.Shares.PerWorker)}
			if r.Served > 0 {
				r.Shares.Min, r.Shares.Max = 1, 1
			}
		}
	}
	r.CPU = treeCPU(srv.cmd.Pid()).sub(cpu0)
	r.CPUPerConnection = r.CPU.Total / float64(r.Connections) * 1e6

	life0 := childrenCPU()
	stopped = true
	if err := srv.stop(); err != nil {
		return r, err
	}
	r.LifeCPU = childrenCPU().sub(life0)
	if !srv.board {
		// The baseline counts what it served itself, and says so last.
		n, err := srv.served()
		if err != nil {
			return r, err
		}
		r.Served = n
		r.Shares = shares(prefork.Status{}, prefork.Status{Workers: []prefork.WorkerStatus{{Connections: n}}})
	}
	return r, nil
}

func startServer(ctx context.Context, mode string, workers int) (*server, error) {
	dir, err := os.MkdirTemp("", "ipc-bench-serve-")
	if err != nil {
		return nil, err
	}
	srv := &server{mode: mode, dir: dir, log: filepath.Join(dir, "server.log"), board: mode != "single"}
	logf, err := os.Create(srv.log)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer w.Close()
	if srv.board {
		srv.cmd = proc.Command(serverRole, mode, strconv.Itoa(workers), dir)
	} else {
		srv.cmd = proc.Command(singleRole)
	}
	srv.cmd.Stdout, srv.cmd.Stderr = w, logf
	// A bench killed with -9 leaves a server that stops by itself and
	// removes its objects; its own process group keeps a terminal's ^C
	// for the bench, which stops it in order.
	srv.cmd.Pdeathsig = syscall.SIGTERM
	srv.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := srv.cmd.Start(); err != nil {
		r.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	srv.outR, srv.out = r, bufio.NewReader(r)
	line := make(chan string, 1)
	go func() {
		s, _ := srv.out.ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	fail := func(why string) (*server, error) {
		srv.cmd.Signal(syscall.SIGTERM)
		srv.cmd.Wait()
		r.Close()
		err := fmt.Errorf("the server %s%s", why, srv.logTail())
		os.RemoveAll(dir)
		return nil, err
	}
	select {
	case srv.addr = <-line:
	case <-time.After(startTimeout):
		return fail("did not start within " + startTimeout.String())
	case <-ctx.Done():
		return fail("was stopped")
	}
	if srv.addr == "" {
		return fail("ended before it served")
	}
	return srv, nil
}

// logTail is the end of the server's log, for an error.
func (s *server) logTail() string {
	b, _ := os.ReadFile(s.log)
	t := strings.TrimSpace(string(b))
	if t == "" {
		return ""
	}
	lines := strings.Split(t, "\n")
	return ": " + strings.Join(lines[max(0, len(lines)-3):], " | ")
}

// status reads the server's scoreboard.
func (s *server) status() (prefork.Status, error) {
	states, err := prefork.States(s.dir)
	if err != nil {
		return prefork.Status{}, err
	}
	for _, st := range states {
		if st.PID == s.cmd.Pid() {
			return st.Status()
		}
	}
	return prefork.Status{}, errors.New("the server's state file is missing")
}

// settleTimeout bounds the wait for a server to close its last
// connections once the clients are done.
const settleTimeout = 5 * time.Second

// settle waits until the server has no connection open and returns its
// scoreboard then.
func (s *server) settle(ctx context.Context) (prefork.Status, error) {
	deadline := time.Now().Add(settleTimeout)
	for {
		st, err := s.status()
		if err != nil {
			return st, err
		}
		var active uint64
		for _, w := range st.Workers {
			active += w.Active
		}
		if active == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return st, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop stops the server gracefully and reaps it: it must end well.
func (s *server) stop() error {
	if err := s.cmd.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	st, err := s.cmd.Wait()
	if err != nil {
		return err
	}
	if !st.Exited() || st.ExitCode() != 0 {
		return fmt.Errorf("the server %s%s", st, s.logTail())
	}
	return nil
}

// served reads the "served N" the baseline prints as it stops.
func (s *server) served() (uint64, error) {
	line, _ := s.out.ReadString('\n')
	n, ok := strings.CutPrefix(strings.TrimSpace(line), "served ")
	v, err := strconv.ParseUint(n, 10, 64)
	if !ok || err != nil {
		return 0, fmt.Errorf("the server did not say what it served (%q)%s", line, s.logTail())
	}
	return v, nil
}

// shares is each worker's connections between two scoreboards: a worker
// present in both counts the difference, one that started meanwhile all
// its connections.
func shares(before, after prefork.Status) Shares {
	was := map[int]uint64{}
	for _, w := range before.Workers {
		was[w.PID] = w.Connections
	}
	var sh Shares
	sh.PerWorker = []uint64{}
	for _, w := range after.Workers {
		sh.PerWorker = append(sh.PerWorker, w.Connections-was[w.PID])
	}
	sh.Exited = after.Exited.Connections - before.Exited.Connections
	if len(sh.PerWorker) == 0 {
		return sh
	}
	sh.Min, sh.Max = slices.Min(sh.PerWorker), slices.Max(sh.PerWorker)
	var sum, sq float64
	for _, n := range sh.PerWorker {
		sum += float64(n)
	}
	mean := sum / float64(len(sh.PerWorker))
	for _, n := range sh.PerWorker {
		sq += (float64(n) - mean) * (float64(n) - mean)
	}
	sh.Stddev = math.Sqrt(sq / float64(len(sh.PerWorker)))
	return sh
}

func sum(v []uint64) uint64 {
	var s uint64
	for _, x := range v {
		s += x
	}
	return s
}

// clients are the client processes of one design, started and ready.
type clients struct {
	procs []*clientProc
}

type clientProc struct {
	cmd   *proc.Cmd
	in    *os.File // a byte here starts it
	out   *bufio.Reader
	outR  *os.File
	ready chan error
}

func startClients(ctx context.Context, addr string, cfg Config) (*clients, error) {
	n := clientProcs(cfg.Clients)
	cs := &clients{}
	for i := range n {
		// The streams spread as evenly as they go: the first ones take
		// one more.
		streams := cfg.Clients / n
		if i < cfg.Clients%n {
			streams++
		}
		inR, inW, err := os.Pipe()
		if err != nil {
			cs.kill()
			return nil, err
		}
		outR, outW, err := os.Pipe()
		if err != nil {
			inR.Close()
			inW.Close()
			cs.kill()
			return nil, err
		}
		cmd := proc.Command(clientRole, addr, strconv.Itoa(streams), strconv.Itoa(cfg.Connections), strconv.Itoa(cfg.Bytes))
		cmd.Stdin, cmd.Stdout = inR, outW
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		err = cmd.Start()
		inR.Close()
		outW.Close()
		if err != nil {
			inW.Close()
			outR.Close()
			cs.kill()
			return nil, err
		}
		cp := &clientProc{cmd: cmd, in: inW, out: bufio.NewReader(outR), outR: outR, ready: make(chan error, 1)}
		cs.procs = append(cs.procs, cp)
		go func() {
			line, err := cp.out.ReadString('\n')
			if err == nil && strings.TrimSpace(line) != "ready" {
				err = fmt.Errorf("said %q", line)
			}
			cp.ready <- err
		}()
	}
	timeout := time.After(startTimeout)
	for _, cp := range cs.procs {
		select {
		case err := <-cp.ready:
			if err != nil {
				cs.kill()
				return nil, fmt.Errorf("a client did not start: %v", err)
			}
		case <-timeout:
			cs.kill()
			return nil, errors.New("the clients did not start within " + startTimeout.String())
		case <-ctx.Done():
			cs.kill()
			return nil, ctx.Err()
		}
	}
	return cs, nil
}

// kill ends and reaps every client.
func (cs *clients) kill() {
	for _, cp := range cs.procs {
		cp.cmd.Signal(syscall.SIGKILL)
	}
	cs.reap()
}

func (cs *clients) reap() {
	for _, cp := range cs.procs {
		cp.cmd.Wait()
		cp.in.Close()
		cp.outR.Close()
	}
}

// progressEvery is how often a run's progress is told.
const progressEvery = 250 * time.Millisecond

// run starts every client at once and collects their results; tick is
// called every progressEvery meanwhile. The clients are reaped when it
// returns.
func (cs *clients) run(ctx context.Context, tick func()) ([]clientResult, error) {
	type answer struct {
		res clientResult
		err error
	}
	answers := make(chan answer, len(cs.procs))
	var wg sync.WaitGroup
	for _, cp := range cs.procs {
		if _, err := cp.in.Write([]byte{'g'}); err != nil {
			cs.kill()
			return nil, fmt.Errorf("cannot start a client: %v", err)
		}
	}
	for _, cp := range cs.procs {
		wg.Go(func() {
			var a answer
			line, err := cp.out.ReadBytes('\n')
			if err != nil {
				a.err = fmt.Errorf("a client ended without its results: %v", err)
			} else if err := json.Unmarshal(line, &a.res); err != nil {
				a.err = fmt.Errorf("a client's results do not parse: %v", err)
			}
			answers <- a
		})
	}
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	var out []clientResult
	for len(out) < len(cs.procs) {
		select {
		case a := <-answers:
			if a.err != nil {
				cs.kill()
				return nil, a.err
			}
			out = append(out, a.res)
		case <-t.C:
			tick()
		case <-ctx.Done():
			cs.kill()
			return nil, ctx.Err()
		}
	}
	wg.Wait()
	cs.reap()
	for _, cp := range cs.procs {
		if st, _ := cp.cmd.Wait(); !st.Exited() || st.ExitCode() != 0 {
			return nil, fmt.Errorf("a client %s", st)
		}
	}
	return out, nil
}
