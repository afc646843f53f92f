package msgq_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/msgq"
)

// Types make one queue serve several purposes. Here they are priorities:
// UpTo takes the most urgent message first, the oldest among equals.
func Example() {
	q, err := msgq.Create(ipc.Private, ipc.DefaultMode)
	if err != nil {
		log.Fatal(err)
	}
	defer q.Remove()

	for _, m := range []struct {
		prio int64
		text string
	}{{3, "rotate logs"}, {1, "shut down"}, {2, "reload config"}, {1, "flush"}} {
		if err := q.Send(m.prio, []byte(m.text), 0); err != nil {
			log.Fatal(err)
		}
	}

	buf := make([]byte, 64)
	for {
		prio, n, err := q.Receive(buf, msgq.UpTo(3), msgq.NoWait)
		if errors.Is(err, ipc.ErrNoMessage) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d %s\n", prio, buf[:n])
	}
	// Output:
	// 1 shut down
	// 1 flush
	// 2 reload config
	// 3 rotate logs
}

// A receive can be bounded in time with a context; the error matches
// ipc.ErrTimeout, os.ErrDeadlineExceeded and context.DeadlineExceeded.
func ExampleQueue_ReceiveContext() {
	q, err := msgq.Create(ipc.Private, ipc.DefaultMode)
	if err != nil {
		log.Fatal(err)
	}
	defer q.Remove()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	buf := make([]byte, 64)
	_, _, err = q.ReceiveContext(ctx, buf, msgq.Type(42), 0)
	fmt.Println(errors.Is(err, ipc.ErrTimeout), errors.Is(err, context.DeadlineExceeded))
	// Output: true true
}

// A message longer than the buffer stays queued, unless the receiver
// accepts to lose its end.
func ExampleTruncate() {
	q, err := msgq.Create(ipc.Private, ipc.DefaultMode)
	if err != nil {
		log.Fatal(err)
	}
	defer q.Remove()

	q.Send(1, []byte("a long message"), 0)
	buf := make([]byte, 6)
	_, _, err = q.Receive(buf, msgq.Any(), msgq.NoWait)
	fmt.Println(errors.Is(err, ipc.ErrTooBig))
	_, n, _ := q.Receive(buf, msgq.Any(), msgq.NoWait|msgq.Truncate)
	fmt.Printf("%q\n", buf[:n])
	// Output:
	// true
	// "a long"
}
