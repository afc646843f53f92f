package prefork

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/ipctoolkit/ipc/ipc/proc"
	"golang.org/x/sys/unix"
)

// The slow log. PHP-FPM's master ptraces a slow child to read its PHP
// stack; a Go worker can say its own: asked over the queue (kindSlow), it
// takes runtime.Stack of every goroutine and writes it, with the request,
// in one write to the slow log, while the request goes on. The supervisor
// opens Server.SlowLog (O_APPEND, created 0600) before it starts anything,
// so that a bad path fails the start and workers running as another user
// can write it, and gives each worker the descriptor; each entry is one
// write(2) to a file opened for appending, so entries of several workers
// do not interleave. Without a SlowLog, the entry is a record of the
// server's Logger, the stacks in its "stacks" attribute.

// slowStackMax bounds the stacks of one entry: a worker of many
// connections has a goroutine for each (runtime.Stack also stops the world
// while it writes).
const slowStackMax = 256 << 10

// slowLogEnv names the descriptor a worker writes its slow log to.
const slowLogEnv = "IPC_PREFORK_SLOWLOG_FD"

// opsState is the supervisor's part of the operator's features.
type opsState struct {
	slowLog  *os.File
	children map[*child]*opsChild
}

// openSlowLog opens Server.SlowLog, if set.
func (sv *supervisor) openSlowLog() error {
	if sv.cfg.SlowLog == "" {
		return nil
	}
	f, err := os.OpenFile(sv.cfg.SlowLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return serverErr("open the slow log of", err, sv.cfg.SlowLog)
	}
	sv.ops.slowLog = f
	return nil
}

func (sv *supervisor) closeSlowLog() {
	if sv.ops.slowLog != nil {
		sv.ops.slowLog.Close()
		sv.ops.slowLog = nil
	}
}

// opsCmd gives a worker about to start the slow log's descriptor, after
// the files it already inherits.
func (sv *supervisor) opsCmd(cmd *proc.Cmd) {
	if sv.ops.slowLog == nil {
		return
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, sv.ops.slowLog)
	cmd.Env = append(cmd.Env, slowLogEnv+"="+strconv.Itoa(listenFD+len(cmd.ExtraFiles)-1))
}

// startOps starts the worker's part: its slow log, and the describer of
// its oldest request.
func (w *worker) startOps() {
	if v, ok := os.LookupEnv(slowLogEnv); ok {
		os.Unsetenv(slowLogEnv)
		if fd, err := strconv.Atoi(v); err == nil && fd > listenFD {
			// Not inherited by what the handler starts.
			unix.CloseOnExec(fd)
			w.slowLog = os.NewFile(uintptr(fd), "slow log")
		}
	}
	w.reqs.wake = make(chan struct{}, 1)
	go w.describer()
}

// writeSlow obeys kindSlow: the stacks of every goroutine go to the slow
// log with the request (which may have ended meanwhile: then nothing).
func (w *worker) writeSlow(id uint64) {
	q, what, ok := w.findRequest(id)
	if !ok {
		return
	}
	stacks, truncated := slowStacks()
	n := len(stacks)
	ran := time.Duration(now() - q.start).Round(time.Millisecond)
	goroutines := runtime.NumGoroutine()
	if w.slowLog == nil {
		w.log.Warn("slow request: the worker's goroutines", "request", what, "running_for", ran,
			"goroutines", goroutines, "truncated", truncated, "stacks", string(stacks))
		return
	}
	entry := make([]byte, 0, n+512)
	entry = time.Now().UTC().AppendFormat(entry, time.RFC3339Nano)
	entry = append(entry, " slow request in worker slot "...)
	entry = strconv.AppendInt(entry, int64(w.boot.slot), 10)
	entry = append(entry, " pid "...)
	entry = strconv.AppendInt(entry, int64(w.pid), 10)
	entry = append(entry, " generation "...)
	entry = strconv.AppendUint(entry, w.boot.gen, 10)
	entry = append(entry, ": "...)
	entry = append(entry, what...)
	entry = append(entry, ", running for "...)
	entry = append(entry, ran.String()...)
	entry = append(entry, "; "...)
	entry = strconv.AppendInt(entry, int64(goroutines), 10)
	entry = append(entry, " goroutines:\n"...)
	entry = append(entry, stacks...)
	if truncated {
		entry = append(entry, "\n... (truncated at "...)
		entry = strconv.AppendInt(entry, slowStackMax, 10)
		entry = append(entry, " bytes)\n"...)
	}
	entry = append(entry, '\n')
	if _, err := w.slowLog.Write(entry); err != nil {
		w.log.Error("cannot write the slow log", "err", err, "request", what)
	}
}

// slowStacks returns the stacks of every goroutine, those serving requests
// first, at most slowStackMax bytes of them, and whether that cut some.
func slowStacks() ([]byte, bool) {
	// Taken 4 times larger than kept, so that the requests' goroutines,
	// put first, survive the cut.
	buf := make([]byte, 4*slowStackMax)
	stacks := requestsFirst(buf[:runtime.Stack(buf, true)])
	if len(stacks) > slowStackMax {
		return stacks[:slowStackMax], true
	}
	return stacks, false
}

// requestsFirst reorders runtime.Stack's goroutines so that those serving
// a request (a raw handler's, net/http's per connection) come first, the
// worker's own machinery after: where the request is slow is what a
// reader looks for, and it is also what a truncated dump must keep.
func requestsFirst(stacks []byte) []byte {
	blocks := bytes.Split(stacks, []byte("\n\n"))
	out := make([]byte, 0, len(stacks))
	for _, first := range []bool{true, false} {
		for _, b := range blocks {
			if isRequest(b) == first {
				if len(out) > 0 {
					out = append(out, "\n\n"...)
				}
				out = append(out, b...)
			}
		}
	}
	return out
}

func isRequest(block []byte) bool {
	return bytes.Contains(block, []byte("prefork.(*worker).serveTracked(")) || bytes.Contains(block, []byte("net/http.(*conn).serve("))
}
