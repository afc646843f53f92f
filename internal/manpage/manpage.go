// Package manpage writes ipc's manual page, ipc(1), in roff from the same
// definitions the command line runs on: every command's synopsis, purpose,
// description and flags from its urfave/cli definition, the options of the
// util-linux commands from their option tables, and the sections a manual
// needs beside them (DESCRIPTION, EXIT STATUS, SIGNALS, FILES,
// ENVIRONMENT, EXAMPLES, SEE ALSO). A command gained or changed shows up in
// the page without anyone editing it.
package manpage

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ipctoolkit/ipc/internal/utillinux"
	"github.com/urfave/cli/v2"
)

// Page is what the manual is made of.
type Page struct {
	App *cli.App
	// Util maps the commands that are util-linux tools to them: their
	// options come from the tool's table, not from urfave flags.
	Util map[string]*utillinux.Tool
	// Extra lists options such a command takes beyond its tool's.
	Extra map[string][]utillinux.Option
	// Categories orders the groups of commands; groups it does not name
	// follow in the order their first command appears.
	Categories []string
	// Date is the page's date in the .TH line ("2026-12-01"), Version the
	// program's version shown beside it.
	Date, Version string
}

// Write writes the page to w.
func (p Page) Write(w io.Writer) error {
	var b strings.Builder
	r := roff{&b}
	r.line(`.TH IPC 1 "%s" "ipc %s" "User Commands"`, p.Date, escape(p.Version))
	r.section("NAME")
	r.text("ipc \\- " + escape(p.App.Usage))
	r.section("SYNOPSIS")
	r.line(".B ipc")
	r.line(".I command")
	r.line("[\\fIoptions\\fR] [\\fIarguments\\fR]")
	r.line(".br")
	r.line(".B ipcs\\fR|\\fBipcrm\\fR|\\fBipcmk\\fR|\\fBlsipc")
	r.line("[\\fIoptions\\fR]")
	r.section("DESCRIPTION")
	r.paragraphs(description)
	r.section("COMMANDS")
	for _, cat := range categoryOrder(p.Categories, p.App.Commands) {
		r.line(".SS %s", quote(strings.ToUpper(cat[:1])+cat[1:]))
		for _, c := range p.App.Commands {
			if c.Category == cat && !c.Hidden {
				p.command(r, c, []string{"ipc"})
			}
		}
	}
	r.section("EXIT STATUS")
	r.definitions(exitStatus)
	r.section("SIGNALS")
	r.text("ipc serve, the supervisor of a prefork server, acts on these signals (see \\fBipc serve \\-\\-help\\fR):")
	r.definitions(signalsOf(find(p.App.Commands, "serve")))
	r.line(".PP")
	r.text("The demos and ipc bench remove what they made and stop their children on SIGINT and SIGTERM, " +
		"and exit with status 128 plus the signal's number (130, 143).")
	r.section("ENVIRONMENT")
	r.definitions(environment)
	r.section("FILES")
	r.definitions(files)
	if dir := stateDir(find(p.App.Commands, "serve")); dir != "" {
		r.definitions([][2]string{{escape(dir), "Where \\fBipc serve\\fR keeps its state file, " +
			"prefork\\-\\fIpid\\fR.json (its pid and the ids of its semaphore set, queue and scoreboard), " +
			"so that \\fBipc status\\fR finds the scoreboard and the next start removes what a kill \\-9 " +
			"left behind; \\fB\\-\\-state\\-dir\\fR chooses another."}})
	}
	r.section("EXAMPLES")
	r.text("Every example below creates objects in the current IPC namespace. To try them without " +
		"touching anyone else's, run a shell in a private one: \\fBunshare \\-\\-ipc\\fR (as root), " +
		"or \\fBunshare \\-\\-user \\-\\-map\\-root\\-user \\-\\-ipc\\fR.")
	r.example(generalExamples)
	for _, path := range examplesOf(p.App.Commands, []string{"ipc"}) {
		r.line(".PP")
		r.line(".B %s", escape(strings.Join(path.cmd, " ")))
		r.example(path.lines)
	}
	r.section("SEE ALSO")
	r.line(strings.Join([]string{`.BR ipcs (1),`, `.BR ipcrm (1),`, `.BR ipcmk (1),`, `.BR lsipc (1),`,
		`.BR unshare (1),`, `.BR semop (2),`, `.BR msgsnd (2),`, `.BR msgrcv (2),`, `.BR shmat (2),`,
		`.BR ftok (3),`, `.BR sysvipc (7)`}, "\n"))
	_, err := io.WriteString(w, b.String())
	return err
}

// command writes one command's entry, and its subcommands'.
func (p Page) command(r roff, c *cli.Command, parent []string) {
	path := append(append([]string(nil), parent...), c.Name)
	if len(c.Subcommands) > 0 {
		r.line(".TP")
		r.line(".B %s", escape(strings.Join(path, " ")))
		r.text(escape(c.Usage) + ":")
		for _, s := range c.Subcommands {
			p.command(r, s, path)
		}
		return
	}
	r.line(".TP")
	synopsis := c.UsageText
	if synopsis == "" {
		synopsis = strings.Join(path, " ") + " [options]"
	}
	for i, l := range strings.Split(synopsis, "\n") {
		if i > 0 {
			r.line(".br")
		}
		r.line(".B %s", escape(strings.TrimSpace(l)))
	}
	if strings.Contains(synopsis, "\n") {
		r.line(".br") // the tag holds the first line only
	}
	r.text(escape(c.Usage) + ".")
	desc, _ := splitExamples(c.Description)
	if desc != "" {
		for _, para := range strings.Split(desc, "\n\n") {
			r.line(".IP")
			r.text(escape(strings.Join(strings.Fields(para), " ")))
		}
	}
	if tool, ok := p.Util[c.Name]; ok && len(parent) == 1 {
		r.line(".IP")
		r.text(fmt.Sprintf("Options (as %s's):", tool.Name))
		r.line(".RS")
		for _, o := range append(tool.Options(true), p.Extra[c.Name]...) {
			r.line(".TP")
			r.line("%s", optionHead(o))
			r.text(escape(o.Help))
		}
		r.line(".RE")
		return
	}
	flags := visibleFlags(c)
	if len(flags) == 0 {
		return
	}
	r.line(".IP")
	r.text("Options:")
	r.line(".RS")
	for _, f := range flags {
		r.line(".TP")
		r.line("%s", flagHead(f))
		r.text(escape(flagUsage(f)))
	}
	r.line(".RE")
}

// optionHead is a util-linux option's tag: "\fB\-i\fR, \fB\-\-id\fR \fI<id>\fR".
func optionHead(o utillinux.Option) string {
	var names []string
	if o.Short != 0 {
		names = append(names, `\fB\-`+string(o.Short)+`\fR`)
	}
	names = append(names, `\fB\-\-`+escape(o.Long)+`\fR`)
	head := strings.Join(names, ", ")
	if o.Arg != "" {
		head += ` \fI` + escape(o.Arg) + `\fR`
		if strings.HasPrefix(o.Arg, "[") || strings.HasPrefix(o.Arg, "=") {
			head = strings.Replace(head, ` \fI`, `\fI`, 1)
		}
	}
	return head
}

func visibleFlags(c *cli.Command) []cli.Flag {
	var out []cli.Flag
	for _, f := range c.Flags {
		if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
			continue
		}
		out = append(out, f)
	}
	return out
}

// flagHead is a flag's tag: its names, and its value's placeholder.
func flagHead(f cli.Flag) string {
	var names []string
	for _, n := range f.Names() {
		dash := `\-\-`
		if len(n) == 1 {
			dash = `\-`
		}
		names = append(names, `\fB`+dash+escape(n)+`\fR`)
	}
	head := strings.Join(names, ", ")
	if d, ok := f.(cli.DocGenerationFlag); ok && d.TakesValue() {
		head += ` \fI` + placeholder(f) + `\fR`
	}
	return head
}

func placeholder(f cli.Flag) string {
	switch f.(type) {
	case *cli.DurationFlag:
		return "duration"
	case *cli.IntFlag, *cli.Int64Flag, *cli.UintFlag, *cli.Uint64Flag:
		return "n"
	}
	return "value"
}

// flagUsage is the flag's usage, with its default when it has one.
func flagUsage(f cli.Flag) string {
	d, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return ""
	}
	u := d.GetUsage()
	if !d.TakesValue() {
		return u // a switch: off unless given
	}
	switch dt := strings.Trim(d.GetDefaultText(), `"`); dt {
	case "", "0", "0s":
		return u
	default:
		return u + " (default: " + dt + ")"
	}
}

// categoryOrder lists the commands' categories in the order they first
// appear.
func categoryOrder(order []string, cmds []*cli.Command) []string {
	var out []string
	seen := map[string]bool{}
	for _, cat := range order {
		for _, c := range cmds {
			if c.Category == cat && !seen[cat] {
				seen[cat] = true
				out = append(out, cat)
			}
		}
	}
	for _, c := range cmds {
		if c.Category != "" && !seen[c.Category] {
			seen[c.Category] = true
			out = append(out, c.Category)
		}
	}
	return out
}

// splitExamples splits a description at its "EXAMPLES:" block.
func splitExamples(desc string) (text string, examples []string) {
	text, ex, found := strings.Cut(desc, "EXAMPLES:")
	text = strings.TrimSpace(text)
	if !found {
		return text, nil
	}
	for _, l := range strings.Split(ex, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			examples = append(examples, l)
		}
	}
	return text, examples
}

type examples struct {
	cmd   []string
	lines []string
}

func examplesOf(cmds []*cli.Command, parent []string) []examples {
	var out []examples
	for _, c := range cmds {
		path := append(append([]string(nil), parent...), c.Name)
		if _, ex := splitExamples(c.Description); len(ex) > 0 {
			out = append(out, examples{path, ex})
		}
		out = append(out, examplesOf(c.Subcommands, path)...)
	}
	return out
}

// roff writes requests and text lines.
type roff struct{ b *strings.Builder }

func (r roff) line(format string, a ...any) { fmt.Fprintf(r.b, format+"\n", a...) }

func (r roff) section(name string) { r.line(".SH %s", quote(name)) }

// text writes a filled text line; a line starting with a dot or a quote
// would be a request, so it is protected.
func (r roff) text(s string) {
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	r.line("%s", s)
}

func (r roff) paragraphs(paras []string) {
	for i, p := range paras {
		if i > 0 {
			r.line(".PP")
		}
		r.text(p)
	}
}

// definitions writes term/definition pairs as a tagged list.
func (r roff) definitions(defs [][2]string) {
	for _, d := range defs {
		r.line(".TP")
		r.line(".B %s", d[0])
		r.text(d[1])
	}
}

// example writes lines as they are, unfilled and indented.
func (r roff) example(lines []string) {
	r.line(".RS")
	r.line(".nf")
	for _, l := range lines {
		r.text(escape(l))
	}
	r.line(".fi")
	r.line(".RE")
}

// escape makes s safe as roff text: backslashes and dashes spelled out
// (a "-" would otherwise be a hyphen, not the minus of an option).
func escape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	return strings.ReplaceAll(s, "-", `\-`)
}

func quote(s string) string { return `"` + s + `"` }

func find(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// stateDir is the default of serve's --state-dir, as its definition words
// it.
func stateDir(serve *cli.Command) string {
	if serve == nil {
		return ""
	}
	for _, f := range serve.Flags {
		if d, ok := f.(cli.DocGenerationFlag); ok && slices.Contains(f.Names(), "state-dir") {
			return d.GetDefaultText()
		}
	}
	return ""
}

// signalsOf makes the SIGNALS table from serve's description, whose
// paragraph "Signals: TERM or INT stop gracefully (...), QUIT stops at
// once, ..." is the definition: each comma-separated part (outside
// parentheses) names its signals first. Without such a paragraph, the
// table written here stands in.
func signalsOf(serve *cli.Command) [][2]string {
	if serve == nil {
		return serveSignals
	}
	_, para, ok := strings.Cut(serve.Description, "Signals: ")
	if !ok {
		return serveSignals
	}
	if end := strings.Index(para, ". "); end >= 0 {
		para = para[:end]
	}
	para = strings.TrimSuffix(strings.Join(strings.Fields(para), " "), ".")
	var parts []string
	depth, start := 0, 0
	for i, c := range para {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, strings.TrimSpace(para[start:i]))
				start = i + 1
			}
		}
	}
	parts = append(parts, strings.TrimSpace(para[start:]))
	var table [][2]string
	for _, part := range parts {
		words := strings.Fields(part)
		var sigs []string
		k := 0
		for ; k < len(words); k++ {
			w := words[k]
			if w == "or" || w == "and" {
				continue
			}
			if w != strings.ToUpper(w) || len(w) < 3 {
				break
			}
			sigs = append(sigs, "SIG"+strings.TrimPrefix(w, "SIG"))
		}
		if len(sigs) == 0 || k == len(words) {
			return serveSignals // not the shape this reads
		}
		what := strings.Join(words[k:], " ")
		table = append(table, [2]string{strings.Join(sigs, ", "), escape(strings.ToUpper(what[:1]) + what[1:] + ".")})
	}
	return append(table, serveSignals[len(serveSignals)-1]) // SIGCHLD, which it handles itself
}
