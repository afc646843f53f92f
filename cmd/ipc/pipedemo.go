package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ipctoolkit/ipc/ipc/proc"
	"github.com/ipctoolkit/ipc/pipe"
	"github.com/urfave/cli/v2"
)

const pipeDemoChild = "pipe-demo-child"

func init() {
	register(&cli.Command{
		Name:  "pipe-demo",
		Usage: "watch a pipe to a child, a socketpair back, and an open file passed over it",
		Description: `The parent makes a pipe and a Unix stream socketpair and starts a child (a
re-executed ipc) with the pipe's read end and one end of the socketpair as
its descriptors 3 and 4. Each round the parent writes a line into the pipe;
the child reads it and answers in capitals over the socketpair. Then the
parent creates a file, writes to it, and passes the open descriptor itself to
the child over the socketpair (SCM_RIGHTS): the child reads the file through
the descriptor it received, never having opened it, and says what it read.
The file is deleted at the end, also on SIGINT or SIGTERM.

EXAMPLES:
   ipc pipe-demo
   ipc pipe-demo --rounds 5 --delay 100ms`,
		Flags:  demoFlags(3, 300*time.Millisecond),
		Action: runPipeDemo,
	})
	proc.Register(pipeDemoChild, runPipeDemoChild)
}

func runPipeDemo(c *cli.Context) error {
	rounds, delay, err := demoArgs(c)
	if err != nil {
		return err
	}
	sp := speaker{who: "parent", out: c.App.Writer}
	pr, pw, err := pipe.Pipe(0)
	if err != nil {
		return err
	}
	defer pw.Close()
	mine, theirs, err := pipe.Socketpair(pipe.Stream, 0)
	if err != nil {
		pr.Close()
		return err
	}
	fc, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		pr.Close()
		theirs.Close()
		return err
	}
	conn := fc.(*net.UnixConn)
	defer conn.Close()
	capacity, _ := pipe.Capacity(pw)
	sp.say("made a pipe (capacity %d bytes) and a stream socketpair", capacity)

	f, err := os.CreateTemp("", "ipc-pipe-demo-*.txt")
	if err != nil {
		return err
	}
	defer func() {
		f.Close()
		if os.Remove(f.Name()) == nil {
			sp.say("deleted %s", f.Name())
		}
	}()

	child := proc.Command(pipeDemoChild, strconv.Itoa(rounds))
	child.ExtraFiles = []*os.File{pr, theirs}
	return superviseDemo(sp, child, func(ctx context.Context) error {
		// The child has its own copies now; closing ours lets it see end of
		// file when the parent closes the write end.
		pr.Close()
		theirs.Close()
		stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
		defer stop()
		replies := bufio.NewReader(conn)
		for r := 1; r <= rounds; r++ {
			line := fmt.Sprintf("line %d from the parent", r)
			if _, err := pw.WriteString(line + "\n"); err != nil {
				return err
			}
			sp.say("round %d/%d: wrote %q into the pipe", r, rounds, line)
			reply, err := replies.ReadString('\n')
			if err != nil {
				return fmt.Errorf("read the reply: %w", err)
			}
			sp.say("round %d/%d: read %q from the socketpair", r, rounds, strings.TrimSuffix(reply, "\n"))
			if err := sleepContext(ctx, delay); err != nil {
				return err
			}
		}
		pw.Close()
		content := fmt.Sprintf("written by %d at %s\n", os.Getpid(), time.Now().Format(time.TimeOnly))
		if _, err := f.WriteString(content); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		// Said before sending, so that it comes before the child's lines
		// about what arrived.
		sp.say("passing descriptor %d (%s, %d bytes) over the socketpair", f.Fd(), f.Name(), len(content))
		if err := pipe.SendFiles(conn, []byte("file"), f); err != nil {
			return err
		}
		reply, err := replies.ReadString('\n')
		if err != nil {
			return fmt.Errorf("read the child's report: %w", err)
		}
		sp.say("the child reports: %s", strings.TrimSuffix(reply, "\n"))
		return nil
	})
}

func runPipeDemoChild(args []string) int {
	nums, _, _, err := demoChildArgs(args, 1, false)
	if err != nil {
		return childFailed(pipeDemoChild, err)
	}
	rounds := nums[0]
	in, sock := proc.InheritedFile(0, "pipe"), proc.InheritedFile(1, "socketpair")
	if in == nil || sock == nil {
		return childFailed(pipeDemoChild, errors.New("the parent passed no pipe and socketpair"))
	}
	fc, err := net.FileConn(sock)
	if err != nil {
		return childFailed(pipeDemoChild, err)
	}
	conn := fc.(*net.UnixConn)
	sp := speaker{who: "child", out: os.Stdout}
	lines := bufio.NewReader(in)
	for r := 1; r <= rounds; r++ {
		line, err := lines.ReadString('\n')
		if err != nil {
			return childFailed(pipeDemoChild, err)
		}
		line = strings.TrimSuffix(line, "\n")
		sp.say("round %d/%d: read %q from the pipe (descriptor %d), answering", r, rounds, line, in.Fd())
		if _, err := conn.Write([]byte(strings.ToUpper(line) + "\n")); err != nil {
			return childFailed(pipeDemoChild, err)
		}
	}
	if _, err := lines.ReadByte(); err != io.EOF {
		return childFailed(pipeDemoChild, fmt.Errorf("want end of file on the pipe, got %v", err))
	}
	sp.say("the pipe reached end of file: the parent closed its end")
	buf := make([]byte, 16)
	_, files, err := pipe.ReceiveFiles(conn, buf, 1)
	if err != nil {
		return childFailed(pipeDemoChild, err)
	}
	if len(files) != 1 {
		return childFailed(pipeDemoChild, fmt.Errorf("got %d descriptors, want 1", len(files)))
	}
	defer files[0].Close()
	data, err := io.ReadAll(files[0])
	if err != nil {
		return childFailed(pipeDemoChild, err)
	}
	target, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(files[0].Fd())))
	sp.say("received descriptor %d, which is %s; read %q through it", files[0].Fd(), target, bytes.TrimSuffix(data, []byte("\n")))
	fmt.Fprintf(conn, "read %d bytes through descriptor %d\n", len(data), files[0].Fd())
	return 0
}
