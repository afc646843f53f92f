package utillinux

import (
	"io"
	"os"
	"strings"
)

// The util-linux personalities (ls, rm, mk, and the ipcs/ipcrm/ipcmk/lsipc
// links) parse their arguments the way glibc's getopt_long does, because
// scripts written for util-linux depend on it and urfave/cli cannot: short
// options cluster ("-qa"), a required argument may be glued or separate
// ("-i1", "-i 1"), an optional one only glued ("-ashm", "--all=shm"), long
// options may be abbreviated to any unambiguous prefix ("--sem"), "--" ends
// the options, and other arguments are moved behind the options (unless
// POSIXLY_CORRECT is set) so that "ipcrm x -q 1" still removes queue 1. The
// error messages are glibc's, word for word.

// Argument kinds of an option, as in struct option's has_arg.
const (
	noArg = iota
	requiredArg
	optionalArg
)

// longOpt is one entry of a getopt_long option table.
type longOpt struct {
	name string
	has  int
	val  int // the short option it stands for, or a code above 255
}

// getopt walks the arguments of one command. Call next until it reports
// done; then rest holds the arguments that were not options, in the order
// getopt_long leaves them in argv from optind on.
type getopt struct {
	prog   string // argv[0] as given: glibc prefixes its messages with it
	args   []string
	shorts string // optstring without any leading '+', '-' or ':'
	longs  []longOpt
	stderr io.Writer
	posix  bool   // stop at the first argument that is not an option
	before func() // called before a message, to flush a terminal's stdout

	i       int    // next element of args
	cluster string // rest of a cluster of short options ("-qsa" after -q: "sa")
	nonopts []string
	rest    []string
}

func newGetopt(prog string, args []string, shorts string, longs []longOpt, stderr io.Writer) *getopt {
	g := &getopt{prog: prog, args: args, shorts: shorts, longs: longs, stderr: stderr}
	if strings.HasPrefix(g.shorts, "+") {
		g.posix = true
		g.shorts = g.shorts[1:]
	}
	if _, ok := os.LookupEnv("POSIXLY_CORRECT"); ok {
		g.posix = true
	}
	return g
}

// next returns the next option: its short letter (or long code), its
// argument and whether it has one. done is true when the options are over.
// On a mistake it prints glibc's message and returns opt '?'.
func (g *getopt) next() (opt int, arg string, hasArg bool, done bool) {
	if g.cluster != "" {
		return g.short()
	}
	for g.i < len(g.args) {
		a := g.args[g.i]
		switch {
		case a == "--":
			g.i++
			g.rest = append(g.nonopts, g.args[g.i:]...)
			g.i = len(g.args)
			return 0, "", false, true
		case len(a) < 2 || a[0] != '-':
			if g.posix {
				g.rest = append(g.nonopts, g.args[g.i:]...)
				g.i = len(g.args)
				return 0, "", false, true
			}
			g.nonopts = append(g.nonopts, a)
			g.i++
			continue
		case strings.HasPrefix(a, "--"):
			g.i++
			return g.long(a[2:])
		default:
			g.i++
			g.cluster = a[1:]
			return g.short()
		}
	}
	g.rest = g.nonopts
	return 0, "", false, true
}

func (g *getopt) short() (int, string, bool, bool) {
	c := g.cluster[0]
	g.cluster = g.cluster[1:]
	k := strings.IndexByte(g.shorts, c)
	if k < 0 || c == ':' {
		g.printf("%s: invalid option -- '%c'\n", g.prog, c)
		return '?', "", false, false
	}
	colons := 0
	for j := k + 1; j < len(g.shorts) && g.shorts[j] == ':' && colons < 2; j++ {
		colons++
	}
	switch colons {
	case 0:
		return int(c), "", false, false
	case 2: // optional: only the rest of this cluster
		if g.cluster != "" {
			arg := g.cluster
			g.cluster = ""
			return int(c), arg, true, false
		}
		return int(c), "", false, false
	}
	if g.cluster != "" {
		arg := g.cluster
		g.cluster = ""
		return int(c), arg, true, false
	}
	if g.i < len(g.args) {
		arg := g.args[g.i]
		g.i++
		return int(c), arg, true, false
	}
	g.printf("%s: option requires an argument -- '%c'\n", g.prog, c)
	return '?', "", false, false
}

func (g *getopt) long(text string) (int, string, bool, bool) {
	name, value, hasValue := strings.Cut(text, "=")
	var found *longOpt
	var candidates []*longOpt
	for k := range g.longs {
		o := &g.longs[k]
		if o.name == name {
			found = o
			candidates = nil
			break
		}
		if strings.HasPrefix(o.name, name) {
			candidates = append(candidates, o)
		}
	}
	if found == nil {
		switch {
		case len(candidates) == 0:
			g.printf("%s: unrecognized option '--%s'\n", g.prog, text)
			return '?', "", false, false
		case len(candidates) == 1 || sameOption(candidates):
			found = candidates[0]
		default:
			// glibc names the first match and those that differ from it.
			var b strings.Builder
			for k, o := range candidates {
				if k == 0 || o.has != candidates[0].has || o.val != candidates[0].val {
					b.WriteString(" '--" + o.name + "'")
				}
			}
			g.printf("%s: option '--%s' is ambiguous; possibilities:%s\n", g.prog, text, b.String())
			return '?', "", false, false
		}
	}
	switch found.has {
	case noArg:
		if hasValue {
			g.printf("%s: option '--%s' doesn't allow an argument\n", g.prog, found.name)
			return '?', "", false, false
		}
		return found.val, "", false, false
	case optionalArg:
		return found.val, value, hasValue, false
	}
	if hasValue {
		return found.val, value, true, false
	}
	if g.i < len(g.args) {
		arg := g.args[g.i]
		g.i++
		return found.val, arg, true, false
	}
	g.printf("%s: option '--%s' requires an argument\n", g.prog, found.name)
	return '?', "", false, false
}

// sameOption: glibc does not call an abbreviation ambiguous when every
// option it could stand for means the same thing.
func sameOption(c []*longOpt) bool {
	for _, o := range c[1:] {
		if o.has != c[0].has || o.val != c[0].val {
			return false
		}
	}
	return true
}

func (g *getopt) printf(format string, a ...any) {
	if g.before != nil {
		g.before()
	}
	writef(g.stderr, format, a...)
}
