package manpage_test

import (
	"fmt"
	"strings"

	"github.com/ipctoolkit/ipc/internal/manpage"
	"github.com/urfave/cli/v2"
)

// A page for a one-command program: its header, and the command's entry
// as the definition gives it.
func ExamplePage_Write() {
	app := &cli.App{Name: "ipc", Usage: "System V IPC", Commands: []*cli.Command{{
		Name: "key", Category: "objects", Usage: "print the key ftok derives", UsageText: "ipc key PATH [--proj N]",
		Flags: []cli.Flag{&cli.IntFlag{Name: "proj", Value: 1, Usage: "project id"}},
	}}}
	var b strings.Builder
	if err := (manpage.Page{App: app, Date: "2026-12-01", Version: "v1.0.0"}).Write(&b); err != nil {
		panic(err)
	}
	lines := strings.Split(b.String(), "\n")
	fmt.Println(lines[0])
	start := strings.Index(b.String(), ".B ipc key")
	fmt.Print(b.String()[start : start+strings.Index(b.String()[start:], ".RE")])
	// Output:
	// .TH IPC 1 "2026-12-01" "ipc v1.0.0" "User Commands"
	// .B ipc key PATH [\-\-proj N]
	// print the key ftok derives.
	// .IP
	// Options:
	// .RS
	// .TP
	// \fB\-\-proj\fR \fIn\fR
	// project id (default: 1)
}
