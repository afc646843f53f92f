package tests

import (
	"bufio"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAdminWatch runs ipc ls --watch for four intervals while a process
// sends 50 messages a second to a queue nobody reads: the messages in go
// up at that rate, the out rate is exactly 0 (nothing was received), and
// the count grows frame by frame.
func TestAdminWatch(t *testing.T) {
	ns := newNS(t)
	q := ns.must(t, "msgq", "create", "--key", "0x6401")
	ns.must(t, "msgq", "create", "--key", "0x6402") // idle
	ns.child(t, "sender", q, "20ms")
	r := ns.run(t, "ls", "--watch", "--interval", "400ms", "--count", "4")
	if r.code != 0 {
		t.Fatalf("ls --watch: %v", r)
	}
	frames := strings.Split(strings.TrimSpace(r.stdout), "\n\n")
	if len(frames) != 4 {
		t.Fatalf("%d frames, want 4:\n%s", len(frames), r.stdout)
	}
	row := regexp.MustCompile(`(?m)^\s*0x00006401\s+` + q + `\s+root\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$`)
	idle := regexp.MustCompile(`(?m)^\s*0x00006402\s+\d+\s+root\s+0\s+0\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$`)
	last := -1
	for i, f := range frames {
		if !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  every 400ms: 2 queues, 0 segments, 0 semaphore sets\n\s+KEY\s+ID\s+OWNER\s+MESSAGES\s+BYTES\s+IN/s\s+OUT/s\s+NET/s\s+BYTES/s\n`).MatchString(f) {
			t.Errorf("frame %d's head:\n%s", i+1, f)
		}
		m, z := row.FindStringSubmatch(f), idle.FindStringSubmatch(f)
		if m == nil || z == nil {
			t.Fatalf("frame %d:\n%s", i+1, f)
		}
		msgs, _ := strconv.Atoi(m[1])
		bytes, _ := strconv.Atoi(m[2])
		if msgs <= last || bytes != 10*msgs {
			t.Errorf("frame %d: %d messages, %d bytes after %d messages", i+1, msgs, bytes, last)
		}
		last = msgs
		if i == 0 {
			if strings.Join(m[3:], " ") != "- - - -" {
				t.Errorf("first frame has rates: %q", m[0])
			}
			continue
		}
		in, err := strconv.ParseFloat(m[3], 64)
		// 50/s; the bounds allow a loaded machine's late ticks.
		if err != nil || in < 10 || in > 100 || m[4] != "0.0" || m[5] != "+"+m[3] {
			t.Errorf("frame %d: in %s out %s net %s; want about 50.0 in, exactly 0.0 out, net = in", i+1, m[3], m[4], m[5])
		}
		if strings.Join(z[1:], " ") != "0.0 0.0 0.0 0" {
			t.Errorf("frame %d: the idle queue: %q", i+1, z[0])
		}
	}
}

// TestAdminWatchInterrupt: without --count, --watch runs until SIGINT and
// then exits 0.
func TestAdminWatchInterrupt(t *testing.T) {
	ns := newNS(t)
	cmd := exec.Command(ns.ipc, "--namespace", strconv.Itoa(ns.pid), "ls", "--watch", "--interval", "100ms")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(out)
	for range 2 { // two frames' heads
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(line, "every 100ms") {
				break
			}
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after SIGINT: %v, want exit 0", err)
		}
	case <-time.After(3 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatal("--watch did not stop on SIGINT")
	}
}
