package pipe_test

import (
	"fmt"
	"io"
	"log"
	"os"

	"github.com/ipctoolkit/ipc/pipe"
)

// A pipe with a larger capacity lets a streaming writer get further ahead
// of its reader before it blocks.
func Example() {
	r, w, err := pipe.Pipe(0)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	n, err := pipe.SetCapacity(w, 200_000)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("capacity:", n) // rounded up to a power of two pages

	go func() {
		defer w.Close()
		fmt.Fprint(w, "through the pipe")
	}()
	got, err := io.ReadAll(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(got))
	// Output:
	// capacity: 262144
	// through the pipe
}

// Descriptors travel over a Unix socket: the receiver gets its own
// descriptor for the same open file. Here the write end of a pipe goes one
// way and the answer comes back through it, with the sender's credentials
// checked by the kernel.
func ExampleSendFiles() {
	a, b, err := pipe.SocketpairConn(pipe.Stream)
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	r, w, err := pipe.Pipe(0)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	if err := pipe.SendFiles(a, []byte("reply here"), w); err != nil {
		log.Fatal(err)
	}
	w.Close() // the receiver has its own descriptor now

	buf := make([]byte, 32)
	n, files, err := pipe.ReceiveFiles(b, buf, 1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q with %d file\n", buf[:n], len(files))
	fmt.Fprint(files[0], "answer")
	files[0].Close()
	answer, _ := io.ReadAll(r)
	fmt.Println(string(answer))

	if err := pipe.SendCredentials(b, []byte("who am I?")); err != nil {
		log.Fatal(err)
	}
	_, cred, err := pipe.ReceiveCredentials(a, buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("from this process:", int(cred.Pid) == os.Getpid())
	// Output:
	// "reply here" with 1 file
	// answer
	// from this process: true
}
