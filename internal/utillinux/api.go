package utillinux

import (
	"bufio"
	"bytes"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ipctoolkit/ipc/ipc"
)

// Tool is one of the util-linux programs this package stands in for. Run
// it under its own name (a link named ipcs) with Run, or as the ipc
// subcommand that mirrors it (ipc ls) with RunSub.
type Tool struct {
	// Name is util-linux's name for the program: "ipcs".
	Name string
	// Sub is the ipc subcommand that is this tool ("ls"), or "" when there
	// is none (lsipc is reached only through a link).
	Sub string

	shorts string // getopt's optstring
	longs  []longOpt
	run    func(t *utilTool, args []string) int
	usage  func(t *utilTool)
}

// The tools, as util-linux 2.38.1 has them.
var (
	Ipcs = &Tool{Name: "ipcs", Sub: "ls", shorts: ipcsShorts, longs: ipcsLongs,
		run:   func(t *utilTool, args []string) int { return runIpcs(t, args, t.isSub()) },
		usage: func(t *utilTool) { ipcsUsage(t, t.isSub()) }}
	Ipcrm = &Tool{Name: "ipcrm", Sub: "rm", shorts: ipcrmShorts, longs: ipcrmLongs, run: runIpcrm, usage: ipcrmUsage}
	Ipcmk = &Tool{Name: "ipcmk", Sub: "mk", shorts: ipcmkShorts, longs: ipcmkLongs, run: runIpcmk, usage: ipcmkUsage}
	Lsipc = &Tool{Name: "lsipc", shorts: lsipcShorts, longs: lsipcLongs, run: runLsipc, usage: lsipcUsage}
)

// Tools are all of them, in util-linux's alphabetical order.
var Tools = []*Tool{Ipcmk, Ipcrm, Ipcs, Lsipc}

// Lookup finds the tool a binary invoked as argv0 stands in for: the base
// name of argv0 is the tool's name ("/usr/local/bin/ipcs" is ipcs).
func Lookup(argv0 string) (*Tool, bool) {
	base := filepath.Base(argv0)
	for _, t := range Tools {
		if t.Name == base {
			return t, true
		}
	}
	return nil, false
}

// Run runs the tool as the program invoked under argv0 with args (argv[1:]):
// messages start with argv0's base name, the help names it, and the result
// is the exit status util-linux's program gives.
func (tl *Tool) Run(argv0 string, args []string, stdout, stderr io.Writer) int {
	return tl.run(newTool(argv0, "", stdout, stderr), args)
}

// RunSub runs the tool as the ipc subcommand tl.Sub: messages start with
// "ipc", the help names "ipc ls", and ipc ls takes --json too.
func (tl *Tool) RunSub(args []string, stdout, stderr io.Writer) int {
	return tl.run(newTool("", tl.Sub, stdout, stderr), args)
}

// Help is the tool's --help text, as Run (or, with sub, RunSub) prints it.
func (tl *Tool) Help(sub bool) string {
	var b bytes.Buffer
	t := newTool(tl.Name, "", &b, io.Discard)
	if sub {
		t = newTool("", tl.Sub, &b, io.Discard)
	}
	tl.usage(t)
	_ = t.out.Flush()
	return b.String()
}

// Option is one option of a tool, as its --help describes it.
type Option struct {
	Short byte   // the short letter, or 0 when there is none
	Long  string // the long name without dashes
	// Arg is the argument's name as --help writes it ("<id>",
	// "[=shm|msg|sem]"), or "" for an option without one.
	Arg      string
	Optional bool   // the argument may be left out (only glued: -ashm, --all=shm)
	Help     string // what --help says it does
}

// Options lists the options the tool takes (with sub, those of the ipc
// subcommand), in the order of its --help, then any --help leaves out.
// They come from the same tables the tool parses with, so a completion or
// a manual page made from them cannot offer an option the tool refuses.
func (tl *Tool) Options(sub bool) []Option {
	longs := tl.longs
	if sub && tl == Ipcs {
		longs = ipcsSubLongs
	}
	help := tl.Help(sub)
	var opts []Option
	order := map[string]int{}
	for _, l := range longs {
		o := Option{Long: l.name, Optional: l.has == optionalArg}
		if l.val < 256 && strings.IndexByte(tl.shorts, byte(l.val)) >= 0 {
			o.Short = byte(l.val)
		}
		o.Arg, o.Help, order[l.name] = helpLine(help, l.name)
		opts = append(opts, o)
	}
	sort.SliceStable(opts, func(i, j int) bool { return order[opts[i].Long] < order[opts[j].Long] })
	return opts
}

// helpLine finds the line of help that documents --name and returns its
// argument, its description and its position (a large one when absent).
func helpLine(help, name string) (arg, what string, pos int) {
	for i, line := range strings.Split(help, "\n") {
		k := strings.Index(line, "--"+name)
		if k < 0 || !strings.HasPrefix(strings.TrimSpace(line), "-") {
			continue
		}
		rest := line[k+2+len(name):]
		if rest != "" && rest[0] != ' ' && rest[0] != '=' && rest[0] != '[' {
			continue // --name is the prefix of a longer option
		}
		switch {
		case strings.HasPrefix(rest, "[") || strings.HasPrefix(rest, "="):
			arg, rest, _ = strings.Cut(rest, " ") // "[=shm|msg|sem]", "=<type>"
		case strings.HasPrefix(rest, " <"):
			end := strings.IndexByte(rest, '>')
			arg, rest = rest[1:end+1], rest[end+1:] // " <id>"
		}
		what = strings.TrimSpace(rest)
		return arg, what, i
	}
	return "", "", 1 << 30
}

// Stat prints one object as "ipc ls -q|-m|-s -i ID" does (ipcs -i), or
// with asJSON as ipc ls --json does, and returns ipcs's exit status: so
// that "ipc sem stat" and "ipc ls" can never disagree.
func Stat(kind ipc.Kind, id int, asJSON bool, stdout, stderr io.Writer) int {
	flag := map[ipc.Kind]string{ipc.Queue: "-q", ipc.Segment: "-m", ipc.Semaphore: "-s"}[kind]
	args := []string{flag, "-i", itoa(id)}
	if asJSON {
		args = append(args, "--json")
	}
	return Ipcs.RunSub(args, stdout, stderr)
}

// Session is one run of a tool as an ipc subcommand: its standard output,
// buffered as C's stdio buffers it (so that warnings and output interleave
// as util-linux's do), its standard error, and the "ipc" its messages
// start with. Code that extends ipc ls or rm with options of its own
// prints through a Session, and runs the tool itself in one with RunIn.
type Session struct{ t *utilTool }

// NewSession starts a session for the ipc subcommand sub ("ls").
func NewSession(sub string, stdout, stderr io.Writer) *Session {
	return &Session{newTool("", sub, stdout, stderr)}
}

// Printf writes to the session's buffered standard output.
func (s *Session) Printf(format string, a ...any) { s.t.printf(format, a...) }

// Warnx writes "ipc: <message>" to standard error, as util-linux's warnx.
func (s *Session) Warnx(format string, a ...any) { s.t.warnx(format, a...) }

// Out is the buffered standard output.
func (s *Session) Out() *bufio.Writer { return s.t.out }

// Terminal reports whether standard output is a terminal.
func (s *Session) Terminal() bool { return s.t.tty }

// Err is standard error.
func (s *Session) Err() io.Writer { return s.t.err }

// UserName is getpwuid(uid)->pw_name, or false when uid has no entry.
func (s *Session) UserName(uid uint32) (string, bool) { return s.t.userName(uid) }

// Finish flushes standard output as util-linux does at exit and returns
// code, or 1 when the flush failed (a full disk).
func (s *Session) Finish(code int) int { return s.t.finish(code) }

// RunIn runs the tool as the ipc subcommand in session s, and returns its
// exit status; the output is flushed.
func (tl *Tool) RunIn(s *Session, args []string) int { return tl.run(s.t, args) }
