package benchserve_test

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/ipctoolkit/ipc/internal/benchserve"
)

// The protocol of UNP ch.30: the client writes a count, the server answers
// that many bytes.
func ExampleHandler() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		benchserve.Handler(context.Background(), c)
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	fmt.Fprintf(c, "5\n")
	reply := make([]byte, 5)
	if _, err := io.ReadFull(c, reply); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(reply))
	// Output: abcde
}
