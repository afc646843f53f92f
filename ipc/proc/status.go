package proc

import (
	"strconv"
	"syscall"
)

// Status is how a child ended, or a stop or continue it went through: a wait
// status as the kernel reports it, with the pid it is about.
type Status struct {
	pid int
	ws  syscall.WaitStatus
}

// MakeStatus wraps a wait status obtained elsewhere (from syscall.Wait4, an
// os.ProcessState), so it prints and decodes like this package's own.
func MakeStatus(pid int, ws syscall.WaitStatus) Status { return Status{pid: pid, ws: ws} }

// Pid is the child the status is about.
func (s Status) Pid() int { return s.pid }

// WaitStatus is the raw status, for code that already speaks syscall.
func (s Status) WaitStatus() syscall.WaitStatus { return s.ws }

// Exited reports whether the child ended by calling exit (or returning from
// its role).
func (s Status) Exited() bool { return s.ws.Exited() }

// ExitCode is the child's exit status, or -1 if it did not exit.
func (s Status) ExitCode() int {
	if !s.ws.Exited() {
		return -1
	}
	return s.ws.ExitStatus()
}

// Signaled reports whether a signal killed the child.
func (s Status) Signaled() bool { return s.ws.Signaled() }

// Signal is the signal that killed the child, or 0.
func (s Status) Signal() syscall.Signal {
	if !s.ws.Signaled() {
		return 0
	}
	return s.ws.Signal()
}

// CoreDump reports whether the kernel wrote a core file when the signal
// killed the child (RLIMIT_CORE and core_pattern decide whether it can).
func (s Status) CoreDump() bool { return s.ws.Signaled() && s.ws.CoreDump() }

// Stopped reports whether the status is a stop (SIGSTOP, SIGTSTP, ...)
// rather than an end.
func (s Status) Stopped() bool { return s.ws.Stopped() }

// StopSignal is the signal that stopped the child, or 0.
func (s Status) StopSignal() syscall.Signal {
	if !s.ws.Stopped() {
		return 0
	}
	return s.ws.StopSignal()
}

// Continued reports whether the status is a resumption by SIGCONT.
func (s Status) Continued() bool { return s.ws.Continued() }

// Final reports whether the status is the child's last: it exited or was
// killed. Stops and continues are not final.
func (s Status) Final() bool { return s.ws.Exited() || s.ws.Signaled() }

// Success reports whether the child exited with status 0.
func (s Status) Success() bool { return s.ws.Exited() && s.ws.ExitStatus() == 0 }

// String says what happened as a shell would: "exited with status 3",
// "killed by signal 15 (terminated)", "killed by signal 11 (segmentation
// fault), core dumped", "stopped by signal 19 (stopped (signal))",
// "continued".
func (s Status) String() string {
	switch {
	case s.Exited():
		return "exited with status " + strconv.Itoa(s.ExitCode())
	case s.Signaled():
		str := "killed by " + describeSignal(s.Signal())
		if s.CoreDump() {
			str += ", core dumped"
		}
		return str
	case s.Stopped():
		return "stopped by " + describeSignal(s.StopSignal())
	case s.Continued():
		return "continued"
	}
	return "unknown wait status 0x" + strconv.FormatUint(uint64(s.ws), 16)
}

func describeSignal(sig syscall.Signal) string {
	return "signal " + strconv.Itoa(int(sig)) + " (" + sig.String() + ")"
}
