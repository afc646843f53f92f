package prefork

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// pidFile is the supervisor's pid file (Server.PIDFile), held for the
// server's life.
//
// Who holds it is decided by an exclusive flock on a companion file,
// PIDFile+".lock", never by reading the pid back: a lock cannot outlive its
// process (kill -9 releases it), so there is no stale-pid guesswork and no
// pid-reuse false alarm, and two servers started at the same moment cannot
// both win, as they can when each reads "no live pid" and writes its own.
// The lock is not taken on the pid file itself because that is replaced by
// rename on every write, so that a reader (systemd's PIDFile=, a script)
// never sees it empty or half written; a lock on a replaced inode would bind
// no one.
type pidFile struct {
	path string
	lock *os.File
	pid  int
}

// errPIDFileHeld is why a start fails when another live server holds the pid
// file.
var errPIDFileHeld = errors.New("a running server holds the pid file")

// takePIDFile takes the lock of path and writes this process's pid there;
// nil, nil when path is "".
func takePIDFile(path string) (*pidFile, error) {
	if path == "" {
		return nil, nil
	}
	const op = "start"
	lockPath := path + ".lock"
	var f *os.File
	for {
		var err error
		f, err = os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, serverErr(op, err, "open the pid file's lock "+lockPath)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			if err == unix.EWOULDBLOCK {
				detail := path
				if pid, ok := readPID(path); ok {
					detail += ": pid " + strconv.Itoa(pid)
				}
				return nil, serverErr(op, errPIDFileHeld, detail)
			}
			return nil, serverErr(op, err, "lock "+lockPath)
		}
		// The holder before us removes the lock file as it exits: if it
		// did so between our open and our flock, we hold the lock of a
		// file nobody else will open. Start again on the file now there.
		if sameFile(f, lockPath) {
			break
		}
		f.Close()
	}
	p := &pidFile{path: path, lock: f, pid: os.Getpid()}
	if err := writeFileAtomic(path, []byte(strconv.Itoa(p.pid)+"\n"), 0o644); err != nil {
		p.release()
		return nil, serverErr(op, err, "write the pid file "+path)
	}
	return p, nil
}

// release removes the pid file if it still names this process (after an
// upgrade it names the new supervisor, and is left alone), then the lock.
func (p *pidFile) release() {
	if p == nil {
		return
	}
	if pid, ok := readPID(p.path); ok && pid == p.pid {
		os.Remove(p.path)
	}
	if pid, ok := readPID(p.path + ".oldbin"); ok && pid == p.pid {
		os.Remove(p.path + ".oldbin")
	}
	if p.lock == nil {
		return // handed to an upgrade's new supervisor
	}
	// Removed before it is unlocked, so that whoever opens it next opens
	// a new one (see the retry in takePIDFile).
	if sameFile(p.lock, p.lock.Name()) {
		os.Remove(p.lock.Name())
	}
	p.lock.Close()
}

// toOldbin renames the pid file to PIDFile+".oldbin" and lets go of the
// lock, so that a new supervisor started by an upgrade can take the pid
// file (nginx's convention).
func (p *pidFile) toOldbin() error {
	if p == nil {
		return nil
	}
	if err := os.Rename(p.path, p.path+".oldbin"); err != nil {
		return err
	}
	if sameFile(p.lock, p.lock.Name()) {
		os.Remove(p.lock.Name())
	}
	p.lock.Close()
	p.lock = nil
	return nil
}

// takeBack undoes toOldbin after a failed upgrade: the lock is taken again
// and the pid file written again.
func (p *pidFile) takeBack(log interface{ Error(string, ...any) }) {
	if p == nil || p.lock != nil {
		return
	}
	np, err := takePIDFile(p.path)
	if err != nil {
		log.Error("cannot take the pid file back after a failed upgrade", "err", err)
		return
	}
	os.Remove(p.path + ".oldbin")
	*p = *np
}

// readPID reads a pid file: one decimal number and a newline.
func readPID(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, err == nil && pid > 0
}

// sameFile reports whether f is the file now at path.
func sameFile(f *os.File, path string) bool {
	var a, b unix.Stat_t
	if unix.Fstat(int(f.Fd()), &a) != nil || unix.Stat(path, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// writeFileAtomic writes a file under a temporary name in the same
// directory and renames it over path, so that a reader finds the old
// content or the new, never a part.
func writeFileAtomic(path string, b []byte, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
