package prefork

import (
	"bytes"
	"os"
	"strconv"
	"time"
)

// A stopped accept-lock holder is a hung lock: SEM_UNDO gives the lock back
// when its holder dies, not when it is stopped, and every accept waits. A
// worker stopped while it waits for the lock becomes such a holder too: the
// kernel completes a waiter's semop on its behalf when the lock is released
// (ipc/sem.c performs the operation for the sleeper), stopped or not.
//
// So every tick the supervisor reads who holds the lock: when its value is
// 0, the last process to operate on it (GETPID) took it. It records the
// holder and since when in the scoreboard's header, and kills a holder that
// /proc/PID/stat shows stopped for stoppedHolderLimit, or whose heartbeat
// is older than hungHolderLimit (a running holder beats at least every
// second while it polls): independent of --timeout, so accepting resumes
// within about a second.
const (
	stoppedHolderLimit = 300 * time.Millisecond
	hungHolderLimit    = 2500 * time.Millisecond
)

type holderWatch struct {
	pid          int
	locks        uint64
	since        time.Time
	stoppedSince time.Time
}

func (sv *supervisor) watchLock(now time.Time) {
	if sv.cfg.Accept == AcceptShared || sv.set == nil {
		return
	}
	h := &sv.holder
	var c *child
	if v, err := sv.set.Value(semLock); err == nil && v == 0 {
		if pid, err := sv.set.LastPID(semLock); err == nil {
			c = sv.childByPID(pid)
		}
	}
	if c == nil {
		if h.pid != 0 {
			*h = holderWatch{}
			sv.board.hdr[hHolder].Store(0)
			sv.board.hdr[hHolderSince].Store(0)
		}
		return
	}
	w := &sv.board.slots[c.slot.i]
	if locks := w[wLocks].Load(); c.pid != h.pid || locks != h.locks {
		*h = holderWatch{pid: c.pid, locks: locks, since: now}
		sv.board.hdr[hHolder].Store(uint64(c.pid))
		sv.board.hdr[hHolderSince].Store(uint64(h.since.UnixNano()))
	}
	if c.killed {
		return
	}
	if procStopped(c.pid) {
		if h.stoppedSince.IsZero() {
			h.stoppedSince = now
		}
		if d := now.Sub(h.stoppedSince); d >= stoppedHolderLimit {
			sv.kill(c, "stopped while holding the accept lock (for "+d.Round(time.Millisecond).String()+
				"; holding since "+now.Sub(h.since).Round(time.Millisecond).String()+")")
		}
		return
	}
	h.stoppedSince = time.Time{}
	beat := time.Unix(0, int64(w[wHeartbeat].Load()))
	if quiet := now.Sub(beat); quiet >= hungHolderLimit && now.Sub(h.since) >= hungHolderLimit {
		c.hung = true
		sv.kill(c, "hung holding the accept lock: no heartbeat for "+quiet.Round(time.Millisecond).String())
	}
}

func (sv *supervisor) childByPID(pid int) *child {
	if pid <= 0 {
		return nil
	}
	for _, s := range sv.slots {
		if s.c != nil && s.c.pid == pid {
			return s.c
		}
	}
	return nil
}

// procStopped reports whether /proc/PID/stat shows the process stopped by
// a signal (T) or by a tracer (t).
func procStopped(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && len(b) > i+2 && (b[i+2] == 'T' || b[i+2] == 't')
}
