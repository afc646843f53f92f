package prefork

import (
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/ipc/proc"
	"github.com/ipctoolkit/ipc/msgq"
	"github.com/ipctoolkit/ipc/sem"
	"golang.org/x/sys/unix"
)

// The janitor is a small child of the supervisor (the worker role, started
// with janitorEnv instead of bootEnv) that outlives it: it holds nothing
// and blocks in one semop, waiting for the members semaphore to reach 0.
// The supervisor and every attached worker hold 1 of it with SEM_UNDO, so
// the kernel takes each back when its process ends, however it ends. When
// the supervisor stops normally it removes the objects itself and the
// janitor's wait fails with EIDRM: it exits. When the supervisor is killed
// with -9, its workers see their parent die and drain; when the last of them
// is gone, the janitor's wait completes and it removes the set and the
// queue (after checking their signature), then exits. So kill -9 of the
// supervisor alone leaks nothing, with or without the state file. Only a
// kill of every process at once (janitor included) leaves the objects,
// which the state file then names.
const janitorEnv = "IPC_PREFORK_JANITOR"

// janitorPause spaces the janitor's restarts should it die.
const janitorPause = time.Second

func (sv *supervisor) startJanitor(now time.Time) {
	if now.Before(sv.janitorAt) || sv.set == nil {
		return
	}
	sv.janitorAt = now.Add(janitorPause)
	cmd := proc.Command(sv.cfg.Role, sv.cfg.WorkerArgs...)
	cmd.Env = []string{janitorEnv + "=" + strconv.Itoa(sv.set.ID()) + "," + strconv.Itoa(sv.q.ID()) + "," +
		strconv.FormatUint(sv.sig, 10) + "," + strconv.Itoa(os.Getpid()) + "," + sv.state.Path}
	cmd.NoPdeathsig = true
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := sv.group.Start(cmd); err != nil {
		sv.log.Error("cannot start the janitor: a kill -9 of the supervisor would leave its IPC objects to the state file",
			"err", err, "retry_in", janitorPause)
		return
	}
	sv.janitor = cmd
}

func (sv *supervisor) janitorExited(e proc.Exit) {
	sv.janitor = nil
	if sv.stopping {
		return
	}
	sv.log.Warn("janitor exited; starting another", "pid", e.Cmd.Pid(), "status", e.Status.String())
	sv.startJanitor(time.Now())
}

// awaitJanitor reaps the janitor once the objects are gone (it exits when
// its wait fails), killing it after a second.
func (sv *supervisor) awaitJanitor(exits <-chan proc.Exit) {
	if sv.janitor == nil {
		return
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	for sv.janitor != nil {
		select {
		case e := <-exits:
			if e.Cmd == sv.janitor {
				sv.janitor = nil
			}
		case <-t.C:
			sv.janitor.Signal(syscall.SIGKILL)
		}
	}
}

// runJanitor is the janitor's whole life; it returns the exit status.
func runJanitor(log *slog.Logger) int {
	v := os.Getenv(janitorEnv)
	os.Unsetenv(janitorEnv)
	f := strings.SplitN(v, ",", 5)
	var n [4]uint64
	for i := range n {
		if len(f) != len(n)+1 {
			break
		}
		n[i], _ = strconv.ParseUint(f[i], 10, 64)
	}
	if len(f) != len(n)+1 || n[3] == 0 {
		log.Error("janitor cannot start", "err", "malformed "+janitorEnv+": "+strconv.Quote(v))
		return ExitFailed
	}
	semID, queueID, sig, supervisor := int(n[0]), int(n[1]), n[2], int(n[3])
	log = log.With("janitor", os.Getpid(), "supervisor", supervisor)
	// Terminal signals and SIGTERM are for the server, not for this.
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGTTIN, syscall.SIGTTOU)
	set, err := sem.FromID(semID)
	if err != nil {
		return 0 // already gone
	}
	for {
		err := set.Do(sem.WaitZero(semMembers, 0))
		if err == nil {
			break
		}
		if errors.Is(err, ipc.ErrRemoved) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EIDRM) {
			return 0 // the supervisor removed them
		}
		log.Error("janitor: cannot wait for the server's processes", "err", err)
		time.Sleep(time.Second)
	}
	// Nobody is left: the supervisor died without removing its objects.
	var removed, refused []string
	if err := verifySet(set, sig); err != nil {
		refused = append(refused, "semaphore set "+strconv.Itoa(semID)+": "+err.Error())
	} else if set.Remove() == nil {
		removed = append(removed, "semaphore set "+strconv.Itoa(semID))
	}
	if q, err := msgq.FromID(queueID); err == nil {
		if err := verifyQueue(q, sig); err != nil {
			refused = append(refused, "queue "+strconv.Itoa(queueID)+": "+err.Error())
		} else if q.Remove() == nil {
			removed = append(removed, "queue "+strconv.Itoa(queueID))
		}
	}
	log.Warn("removed the server's IPC objects", "removed", strings.Join(removed, ", "), "refused", strings.Join(refused, "; "),
		"why", "supervisor "+strconv.Itoa(supervisor)+" died without removing them and its last worker is gone")
	if len(removed) > 0 {
		removeStateFile(f[4], supervisor)
	}
	return 0
}
