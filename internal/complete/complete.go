// Package complete answers shell completion for ipc: given the words typed
// so far, it lists the words that may come next, and does nothing else.
// Completion never runs a command, not even partly: a TAB after
// "ipc rm -a" must not remove anything, and one after "ipc mk -Q" must not
// create a queue. So the words are matched against the command
// definitions (urfave/cli commands, and the util-linux tools' option
// tables) and never handed to a command's action or to a tool's parser.
//
// The protocol is urfave/cli's: the shell runs the program with the words
// of the command line up to the cursor, the word being completed last
// (possibly empty), and then FlagName; the program prints one candidate
// per line. Script gives the bash, zsh and fish functions that do this.
package complete

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/ipctoolkit/ipc/internal/utillinux"
	"github.com/urfave/cli/v2"
)

// FlagName is the last argument of a completion request.
const FlagName = "--generate-bash-completion"

// Requested reports whether args (os.Args) ask for completion, which must
// then be all that happens.
func Requested(args []string) bool {
	return len(args) > 1 && args[len(args)-1] == FlagName
}

// App is what completion needs to know of the program.
type App struct {
	Commands []*cli.Command
	Flags    []string // the program's own flags: "--help", "--version"
	// Util maps the commands that are util-linux tools (ls, rm, mk) to
	// them; their options come from the tool, not from urfave.
	Util map[string]*utillinux.Tool
	// Extra lists options such a command takes beyond its tool's (the
	// program's own additions to ls or rm).
	Extra map[string][]utillinux.Option
}

// Print writes the candidates for the request args (os.Args, FlagName
// last) to w, one per line.
func (a App) Print(w io.Writer, args []string) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	for _, word := range a.Words(args[0], args[1:len(args)-1]) {
		fmt.Fprintln(bw, word)
	}
}

// Words lists what may replace the last of words (the word under the
// cursor, "" for a new one) for the program invoked as argv0. Candidates
// are filtered by that word's prefix.
func (a App) Words(argv0 string, words []string) []string {
	if len(words) == 0 {
		words = []string{""}
	}
	cur, before := words[len(words)-1], words[:len(words)-1]
	var all []string
	if tool, ok := utillinux.Lookup(argv0); ok {
		all = toolWords(tool, false, nil, before, cur)
	} else {
		all = a.commandWords(before, cur)
	}
	var out []string
	for _, w := range all {
		if strings.HasPrefix(w, cur) && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// commandWords walks the ipc command tree along before and lists what may
// come at cur.
func (a App) commandWords(before []string, cur string) []string {
	cmds, flags := a.Commands, a.Flags
	var cmd *cli.Command
	i := 0
	for ; i < len(before); i++ {
		next := find(cmds, before[i])
		if next == nil {
			break
		}
		cmd, cmds = next, next.Subcommands
		if tool, ok := a.Util[next.Name]; ok && i == 0 {
			return toolWords(tool, true, a.Extra[next.Name], before[i+1:], cur)
		}
	}
	if cmd == nil {
		if strings.HasPrefix(cur, "-") {
			return flags
		}
		return names(a.Commands)
	}
	// A command with an action of its own besides subcommands (ipc bench,
	// with bench serve) completes as a command: its usage line names the
	// subcommands among its words.
	if len(cmd.Subcommands) > 0 && cmd.Action == nil {
		if strings.HasPrefix(cur, "-") {
			return []string{"--help"}
		}
		return names(cmd.Subcommands)
	}
	rest := before[i:]
	if len(rest) > 0 && !slices.Contains(rest, "--") {
		if f := findFlag(cmd, rest[len(rest)-1]); f != nil && takesValue(f) {
			if cmd.Name == "get" && slices.Contains(f.Names(), "key") && i == 2 {
				return ids(families[before[0]], true) // the keys that have an object
			}
			return flagValues(cmd, rest[len(rest)-1])
		}
	}
	if strings.HasPrefix(cur, "-") && !slices.Contains(rest, "--") {
		return flagNames(cmd)
	}
	if w := argWords(cmd, before[:i], positional(cmd, rest)); len(w) > 0 {
		return w
	}
	if slices.Contains(rest, "--") {
		return nil
	}
	return flagNames(cmd)
}

// toolWords completes a util-linux tool's command line: its options, the
// argument of the option before cur where the kind of object is known (ids
// after -q, -m, -s, -i; keys after -Q, -M, -S), and ipcrm's legacy first
// word.
func toolWords(tool *utillinux.Tool, sub bool, extra []utillinux.Option, before []string, cur string) []string {
	opts := append(tool.Options(sub), extra...)
	if strings.HasPrefix(cur, "-") && !slices.Contains(before, "--") {
		var w []string
		for _, o := range opts {
			if o.Short != 0 {
				w = append(w, "-"+string(o.Short))
			}
			w = append(w, "--"+o.Long)
		}
		return w
	}
	if len(before) > 0 {
		prev := before[len(before)-1]
		for _, o := range opts {
			if o.Arg == "" || o.Optional || (prev != "--"+o.Long && (o.Short == 0 || prev != "-"+string(o.Short))) {
				continue
			}
			return optionArg(tool, o, before)
		}
	}
	if tool == utillinux.Ipcrm && len(before) == 0 {
		return []string{"shm", "msg", "sem"}
	}
	if tool == utillinux.Ipcrm && len(before) > 0 && slices.Contains([]string{"shm", "msg", "sem"}, before[0]) {
		return ids(before[0], false) // "ipcrm shm ID..."
	}
	return nil
}

// optionArg lists the values of a util-linux option's argument that can be
// known without acting: ids and keys of the objects that exist.
func optionArg(tool *utillinux.Tool, o utillinux.Option, before []string) []string {
	kinds := map[byte]string{'q': "msg", 'm': "shm", 's': "sem", 'Q': "msg", 'M': "shm", 'S': "sem"}
	if tool == utillinux.Ipcrm {
		if k, ok := kinds[o.Short]; ok {
			return ids(k, o.Short >= 'A' && o.Short <= 'Z')
		}
		return nil
	}
	if o.Short == 'i' && (tool == utillinux.Ipcs || tool == utillinux.Lsipc) {
		family := map[string]string{"-q": "msg", "--queues": "msg", "-m": "shm", "--shmems": "shm", "-s": "sem", "--semaphores": "sem"}
		for _, b := range slices.Backward(before) {
			if k, ok := family[b]; ok {
				return ids(k, false)
			}
		}
	}
	return nil
}

// ids lists the ids (or keys, in hex) of the objects of kind ("msg",
// "shm", "sem") in this IPC namespace, read from /proc/sysvipc: reading
// them changes nothing.
func ids(kind string, keys bool) []string {
	f, err := os.Open("/proc/sysvipc/" + kind)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	s.Scan() // the header
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 2 {
			continue
		}
		if !keys {
			out = append(out, fields[1])
			continue
		}
		var k int64
		if _, err := fmt.Sscan(fields[0], &k); err == nil && k != 0 {
			out = append(out, fmt.Sprintf("0x%08x", uint32(k)))
		}
	}
	return out
}

// families maps the object commands to their /proc/sysvipc files.
var families = map[string]string{"sem": "sem", "msgq": "msg", "shm": "shm"}

func find(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

func names(cmds []*cli.Command) []string {
	var w []string
	for _, c := range cmds {
		if !c.Hidden {
			w = append(w, c.Name)
		}
	}
	return w
}

func findFlag(cmd *cli.Command, word string) cli.Flag {
	name, _, glued := strings.Cut(strings.TrimLeft(word, "-"), "=")
	if glued || !strings.HasPrefix(word, "-") {
		return nil
	}
	for _, f := range cmd.Flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

func takesValue(f cli.Flag) bool {
	d, ok := f.(cli.DocGenerationFlag)
	return ok && d.TakesValue()
}

func flagNames(cmd *cli.Command) []string {
	var w []string
	for _, f := range cmd.Flags {
		if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
			continue // hidden: not offered (sem get's --private)
		}
		for _, n := range f.Names() {
			if len(n) == 1 {
				w = append(w, "-"+n)
			} else {
				w = append(w, "--"+n)
			}
		}
	}
	return append(w, "--help")
}

// alternatives finds "a|b|c" lists in a command's usage line: after a flag
// ("--cpu same|cross|any") they are the flag's values, standing alone
// ("[sem|msgq|...]") the values of an argument.
var alternatives = regexp.MustCompile(`(--[a-z-]+ )?\[?([a-z][a-z0-9-]*(?:\|[a-z][a-z0-9-]*)+)\]?`)

// flagValues lists the values a flag's usage names (the word before cur
// is the flag).
func flagValues(cmd *cli.Command, word string) []string {
	f := findFlag(cmd, word)
	for _, m := range alternatives.FindAllStringSubmatch(cmd.UsageText, -1) {
		if m[1] != "" && slices.Contains(f.Names(), strings.TrimSuffix(strings.TrimPrefix(m[1], "--"), " ")) {
			return strings.Split(m[2], "|")
		}
	}
	return nil
}

// positional counts the arguments among rest that are not flags or flag
// values, so that only the first argument is completed from the usage.
func positional(cmd *cli.Command, rest []string) int {
	n := 0
	for k := 0; k < len(rest); k++ {
		w := rest[k]
		switch {
		case w == "--":
			return n + len(rest) - k - 1
		case strings.HasPrefix(w, "-") && len(w) > 1:
			if f := findFlag(cmd, w); f != nil && takesValue(f) {
				k++
			}
		default:
			n++
		}
	}
	return n
}

// argWords lists the values of a leaf command's first argument: a list in
// its usage line ("ipc bench [sem|msgq|...]"), or the ids of the objects of
// its family when the usage takes an ID ("ipc sem rm ID..."). n is the
// number of arguments before the one being completed.
func argWords(cmd *cli.Command, path []string, n int) []string {
	usage := strings.Fields(strings.SplitN(cmd.UsageText, "\n", 2)[0])
	k := slices.Index(usage, cmd.Name)
	if k < 0 || k+1 >= len(usage) {
		return nil
	}
	first := usage[k+1]
	if m := alternatives.FindStringSubmatch(first); n == 0 && m != nil && m[1] == "" && m[0] == first {
		return strings.Split(m[2], "|")
	}
	if strings.HasPrefix(first, "ID") && len(path) > 0 && (n == 0 || strings.HasPrefix(first, "ID...")) {
		return ids(families[path[0]], false)
	}
	return nil
}
