package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

// utilTool is what the util-linux compatible commands share: the names they
// print in messages, a buffered stdout (C's stdout is fully buffered when it
// is not a terminal, and ipcs can print thousands of lines), and the
// err/warnx family of util-linux's messages.
type utilTool struct {
	name  string // program_invocation_short_name: "ipcs", or "ipc" for ipc ls
	argv0 string // argv[0] as given: glibc's getopt messages start with it
	usage string // what "Try '... --help'" names: "ipcs", or "ipc ls"
	out   *bufio.Writer
	err   io.Writer
	tty   bool // stdout is a terminal: C would flush it line by line
	users map[uint32]string
	group map[uint32]string
}

// newTool makes the tool for a util-linux personality invoked as argv0, or
// for an ipc subcommand when sub is not empty ("ls": messages say "ipc",
// help says "ipc ls").
func newTool(argv0, sub string, stdout, stderr io.Writer) *utilTool {
	t := &utilTool{argv0: argv0, out: bufio.NewWriterSize(stdout, 4096), err: stderr, tty: isTerminal(stdout)}
	t.name = filepath.Base(argv0)
	t.usage = t.name
	if sub != "" {
		t.name, t.argv0, t.usage = "ipc", "ipc", "ipc "+sub
	}
	return t
}

// isTerminal reports whether w is a terminal, where C's stdio flushes
// stdout at every newline.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// getopt starts parsing args with util-linux's conventions for this tool.
func (t *utilTool) getopt(args []string, shorts string, longs []longOpt) *getopt {
	g := newGetopt(t.argv0, args, shorts, longs, t.err)
	g.before = func() {
		if t.tty {
			_ = t.out.Flush()
		}
	}
	return g
}

func writef(w io.Writer, format string, a ...any) { _, _ = fmt.Fprintf(w, format, a...) }

func (t *utilTool) printf(format string, a ...any) { writef(t.out, format, a...) }

// warnx is util-linux's warnx: "prog: message" on stderr. C's stdout is
// line buffered on a terminal and fully buffered (4 KiB) elsewhere, so
// "ipcrm -v ... 2>&1 | cat" shows the warnings before the -v lines; the
// same buffering gives the same interleaving.
func (t *utilTool) warnx(format string, a ...any) {
	if t.tty {
		_ = t.out.Flush()
	}
	writef(t.err, t.name+": "+format+"\n", a...)
}

// warn is util-linux's warn: the message, then ": " and strerror(errno).
func (t *utilTool) warn(errno error, format string, a ...any) {
	t.warnx(format+": %s", append(a, strerror(errno))...)
}

// tryHelp is errtryhelp(EXIT_FAILURE): the hint, and status 1.
func (t *utilTool) tryHelp() int {
	if t.tty {
		_ = t.out.Flush()
	}
	writef(t.err, "Try '%s --help' for more information.\n", t.usage)
	return 1
}

// finish flushes stdout as util-linux's close_stdout does at exit: a failed
// write (a full disk, /dev/full) is reported and turns the status into 1.
func (t *utilTool) finish(code int) int {
	if err := t.out.Flush(); err != nil {
		var errno unix.Errno
		if errors.As(err, &errno) && errno == unix.EPIPE {
			return code
		}
		writef(t.err, "%s: write error: %s\n", t.name, strerror(err))
		return 1
	}
	return code
}

// strerror words an error as glibc's strerror does ("Permission denied"):
// Go's texts are glibc's with a lower-case first letter.
func strerror(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		if errno == 0 {
			return "Success"
		}
		s := errno.Error()
		if s == "" || strings.HasPrefix(s, "errno ") {
			return "Unknown error " + strconv.Itoa(int(errno))
		}
		return strings.ToUpper(s[:1]) + s[1:]
	}
	var ne *strconv.NumError
	if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
		return "Numerical result out of range"
	}
	return err.Error()
}

// userName is getpwuid(uid)->pw_name, or ok false when the uid has no
// entry.
func (t *utilTool) userName(uid uint32) (string, bool) {
	if t.users == nil {
		t.users = map[uint32]string{}
	}
	name, seen := t.users[uid]
	if !seen {
		if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
			name = u.Username
		}
		t.users[uid] = name
	}
	return name, name != ""
}

// groupName is getgrgid(gid)->gr_name, or ok false.
func (t *utilTool) groupName(gid uint32) (string, bool) {
	if t.group == nil {
		t.group = map[uint32]string{}
	}
	name, seen := t.group[gid]
	if !seen {
		if g, err := user.LookupGroupId(strconv.FormatUint(uint64(gid), 10)); err == nil {
			name = g.Name
		}
		t.group[gid] = name
	}
	return name, name != ""
}

// ---- C-style number parsing, as util-linux's parsers accept numbers ----

// isCSpace is C's isspace in the C locale.
func isCSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

// strtoul is C's strtoul(s, &end, base) on a 64-bit system: leading blanks,
// an optional sign (a minus negates modulo 2^64), "0x" for hex and "0" for
// octal when base is 0. It returns the value, the unparsed rest (end) and
// whether the value overflowed (ERANGE, value then all ones). When no digit
// is found, rest is all of s.
func strtoul(s string, base int) (v uint64, rest string, overflow bool) {
	i := 0
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	if (base == 0 || base == 16) && i+1 < len(s) && s[i] == '0' && (s[i+1]|0x20) == 'x' &&
		i+2 < len(s) && digitValue(s[i+2]) < 16 {
		i += 2
		base = 16
	} else if base == 0 {
		base = 10
		if i < len(s) && s[i] == '0' {
			base = 8
		}
	}
	start := i
	for ; i < len(s); i++ {
		d := digitValue(s[i])
		if d >= base {
			break
		}
		if !overflow {
			hi, lo := mulAdd(v, uint64(base), uint64(d))
			if hi {
				overflow = true
			}
			v = lo
		}
	}
	if i == start {
		return 0, s, false
	}
	if overflow {
		return ^uint64(0), s[i:], true
	}
	if neg {
		v = -v
	}
	return v, s[i:], false
}

func mulAdd(v, m, d uint64) (overflow bool, r uint64) {
	if v > (^uint64(0)-d)/m {
		return true, 0
	}
	return false, v*m + d
}

func digitValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c|0x20 >= 'a' && c|0x20 <= 'z':
		return int(c|0x20-'a') + 10
	}
	return 99
}

// strtoimax is C's strtoimax(s, &end, 10): like strtoul, but a value
// outside int64 is an overflow.
func strtoimax(s string) (v int64, rest string, overflow bool) {
	i := 0
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	neg := i < len(s) && s[i] == '-'
	u, rest, of := strtoul(s, 10)
	if rest == s {
		return 0, s, false
	}
	if neg {
		u = -u // strtoul negated it; undo to get the magnitude
		if of || u > 1<<63 {
			return -1 << 63, rest, true
		}
		return -int64(u), rest, false
	}
	if of || u > 1<<63-1 {
		return 1<<63 - 1, rest, true
	}
	return int64(u), rest, false
}

// errBadNumber is a parse failure with no errno: util-linux then prints
// only "<what>: '<arg>'".
var errBadNumber = errors.New("bad number")

// strtos32 is util-linux's strtos32_or_err without the exit: decimal, with
// leading blanks and a sign, the whole string, within int32. The error is
// unix.ERANGE (printed with its strerror) or errBadNumber.
func strtos32(s string) (int32, error) {
	if s == "" {
		return 0, errBadNumber
	}
	v, rest, overflow := strtoimax(s)
	switch {
	case overflow:
		return 0, unix.ERANGE
	case rest == s || rest != "":
		return 0, errBadNumber
	case v < -1<<31 || v > 1<<31-1:
		return 0, unix.ERANGE
	}
	return int32(v), nil
}

// ---- sizes ----

// humanSize is util-linux's size_to_human_string(SIZE_SUFFIX_1LETTER, n):
// the largest binary unit not above n, one rounded decimal, the trailing
// zero dropped: 1536 is "1.5K", 1048575 "1024K" (the rounding overflows
// into the integer part but not into the next unit), 0 "0B".
func humanSize(n uint64) string {
	exp := 0
	for shift := 10; shift <= 60; shift += 10 {
		if n < 1<<shift {
			break
		}
		exp = shift
	}
	letter := "BKMGTPE"[exp/10]
	dec := n >> exp
	frac := n & (1<<exp - 1)
	if frac != 0 {
		if frac >= ^uint64(0)/1000 {
			frac = (frac / 1024) * 1000 / (1 << (exp - 10))
		} else {
			frac = frac * 1000 / (1 << exp)
		}
		frac = (frac + 50) / 100 * 10
		if frac == 100 {
			dec++
			frac = 0
		}
	}
	if frac == 0 {
		return strconv.FormatUint(dec, 10) + string(letter)
	}
	return strconv.FormatUint(dec, 10) + "." + strconv.FormatUint(frac/10, 10) + string(letter)
}

// parseSize is util-linux's strtosize (parse_size): a number in C syntax
// (0x hex, leading-0 octal), optionally a fraction after '.', then a
// suffix K M G T P E Z Y (either case) with "iB" for powers of 1024 (the
// default) or "B" for powers of 1000. Negative numbers are refused. The
// error is unix.EINVAL or unix.ERANGE.
func parseSize(s string) (uint64, error) {
	if s == "" {
		return 0, unix.EINVAL
	}
	p := 0
	for p < len(s) && isCSpace(s[p]) {
		p++
	}
	if p < len(s) && s[p] == '-' {
		return 0, unix.EINVAL
	}
	x, rest, overflow := strtoul(s, 0)
	if rest == s {
		return 0, unix.EINVAL
	}
	if overflow {
		return 0, unix.ERANGE
	}
	if rest == "" {
		return x, nil
	}
	var frac uint64
	fracZeros := 0
	base := uint64(1024)
	for {
		if len(rest) == 3 && rest[1] == 'i' && (rest[2] == 'B' || rest[2] == 'b') {
			break // KiB: powers of 1024
		}
		if len(rest) == 2 && (rest[1] == 'B' || rest[1] == 'b') {
			base = 1000 // KB: powers of 1000
			break
		}
		if len(rest) <= 1 {
			break
		}
		// More than a suffix: a fraction ("1.5K"), once.
		if frac != 0 || rest[0] != '.' {
			return 0, unix.EINVAL
		}
		f := rest[1:]
		for f != "" && f[0] == '0' {
			fracZeros++
			f = f[1:]
		}
		end := f
		if f != "" && f[0] >= '0' && f[0] <= '9' {
			var of bool
			frac, end, of = strtoul(f, 0)
			if of {
				return 0, unix.ERANGE
			}
		}
		if frac != 0 && end == "" {
			return 0, unix.EINVAL // a fraction needs a suffix
		}
		rest = end
	}
	if rest == "" {
		return 0, unix.EINVAL // "1.0": nothing after the fraction
	}
	pwr := strings.IndexByte("KMGTPEZY", rest[0]) + 1
	if pwr == 0 {
		pwr = strings.IndexByte("kmgtpezy", rest[0]) + 1
	}
	if pwr == 0 {
		return 0, unix.EINVAL
	}
	var err error
	x, err = scaleByPower(x, base, pwr)
	if err != nil {
		return 0, err
	}
	if frac != 0 {
		fracBase, _ := scaleByPower(1, base, pwr)
		fracDiv := uint64(10)
		for fracDiv < frac && fracDiv <= ^uint64(0)/10 {
			fracDiv *= 10
		}
		for i := 0; i < fracZeros && fracDiv <= ^uint64(0)/10; i++ {
			fracDiv *= 10
		}
		poz := uint64(1)
		for frac != 0 {
			seg := frac % 10
			segDiv := fracDiv / poz
			frac /= 10
			poz *= 10
			if seg != 0 && segDiv/seg != 0 {
				x += fracBase / (segDiv / seg)
			}
		}
	}
	return x, nil
}

func scaleByPower(x, base uint64, pwr int) (uint64, error) {
	for ; pwr > 0; pwr-- {
		if x > ^uint64(0)/base {
			return 0, unix.ERANGE
		}
		x *= base
	}
	return x, nil
}

// ---- times ----

// ctime is C's ctime(3) without the newline, in the local time zone:
// "Sun Nov 22 11:44:23 2026".
func ctime(t time.Time) string { return t.Local().Format("Mon Jan _2 15:04:05 2006") }

// cut is printf's %-W.Ps: at most prec bytes of s, left-justified in
// width. Go's %.Ps counts runes, C counts bytes.
func cut(s string, width, prec int) string {
	if len(s) > prec {
		s = s[:prec]
	}
	if len(s) < width {
		s += strings.Repeat(" ", width-len(s))
	}
	return s
}

// pad is printf's %-Ws with C's byte counting.
func pad(s string, width int) string {
	if len(s) < width {
		return s + strings.Repeat(" ", width-len(s))
	}
	return s
}

// registerUtil adds cmd, an ipc command that parses its own arguments as
// the util-linux tool personality does (getopt_long, not urfave), and makes
// the binary that tool when it is invoked under its name.
func registerUtil(cmd *cli.Command, personality string, run func(t *utilTool, args []string) int) {
	cmd.SkipFlagParsing, cmd.HideHelp = true, true
	cmd.Action = func(c *cli.Context) error {
		if code, ok := adminUtil(cmd.Name, c.App.Writer, c.App.ErrWriter, c.Args().Slice()); ok { // admin.go
			return statusOf(code)
		}
		return statusOf(run(newTool("", cmd.Name, c.App.Writer, c.App.ErrWriter), c.Args().Slice()))
	}
	register(cmd)
	personalities[personality] = func(args []string, stdout, stderr io.Writer) int {
		return run(newTool(args[0], "", stdout, stderr), args[1:])
	}
}
