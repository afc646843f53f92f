// Package bench measures each IPC mechanism of the module between two real
// processes, the way its C reference program (cref/cref.c, built by
// BuildRef) does, so that the two can be compared run for run: ping-pong
// round trips (sem, msgq, pipe, socketpair, shm with a semaphore handshake)
// and one-way streams (msgq, pipe, socketpair), plus shm copy bandwidth.
// Beside the package's own semaphore round trip it measures two bare Go
// loops of the same semop, raw and plain, and beside msgq's cases bare raw
// msgsnd/msgrcv loops, with nothing of the module in the way: the floor a
// wrapper is judged against. It is the engine of ipc
// bench; the partner process is this binary re-executed through package
// proc.
package bench

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipctoolkit/ipc/ipc/proc"
	"golang.org/x/sys/unix"
)

// Placement is where the two processes run: what decides the numbers more
// than anything else (waking a process on another, idle CPU costs tens of
// microseconds).
type Placement string

// The placements, as the C programs' PIN variable names them.
const (
	SameCPU  Placement = "same"  // both on CPU 0
	CrossCPU Placement = "cross" // parent on CPU 0, child on CPU 1
	AnyCPU   Placement = "any"   // the scheduler decides
)

// Mechanisms are the names Run accepts, in the order "all" runs them.
var Mechanisms = []string{"sem", "msgq", "pipe", "socketpair", "shm"}

// Config is what to measure and how.
type Config struct {
	Rounds int       // round trips per case; streams send 10 times as many messages or chunks, shm copy at most 20 copies
	Size   int       // bytes per message; 0 picks each pattern's sizes
	CPU    Placement // where the processes run
	// Repeat runs each case this many times (at least once) and reports
	// the median.
	Repeat int
	// Ref, if set, is the C reference program (see BuildRef): each case's
	// C counterpart runs right after each of its Go runs, with the same
	// placement and rounds, and the result gets the median C time and the
	// median of the per-run Go/C ratios.
	Ref string
	// Progress, if set, is told the name of each case as it starts.
	Progress func(name string, i, n int)
}

// Result is one measured case.
type Result struct {
	Mechanism string  `json:"mechanism"`
	Pattern   string  `json:"pattern"` // "pingpong", "stream" or "copy"
	Size      int     `json:"size"`
	Rounds    int     `json:"rounds"`
	NsPerOp   float64 `json:"ns_per_op"` // per round trip, message, chunk or copy
	OpsPerSec float64 `json:"ops_per_sec"`
	MBPerSec  float64 `json:"mb_per_sec"` // bytes carried one way, in 10^6 per second

	// CNsPerOp and Ratio (Go over C, lower is better) are set when
	// Config.Ref is.
	CNsPerOp *float64 `json:"c_ns_per_op,omitempty"`
	Ratio    *float64 `json:"ratio,omitempty"`
}

// A benchCase runs one measurement and returns the time its rounds took.
type benchCase struct {
	mech, pattern string
	size          int
	run           func(c Config, size int) (time.Duration, error)
}

func cases(mech string, cfg Config) ([]benchCase, error) {
	sizes := func(defaults ...int) []int {
		if cfg.Size > 0 {
			return []int{cfg.Size}
		}
		return defaults
	}
	var out []benchCase
	add := func(m, pattern string, run func(Config, int) (time.Duration, error), defaults ...int) {
		for _, s := range sizes(defaults...) {
			out = append(out, benchCase{m, pattern, s, run})
		}
	}
	want := func(m string) bool { return mech == "all" || mech == m }
	if !slices.Contains(Mechanisms, mech) && mech != "all" {
		return nil, fmt.Errorf("unknown mechanism %q: want one of sem, msgq, pipe, socketpair, shm or all", mech)
	}
	if want("sem") {
		out = append(out, benchCase{"sem", "pingpong", 0, semPingPong("split")})
		out = append(out, benchCase{"sem-combined", "pingpong", 0, semPingPong("combined")})
		out = append(out, benchCase{"sem-bare-raw", "pingpong", 0, barePingPong(true)})
		out = append(out, benchCase{"sem-bare-plain", "pingpong", 0, barePingPong(false)})
	}
	if want("msgq") {
		add("msgq", "pingpong", msgqPingPong, 64)
		add("msgq", "stream", msgqStream, 64, 1024, 8000)
		add("msgq-bare-raw", "pingpong", bareMsgqPingPong, 64)
		add("msgq-bare-raw", "stream", bareMsgqStream, 64, 1024, 8000)
	}
	if want("pipe") {
		add("pipe", "pingpong", fdPingPong("pipe"), 64)
		add("pipe", "stream", fdStream("pipe"), 64<<10)
	}
	if want("socketpair") {
		add("socketpair", "pingpong", fdPingPong("socketpair"), 64)
		add("socketpair", "stream", fdStream("socketpair"), 64<<10)
	}
	if want("shm") {
		add("shm", "pingpong", shmPingPong, 64)
		add("shm", "copy", shmCopy, 64<<20)
	}
	return out, nil
}

// Run measures mech ("all" for every mechanism) with cfg.
func Run(mech string, cfg Config) ([]Result, error) {
	switch cfg.CPU {
	case SameCPU, CrossCPU, AnyCPU:
	default:
		return nil, fmt.Errorf("unknown placement %q: want same, cross or any", cfg.CPU)
	}
	switch {
	case cfg.Rounds < 1:
		return nil, errors.New("rounds must be at least 1")
	case cfg.Size < 0:
		return nil, errors.New("size must not be negative")
	case cfg.Repeat < 0:
		return nil, errors.New("repeat must not be negative")
	case cfg.CPU == CrossCPU && runtime.NumCPU() < 2:
		return nil, errors.New("cross placement needs two CPUs")
	}
	repeat := max(cfg.Repeat, 1)
	all, err := cases(mech, cfg)
	if err != nil {
		return nil, err
	}
	// The measuring goroutine keeps one thread, which is the one pinned.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := pin(cfg.CPU, false); err != nil {
		return nil, err
	}
	defer unpin()

	aborted.Store(false)
	var results []Result
	for i, bc := range all {
		if aborted.Load() {
			return results, errAborted
		}
		if cfg.Progress != nil {
			cfg.Progress(bc.mech+" "+bc.pattern+sizeText(bc.size), i+1, len(all))
		}
		c := cfg
		switch bc.pattern {
		case "copy":
			// Each round copies the whole segment: a few suffice.
			c.Rounds = min(c.Rounds, maxCopies)
		case "stream":
			// A message of a stream costs a round trip's tenth or less:
			// as few would measure the start more than the stream.
			c.Rounds *= streamFactor
		}
		r := Result{Mechanism: bc.mech, Pattern: bc.pattern, Size: bc.size, Rounds: c.Rounds}
		// Go and C take turns, so that a machine whose speed drifts (a
		// shared VM) slows both alike; the medians are reported.
		var goNs, cNs, ratios []float64
		for range repeat {
			d, err := bc.run(c, bc.size)
			if err != nil {
				return results, fmt.Errorf("%s %s: %w", bc.mech, bc.pattern, err)
			}
			ns := float64(d.Nanoseconds()) / float64(c.Rounds)
			goNs = append(goNs, ns)
			if cfg.Ref == "" {
				continue
			}
			// The C program places itself; it must not inherit this
			// thread's CPU.
			unpin()
			cns, err := runC(cfg.Ref, &r, cfg.CPU)
			if perr := pin(cfg.CPU, false); err == nil {
				err = perr
			}
			switch {
			case err != nil:
				return results, fmt.Errorf("%s %s: C reference: %w", bc.mech, bc.pattern, err)
			case cns > 0:
				cNs = append(cNs, cns)
				ratios = append(ratios, ns/cns)
			}
		}
		if aborted.Load() {
			return results, errAborted
		}
		r.NsPerOp = median(goNs)
		r.OpsPerSec = 1e9 / r.NsPerOp
		r.MBPerSec = r.OpsPerSec * float64(bc.size) / 1e6
		if len(cNs) > 0 {
			cns, ratio := median(cNs), median(ratios)
			r.CNsPerOp, r.Ratio = &cns, &ratio
		}
		results = append(results, r)
	}
	return results, nil
}

// median of a few measurements; it sorts xs.
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func sizeText(size int) string {
	if size == 0 {
		return ""
	}
	return " " + strconv.Itoa(size) + " B"
}

// maxCopies caps the rounds of the shm copy.
const maxCopies = 20

// streamFactor is how many messages or chunks a stream sends per round.
const streamFactor = 10

// warmup is how many untimed rounds come first, as in the C programs, so
// that neither the child's start nor cold caches are measured.
func warmup(rounds int) int { return rounds/20 + 100 }

var savedAffinity *unix.CPUSet

// pin places the calling thread for the placement; child says which side
// of a cross placement it is.
func pin(p Placement, child bool) error {
	if p == AnyCPU {
		return nil
	}
	if !child {
		var old unix.CPUSet
		if err := unix.SchedGetaffinity(0, &old); err == nil {
			savedAffinity = &old
		}
	}
	cpu := 0
	if p == CrossCPU && child {
		cpu = 1
	}
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin to CPU %d: %w", cpu, err)
	}
	return nil
}

func unpin() {
	if savedAffinity != nil {
		_ = unix.SchedSetaffinity(0, savedAffinity)
		savedAffinity = nil
	}
}

// partner starts the other side of a case: this binary, re-executed in
// the role that runs part(args). If the partner fails, the case's objects
// are removed (as Abort would), which wakes this side from any call
// waiting for it; descriptors need nothing, as the partner's end closes
// with it.
func partner(cfg Config, part string, files []*os.File, args ...string) (*partnerProc, error) {
	cmd := proc.Command(childRole, append([]string{part, string(cfg.CPU), strconv.Itoa(cfg.Rounds)}, args...)...)
	cmd.ExtraFiles = files
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &partnerProc{cmd: cmd, done: make(chan struct{})}
	forget := onAbort(func() { _ = cmd.Signal(unix.SIGKILL) })
	go func() {
		p.status, p.err = cmd.Wait()
		forget()
		if p.err != nil || !p.status.Success() {
			undoAll()
		}
		close(p.done)
	}()
	return p, nil
}

// partnerProc is a running partner.
type partnerProc struct {
	cmd    *proc.Cmd
	done   chan struct{}
	status proc.Status
	err    error
}

// finish waits for the partner (killing it if the measurement failed) and
// turns a failed one into an error.
func (p *partnerProc) finish(measured error) error {
	if measured != nil {
		_ = p.cmd.Signal(unix.SIGKILL)
	}
	<-p.done
	switch {
	case p.err != nil:
		return p.err
	case !p.status.Success() && measured == nil:
		return fmt.Errorf("partner process %s", p.status)
	}
	return measured
}

// timed runs warm untimed rounds and then rounds timed ones of one.
func timed(warm, rounds int, one func() error) (time.Duration, error) {
	for range warm {
		if err := one(); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	for range rounds {
		if err := one(); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// What Abort undoes: the objects and partner processes of the running case
// (only one case runs at a time).
var (
	abortMu   sync.Mutex
	abortNext int
	abortFns  = map[int]func(){}
	aborted   atomic.Bool
)

var errAborted = errors.New("aborted")

// Abort stops a Run in progress from another goroutine (a signal
// handler's): it removes the objects the run has made, which wakes its
// blocked calls, and kills its partner process; Run then returns an error.
// Without it a run killed by a signal would leave its objects behind.
func Abort() {
	aborted.Store(true)
	undoAll()
}

// undoAll removes the running case's objects and kills its partner.
func undoAll() {
	abortMu.Lock()
	defer abortMu.Unlock()
	for _, fn := range abortFns {
		fn()
	}
}

// onAbort registers fn for Abort and returns what unregisters it.
func onAbort(fn func()) (forget func()) {
	abortMu.Lock()
	defer abortMu.Unlock()
	if aborted.Load() {
		// Made after Abort ran: undone at once, so the case fails fast.
		fn()
	}
	id := abortNext
	abortNext++
	abortFns[id] = fn
	return func() {
		abortMu.Lock()
		defer abortMu.Unlock()
		delete(abortFns, id)
	}
}

// owned registers remove, the removal of an object a case made, for
// Abort, and returns it for the case to defer.
func owned(remove func() error) func() {
	forget := onAbort(func() { _ = remove() })
	return func() {
		forget()
		_ = remove()
	}
}
