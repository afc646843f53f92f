package prefork

import (
	"strings"
	"sync"
	"testing"
)

// Goroutines serving requests come first, the others after in their order.
func TestRequestsFirst(t *testing.T) {
	in := "goroutine 1 [running]:\nmain.a()\n\ngoroutine 7 [select]:\nnet/http.(*conn).serve(0x1)\n\ngoroutine 3 [chan receive]:\nmain.b()\n\ngoroutine 9 [sleep]:\ngithub.com/ipctoolkit/ipc/ipc/prefork.(*worker).serveTracked(0x2)\n"
	got := string(requestsFirst([]byte(in)))
	var order []string
	for _, b := range strings.Split(got, "\n\n") {
		order = append(order, strings.Fields(b)[1])
	}
	if strings.Join(order, ",") != "7,9,1,3" || len(got) != len(in) {
		t.Errorf("order %v:\n%s", order, got)
	}
}

// A worker of thousands of goroutines writes at most slowStackMax bytes of
// them, and says it cut.
func TestSlowStacksBound(t *testing.T) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 5000 {
		wg.Add(1)
		go func() { defer wg.Done(); <-stop }()
	}
	stacks, truncated := slowStacks()
	close(stop)
	wg.Wait()
	if !truncated || len(stacks) != slowStackMax {
		t.Errorf("%d bytes, truncated %v; want %d, true", len(stacks), truncated, slowStackMax)
	}
	small, truncated := slowStacks()
	if truncated || len(small) == 0 || len(small) >= slowStackMax {
		t.Errorf("with the goroutines gone: %d bytes, truncated %v", len(small), truncated)
	}
}
