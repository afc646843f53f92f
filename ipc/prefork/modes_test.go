package prefork_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/ipc/prefork"
)

// clients runs n concurrent clients, each asking once on a new connection,
// and returns how many got a wrong answer or none.
func clients(t *testing.T, addr string, n int) int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			line := fmt.Sprintf("client %d", i)
			got, err := ask(addr, line)
			if err != nil || got != strings.ToUpper(line) {
				mu.Lock()
				failed++
				if failed <= 5 {
					t.Errorf("%q: %q, %v", line, got, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return failed
}

func allClosed(st prefork.Status) bool {
	for _, w := range st.Workers {
		if w.Active != 0 {
			return false
		}
	}
	return true
}

func TestModesSmoke(t *testing.T) {
	for _, m := range []string{"prefork", "reuseport", "pass", "fork"} {
		t.Run(m, func(t *testing.T) {
			args := []string{"mode=" + m}
			if m != "fork" {
				args = append(args, "workers=3")
			}
			s := startServer(t, args...)
			if f := clients(t, s.addr, 200); f > 0 {
				t.Fatalf("%d failed", f)
			}
			st := s.waitStatus(5*time.Second, "closed", allClosed)
			t.Logf("%+v", st)
		})
	}
}
