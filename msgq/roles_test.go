package msgq_test

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/ipc/proc"
	"github.com/ipctoolkit/ipc/msgq"
	"golang.org/x/sys/unix"
)

// Children of the tests. "op" runs one operation, usually as nobody, and
// prints "ok" or the errno's name; the proc roles talk to the parent
// through a queue.
func init() {
	ipctest.Register("op", func(args []string) int {
		fmt.Println(runOpInChild(args))
		return 0
	})
	// sender QUEUE N: send N messages, "message i" with type i+1.
	proc.Register("sender", func(args []string) int {
		q, err := queueArg(args)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		n, _ := strconv.Atoi(args[1])
		for i := range n {
			if err := q.Send(int64(i+1), []byte("message "+strconv.Itoa(i)), 0); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		return 0
	})
	// blockrecv QUEUE: wait for a message that never comes; exit 0 if the
	// queue's removal ends the wait, 1 otherwise.
	proc.Register("blockrecv", func(args []string) int {
		q, err := queueArg(args)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		_, _, err = q.Receive(make([]byte, 16), msgq.Any(), 0)
		fmt.Println(err)
		if errors.Is(err, ipc.ErrRemoved) {
			return 0
		}
		return 1
	})
}

func queueArg(args []string) (*msgq.Queue, error) {
	if len(args) == 0 {
		return nil, errors.New("no queue id")
	}
	id, err := strconv.Atoi(args[0])
	if err != nil {
		return nil, err
	}
	return msgq.FromID(id)
}

// runOpInChild runs one operation named by args[0] on the queue args[1] and
// words the outcome.
func runOpInChild(args []string) string {
	outcome := func(err error) string {
		if err == nil {
			return "ok"
		}
		var e unix.Errno
		if !errors.As(err, &e) {
			return "error: " + err.Error()
		}
		return unix.ErrnoName(e)
	}
	arg := func(i int) int {
		if i >= len(args) {
			return 0
		}
		n, _ := strconv.ParseInt(args[i], 0, 64)
		return int(n)
	}
	switch args[0] {
	case "get": // get KEY MODE: msgget(key, mode), asking for that access
		_, err := msgq.Get(ipc.Key(int32(arg(1))), 0, ipc.Mode(arg(2)))
		return outcome(err)
	case "ownstat": // a queue of mode 0 made by the caller: may it stat it, remove it?
		q, err := msgq.Create(ipc.Private, 0)
		if err != nil {
			return outcome(err)
		}
		_, err = q.Stat()
		return outcome(err) + " " + outcome(q.Remove())
	}
	q, err := msgq.FromID(arg(1))
	if err != nil {
		return outcome(err)
	}
	switch args[0] {
	case "fromid":
		return "ok"
	case "send":
		return outcome(q.Send(1, []byte("x"), msgq.NoWait))
	case "recv":
		_, _, err := q.Receive(make([]byte, 64), msgq.Any(), msgq.NoWait)
		return outcome(err)
	case "peek":
		_, _, err := q.Peek(make([]byte, 64), 0)
		return outcome(err)
	case "stat":
		_, err := q.Stat()
		return outcome(err)
	case "remove":
		return outcome(q.Remove())
	case "setmode":
		return outcome(q.SetMode(ipc.Mode(arg(2))))
	case "setqbytes":
		return outcome(q.SetMaxBytes(uint64(arg(2))))
	}
	return "unknown op " + args[0]
}

// runOp runs the "op" role with args, as nobody when asNobody, and returns
// what it printed.
func runOp(t *testing.T, asNobody bool, args ...string) string {
	t.Helper()
	return ipctest.Output(t, asNobody, "op", args...)
}

// waitBlocked waits until a thread of process pid sleeps in the kernel
// function fn ("do_msgrcv", "do_msgsnd"), so that a test acts on a call
// that is really waiting.
func waitBlocked(t *testing.T, pid int, fn string) {
	t.Helper()
	if !blockedIn(pid, fn) {
		t.Fatalf("no thread of process %d blocked in %s", pid, fn)
	}
}

// blockedIn is waitBlocked for a goroutine other than the test's: it
// reports whether a thread of pid slept in fn within 10 seconds.
func blockedIn(pid int, fn string) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, tid := range ipctest.Threads(pid) {
			if ipctest.Wchan(pid, tid) == fn {
				return true
			}
		}
		time.Sleep(time.Millisecond)
	}
	return false
}
