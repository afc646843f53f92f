package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/msgq"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/ipctoolkit/ipc/shm"
)

// lsipc is util-linux 2.38.1's lsipc, reached through a link named lsipc:
// the --global summary (its default), the -q/-m/-s listings with -c, -t,
// -b, -P, -o and --time-format, the -i details, and the table, --json,
// --raw, --export, --newline and --list output modes of libsmartcols as
// 2.38.1 prints them to a pipe or a file. Three 2.38.1 bugs are not
// copied: SEMMNS's USED (2.38.1 multiplies the number of sets by the size
// of the first), CGID of queues and segments (2.38.1 prints the creator's
// uid), and -P on queues (2.38.1 prints nothing).

func init() {
	personalities["lsipc"] = func(args []string, stdout, stderr io.Writer) int {
		return runLsipc(newTool(args[0], "", stdout, stderr), args[1:])
	}
}

// The columns, in lsipc's order: the generic ones, the queue, segment and
// semaphore ones, and the --global ones.
const (
	colKey = iota
	colID
	colOwner
	colPerms
	colCUID
	colCUser
	colCGID
	colCGroup
	colUID
	colUser
	colGID
	colGroup
	colCTime
	colUsedBytes // queues
	colMsgs
	colSend
	colRecv
	colLSPID
	colLRPID
	colSize // segments
	colNattch
	colStatus
	colAttach
	colDetach
	colCommand
	colCPID
	colLPID
	colNsems // semaphores
	colOTime
	colResource // --global
	colDesc
	colLimit
	colUsed
	colUsePerc
	numCols
)

type lsColumn struct {
	name, pretty string
	right        bool
}

var lsColumns = [numCols]lsColumn{
	colKey:       {"KEY", "Key", false},
	colID:        {"ID", "ID", false},
	colOwner:     {"OWNER", "Owner", true},
	colPerms:     {"PERMS", "Permissions", true},
	colCUID:      {"CUID", "Creator UID", true},
	colCUser:     {"CUSER", "Creator user", false},
	colCGID:      {"CGID", "Creator GID", true},
	colCGroup:    {"CGROUP", "Creator group", false},
	colUID:       {"UID", "UID", true},
	colUser:      {"USER", "User name", false},
	colGID:       {"GID", "GID", true},
	colGroup:     {"GROUP", "Group name", false},
	colCTime:     {"CTIME", "Last change", true},
	colUsedBytes: {"USEDBYTES", "Bytes used", true},
	colMsgs:      {"MSGS", "Messages", false},
	colSend:      {"SEND", "Msg sent", true},
	colRecv:      {"RECV", "Msg received", true},
	colLSPID:     {"LSPID", "Msg sender", true},
	colLRPID:     {"LRPID", "Msg receiver", true},
	colSize:      {"SIZE", "Segment size", true},
	colNattch:    {"NATTCH", "Attached processes", true},
	colStatus:    {"STATUS", "Status", false},
	colAttach:    {"ATTACH", "Attach time", true},
	colDetach:    {"DETACH", "Detach time", true},
	colCommand:   {"COMMAND", "Creator command", false},
	colCPID:      {"CPID", "Creator PID", true},
	colLPID:      {"LPID", "Last user PID", true},
	colNsems:     {"NSEMS", "Semaphores", true},
	colOTime:     {"OTIME", "Last operation", true},
	colResource:  {"RESOURCE", "Resource", false},
	colDesc:      {"DESCRIPTION", "Description", false},
	colLimit:     {"LIMIT", "Limit", true},
	colUsed:      {"USED", "Used", true},
	colUsePerc:   {"USE%", "Use", true},
}

// Output modes and time formats.
const (
	outTable = iota
	outExport
	outNewline
	outRaw
	outJSON
	outPretty
	outList
)

const (
	timeUnset = iota
	timeShort
	timeFull
	timeISO
)

const (
	optNoTrunc = 256 + iota
	optNoHead
	optTimeFmt
)

var lsipcLongs = []longOpt{
	{"bytes", noArg, 'b'},
	{"creator", noArg, 'c'},
	{"export", noArg, 'e'},
	{"global", noArg, 'g'},
	{"help", noArg, 'h'},
	{"id", requiredArg, 'i'},
	{"json", noArg, 'J'},
	{"list", noArg, 'l'},
	{"newline", noArg, 'n'},
	{"noheadings", noArg, optNoHead},
	{"notruncate", noArg, optNoTrunc},
	{"numeric-perms", noArg, 'P'},
	{"output", requiredArg, 'o'},
	{"queues", noArg, 'q'},
	{"raw", noArg, 'r'},
	{"semaphores", noArg, 's'},
	{"shmems", noArg, 'm'},
	{"time", noArg, 't'},
	{"time-format", requiredArg, optTimeFmt},
	{"version", noArg, 'V'},
	{"shell", noArg, 'y'},
}

// lsipcExcl are lsipc's groups of mutually exclusive options, rows and
// columns in the order util-linux lists them. util-linux's check walks
// them assuming rows sorted by their first option, which they are not, so
// -c is never checked; the same walk here keeps that.
var lsipcExcl = [][]int{
	{'J', 'e', 'l', 'n', 'r'},
	{'g', 'i'},
	{'c', 'o', 't'},
	{'m', 'q', 's'},
}

type lsipc struct {
	*utilTool
	outmode            int
	noheadings, bytes  bool
	numperms, shellvar bool
	timeMode           int
	now                time.Time
	lower, upper       int // the family columns -o may name
}

func runLsipc(t *utilTool, args []string) int {
	l := &lsipc{utilTool: t, now: time.Now()}
	msg, shm, sem, global := false, false, false, false
	showTime, showCreat := false, false
	id := -1
	outarg, hasOut := "", false
	var columns []int
	excl := make([]int, len(lsipcExcl))
	g := t.getopt(args, "bceghi:Jlmno:PqrstVy", lsipcLongs)
	for {
		opt, arg, _, done := g.next()
		if done {
			break
		}
		if name := exclusiveConflict(opt, excl); name != "" {
			t.warnx("mutually exclusive arguments:%s", name)
			return t.finish(1)
		}
		switch opt {
		case 'b':
			l.bytes = true
		case 'i':
			v, err := strtos32(arg)
			if err != nil {
				return t.finish(t.parseFailure("failed to parse IPC identifier", arg, err))
			}
			id = int(v)
		case 'e':
			l.outmode = outExport
		case 'r':
			l.outmode = outRaw
		case 'o':
			outarg, hasOut = arg, true
		case 'g':
			global = true
		case 'q':
			msg = true
			columns = append(columns, colKey, colID, colPerms, colOwner, colUsedBytes, colMsgs, colLSPID, colLRPID)
			l.lower, l.upper = colUsedBytes, colLRPID
		case 'l':
			l.outmode = outList
		case 'm':
			shm = true
			columns = append(columns, colKey, colID, colPerms, colOwner, colSize, colNattch, colStatus, colCTime, colCPID, colLPID, colCommand)
			l.lower, l.upper = colSize, colLPID
		case 'n':
			l.outmode = outNewline
		case 'P':
			l.numperms = true
		case 's':
			sem = true
			columns = append(columns, colKey, colID, colPerms, colOwner, colNsems)
			l.lower, l.upper = colNsems, colOTime
		case optNoTrunc:
		case optNoHead:
			l.noheadings = true
		case optTimeFmt:
			switch arg {
			case "iso":
				l.timeMode = timeISO
			case "full":
				l.timeMode = timeFull
			case "short":
				l.timeMode = timeShort
			default:
				t.warnx("unknown time format: %s", arg)
				return t.finish(1)
			}
		case 'J':
			l.outmode = outJSON
		case 't':
			showTime = true
		case 'c':
			showCreat = true
		case 'y':
			l.shellvar = true
		case 'h':
			lsipcUsage(t)
			return t.finish(0)
		case 'V':
			t.printf("%s from ipc (util-linux 2.38.1 compatible)\n", t.name)
			return t.finish(0)
		default:
			return t.finish(t.tryHelp())
		}
	}
	if !msg && !shm && !sem {
		msg, shm, sem, global = true, true, true, true
		if showTime || showCreat || id != -1 {
			t.warnx("--global is mutually exclusive with --creator, --id and --time")
			return t.finish(1)
		}
	}
	if global {
		columns = append(columns, colResource, colDesc, colLimit, colUsed, colUsePerc)
		l.lower, l.upper = colResource, colUsePerc
	}
	if id != -1 && l.outmode == outTable {
		l.outmode = outPretty
	}
	if l.timeMode == timeUnset {
		l.timeMode = timeShort
		if l.outmode == outPretty {
			l.timeMode = timeFull
		}
	}
	if l.outmode == outPretty && !hasOut && !showCreat && !showTime {
		columns = columns[:0]
		for c := range numCols {
			columns = append(columns, c)
		}
	} else {
		if showCreat {
			columns = append(columns, colCUID, colCGID, colUID, colGID)
		}
		if msg && showTime {
			columns = append(columns, colSend, colRecv, colCTime)
		}
		if shm && showTime {
			// COMMAND stays the last column.
			cmd := len(columns) > 0 && columns[len(columns)-1] == colCommand
			if cmd {
				columns = columns[:len(columns)-1]
			}
			columns = append(columns, colAttach, colDetach)
			if cmd {
				columns = append(columns, colCommand)
			}
		}
		if sem && showTime {
			columns = append(columns, colOTime, colCTime)
		}
	}
	if hasOut {
		var ok bool
		if columns, ok = l.parseColumns(outarg, columns); !ok {
			return t.finish(1)
		}
	}
	tb := &lsTable{cols: columns}
	if global {
		tb.name = "ipclimits"
	}
	var err error
	if msg {
		if global {
			err = l.queuesGlobal(tb)
		} else {
			err = l.queues(tb, id)
		}
	}
	if shm && err == nil {
		if global {
			err = l.segmentsGlobal(tb)
		} else {
			err = l.segments(tb, id)
		}
	}
	if sem && err == nil {
		if global {
			err = l.setsGlobal(tb)
		} else {
			err = l.sets(tb, id)
		}
	}
	if err != nil {
		t.warnx("%v", err)
		return t.finish(1)
	}
	l.print(tb)
	return t.finish(0)
}

// exclusiveConflict is util-linux's err_exclusive_options: it records the
// first option seen of each group and returns the group's option names
// when another of the same group follows, or "".
func exclusiveConflict(opt int, status []int) string {
	for e, row := range lsipcExcl {
		if row[0] > opt {
			break
		}
		for _, o := range row {
			if o > opt {
				break
			}
			if o != opt {
				continue
			}
			if status[e] == 0 {
				status[e] = opt
			} else if status[e] != opt {
				var b strings.Builder
				for _, x := range row {
					b.WriteString(" --" + longName(x))
				}
				return b.String()
			}
			break
		}
	}
	return ""
}

func longName(short int) string {
	for _, o := range lsipcLongs {
		if o.val == short {
			return o.name
		}
	}
	return string(rune(short))
}

// parseColumns applies -o: a comma-separated list of column names (any
// case) replacing the columns, or appended to them after a '+'. As in
// util-linux, an unknown name is reported with the rest of the list.
func (l *lsipc) parseColumns(list string, columns []int) ([]int, bool) {
	if list == "" {
		return nil, false
	}
	if strings.HasPrefix(list, "+") {
		list = list[1:]
	} else {
		columns = nil
	}
	if list == "" {
		return nil, false
	}
	begin := -1
	for p := 0; p < len(list); p++ {
		if begin < 0 {
			begin = p
		}
		end := -1
		if list[p] == ',' {
			end = p
		}
		if p+1 == len(list) {
			end = p + 1
		}
		if end < 0 {
			continue
		}
		if end <= begin {
			return nil, false // an empty name: util-linux fails silently
		}
		name := list[begin:end]
		c := -1
		for k, col := range lsColumns {
			if strings.EqualFold(col.name, name) {
				c = k
				break
			}
		}
		switch {
		case c < 0:
			l.warnx("unknown column: %s", list[begin:])
			return nil, false
		case c > colCTime && (c < l.lower || c > l.upper):
			l.warnx("column %s does not apply to the specified IPC", list[begin:])
			return nil, false
		}
		columns = append(columns, c)
		begin = -1
		if end == len(list) {
			break
		}
	}
	return columns, true
}

// lsTable is a libsmartcols table: named columns, rows of cells where nil
// is an unset cell, and for lsipc -s -i the elements of the set.
type lsTable struct {
	name     string
	cols     []int
	rows     [][]*string
	elements [][]string
}

func (tb *lsTable) newRow() []*string {
	r := make([]*string, len(tb.cols))
	tb.rows = append(tb.rows, r)
	return r
}

func str(s string) *string { return &s }

func (l *lsipc) time(when time.Time) *string {
	if when.IsZero() {
		return nil
	}
	when = when.Local()
	switch l.timeMode {
	case timeFull:
		return str(when.Format("Mon Jan _2 15:04:05 2006"))
	case timeISO:
		return str(when.Format("2006-01-02T15:04:05-07:00"))
	}
	now := l.now.Local()
	switch {
	case when.YearDay() == now.YearDay() && when.Year() == now.Year():
		return str(when.Format("15:04"))
	case when.Year() == now.Year():
		return str(when.Format("Jan02"))
	}
	return str(when.Format("2006-Jan02"))
}

func (l *lsipc) size(n uint64) *string {
	if l.bytes {
		return str(strconv.FormatUint(n, 10))
	}
	return str(humanSize(n))
}

// generic fills the columns every family has.
func (l *lsipc) generic(row []*string, c int, id int, p ipc.Perm, ctime time.Time) {
	num := func(v uint32) *string { return str(strconv.FormatUint(uint64(v), 10)) }
	name := func(s string, ok bool) *string {
		if !ok {
			return nil
		}
		return str(s)
	}
	switch c {
	case colKey:
		row[0] = str(p.Key.String())
	case colID:
		row[0] = str(strconv.Itoa(id))
	case colOwner:
		if n, ok := l.userName(p.UID); ok {
			row[0] = str(n)
		} else {
			row[0] = num(p.UID)
		}
	case colPerms:
		if l.numperms {
			row[0] = str(fmt.Sprintf("%#o", uint32(p.Mode)&0o777))
		} else {
			row[0] = str(p.Mode.String())
		}
	case colCUID:
		row[0] = num(p.CUID)
	case colCUser:
		row[0] = name(l.userName(p.CUID))
	case colCGID:
		row[0] = num(p.CGID)
	case colCGroup:
		row[0] = name(l.groupName(p.CGID))
	case colUID:
		row[0] = num(p.UID)
	case colUser:
		row[0] = name(l.userName(p.UID))
	case colGID:
		row[0] = num(p.GID)
	case colGroup:
		row[0] = name(l.groupName(p.GID))
	case colCTime:
		row[0] = l.time(ctime)
	}
}

// notFound is lsipc's "id N not found": a warning, status 0, and for
// queues and segments a table that keeps no name (util-linux names it only
// when something was found).
func (l *lsipc) notFound(id int) {
	if id > -1 {
		l.warnx("id %d not found", id)
	}
}

func (l *lsipc) queues(tb *lsTable, id int) error {
	qs, err := msgq.List()
	if err != nil {
		return err
	}
	qs = selectID(qs, id, func(q msgq.Info) int { return q.ID })
	if len(qs) == 0 {
		l.notFound(id)
		return nil
	}
	tb.name = "messages"
	for _, q := range qs {
		row := tb.newRow()
		for n, c := range tb.cols {
			cell := row[n : n+1]
			switch c {
			case colUsedBytes:
				cell[0] = l.size(q.CBytes)
			case colMsgs:
				cell[0] = str(strconv.FormatUint(q.QNum, 10))
			case colSend:
				cell[0] = l.time(q.STime)
			case colRecv:
				cell[0] = l.time(q.RTime)
			case colLSPID:
				cell[0] = str(strconv.Itoa(q.LSPID))
			case colLRPID:
				cell[0] = str(strconv.Itoa(q.LRPID))
			default:
				l.generic(cell, c, q.ID, q.Perm, q.CTime)
			}
		}
	}
	return nil
}

func (l *lsipc) segments(tb *lsTable, id int) error {
	segs, err := shm.List()
	if err != nil {
		return err
	}
	segs = selectID(segs, id, func(s shm.Info) int { return s.ID })
	if len(segs) == 0 {
		l.notFound(id)
		return nil
	}
	tb.name = "sharedmemory"
	for _, s := range segs {
		row := tb.newRow()
		for n, c := range tb.cols {
			cell := row[n : n+1]
			switch c {
			case colSize:
				cell[0] = l.size(uint64(s.Size))
			case colNattch:
				cell[0] = str(strconv.FormatUint(uint64(s.NAttch), 10))
			case colStatus:
				cell[0] = str(segmentStatus(s))
			case colAttach:
				cell[0] = l.time(s.ATime)
			case colDetach:
				cell[0] = l.time(s.DTime)
			case colCPID:
				cell[0] = str(strconv.Itoa(s.CPID))
			case colLPID:
				cell[0] = str(strconv.Itoa(s.LPID))
			case colCommand:
				if cmd, ok := ipc.CommandLine(s.CPID); ok {
					cell[0] = str(cmd)
				}
			default:
				l.generic(cell, c, s.ID, s.Perm, s.CTime)
			}
		}
	}
	return nil
}

func (l *lsipc) sets(tb *lsTable, id int) error {
	tb.name = "semaphores"
	sets, err := sem.List()
	if err != nil {
		return err
	}
	sets = selectID(sets, id, func(s sem.Info) int { return s.ID })
	if len(sets) == 0 {
		l.notFound(id)
		return nil
	}
	for _, s := range sets {
		row := tb.newRow()
		for n, c := range tb.cols {
			cell := row[n : n+1]
			switch c {
			case colNsems:
				cell[0] = str(strconv.Itoa(s.NSems))
			case colOTime:
				cell[0] = l.time(s.OTime)
			default:
				l.generic(cell, c, s.ID, s.Perm, s.CTime)
			}
		}
		if id > -1 && s.NSems > 0 {
			vals, err := s.States()
			if err != nil {
				return err
			}
			for _, v := range vals {
				cmd, _ := ipc.CommandLine(v.PID)
				tb.elements = append(tb.elements, []string{
					strconv.Itoa(v.Num), strconv.Itoa(v.Value), strconv.Itoa(v.NCount),
					strconv.Itoa(v.ZCount), strconv.Itoa(v.PID), cmd})
			}
		}
	}
	return nil
}

// selectID keeps the object with the id, or all of them for -1.
func selectID[T any](all []T, id int, idOf func(T) int) []T {
	if id == -1 {
		return all
	}
	for _, x := range all {
		if idOf(x) == id {
			return []T{x}
		}
	}
	return nil
}

// globalRow adds a --global row. byteUnit rows are human sizes unless -b;
// rows without usage show "-".
func (l *lsipc) globalRow(tb *lsTable, res, desc string, used, limit uint64, usage, byteUnit bool) {
	row := tb.newRow()
	value := func(v uint64) *string {
		if byteUnit && !l.bytes {
			return str(humanSize(v))
		}
		return str(strconv.FormatUint(v, 10))
	}
	for n, c := range tb.cols {
		switch c {
		case colResource:
			row[n] = str(res)
		case colDesc:
			row[n] = str(desc)
		case colUsed:
			row[n] = str("-")
			if usage {
				row[n] = value(used)
			}
		case colUsePerc:
			row[n] = str("-")
			if usage {
				row[n] = str(fmt.Sprintf("%2.2f%%", float64(used)/float64(limit)*100))
			}
		case colLimit:
			row[n] = value(limit)
		}
	}
}

func (l *lsipc) queuesGlobal(tb *lsTable) error {
	lim, err := ipc.ReadLimits()
	if err != nil {
		return err
	}
	qs, err := msgq.List()
	if err != nil {
		return err
	}
	l.globalRow(tb, "MSGMNI", "Number of message queues", uint64(len(qs)), lim.MSGMNI, true, false)
	l.globalRow(tb, "MSGMAX", "Max size of message (bytes)", 0, lim.MSGMAX, false, true)
	l.globalRow(tb, "MSGMNB", "Default max size of queue (bytes)", 0, lim.MSGMNB, false, true)
	return nil
}

func (l *lsipc) segmentsGlobal(tb *lsTable) error {
	lim, err := ipc.ReadLimits()
	if err != nil {
		return err
	}
	segs, err := shm.List()
	if err != nil {
		return err
	}
	var total uint64
	for _, s := range segs {
		total += uint64(s.Size)
	}
	l.globalRow(tb, "SHMMNI", "Shared memory segments", uint64(len(segs)), lim.SHMMNI, true, false)
	l.globalRow(tb, "SHMALL", "Shared memory pages", total/uint64(lim.PageSize), lim.SHMALL, true, false)
	l.globalRow(tb, "SHMMAX", "Max size of shared memory segment (bytes)", 0, lim.SHMMAX, false, true)
	l.globalRow(tb, "SHMMIN", "Min size of shared memory segment (bytes)", 0, lim.SHMMIN, false, true)
	return nil
}

func (l *lsipc) setsGlobal(tb *lsTable) error {
	lim, err := ipc.ReadLimits()
	if err != nil {
		return err
	}
	sets, err := sem.List()
	if err != nil {
		return err
	}
	var nsems uint64
	for _, s := range sets {
		nsems += uint64(s.NSems)
	}
	l.globalRow(tb, "SEMMNI", "Number of semaphore identifiers", uint64(len(sets)), uint64(lim.SEMMNI), true, false)
	l.globalRow(tb, "SEMMNS", "Total number of semaphores", nsems, uint64(lim.SEMMNS), true, false)
	l.globalRow(tb, "SEMMSL", "Max semaphores per semaphore set.", 0, uint64(lim.SEMMSL), false, false)
	l.globalRow(tb, "SEMOPM", "Max number of operations per semop(2)", 0, uint64(lim.SEMOPM), false, false)
	l.globalRow(tb, "SEMVMX", "Semaphore max value", 0, uint64(lim.SEMVMX), false, false)
	return nil
}

// ---- libsmartcols output, as 2.38.1 prints to something not a terminal ----

func (l *lsipc) print(tb *lsTable) {
	switch l.outmode {
	case outPretty:
		l.printPretty(tb)
	case outJSON:
		l.printJSON(tb)
	case outRaw:
		l.printRaw(tb)
	case outExport, outNewline:
		l.printExport(tb)
	default:
		l.printTable(tb.cols, tb.rows, l.noheadings, nil)
	}
}

// printTable aligns the cells in columns as wide as their widest cell or
// header, one space apart: right-aligned columns are padded on the left,
// and the last column is not padded (nor is an empty right-aligned one).
func (l *lsipc) printTable(cols []int, rows [][]*string, noheadings bool, right []bool) {
	isRight := func(k int) bool {
		if right != nil {
			return right[k]
		}
		return lsColumns[cols[k]].right
	}
	header := make([]*string, len(cols))
	width := make([]int, len(cols))
	for k, c := range cols {
		name := lsColumns[c].name
		if right != nil {
			name = elementColumns[k]
		}
		header[k] = str(name)
		width[k] = utf8.RuneCountInString(name)
	}
	enc := make([][]string, len(rows))
	for r, row := range rows {
		enc[r] = make([]string, len(cols))
		for k, cell := range row {
			if cell != nil {
				enc[r][k] = safeEncode(*cell)
			}
			if w := utf8.RuneCountInString(enc[r][k]); w > width[k] {
				width[k] = w
			}
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		for k, s := range cells {
			w := utf8.RuneCountInString(s)
			last := k == len(cells)-1
			switch {
			case isRight(k) && !(last && s == ""):
				b.WriteString(strings.Repeat(" ", width[k]-w) + s)
			case last:
				b.WriteString(s)
			default:
				b.WriteString(s + strings.Repeat(" ", width[k]-w))
			}
			if !last {
				b.WriteByte(' ')
			}
		}
		b.WriteByte('\n')
		l.printf("%s", b.String())
	}
	if len(rows) == 0 {
		return // an empty table prints nothing, not even its header
	}
	if !noheadings {
		h := make([]string, len(cols))
		for k := range header {
			h[k] = *header[k]
		}
		line(h)
	}
	for _, r := range enc {
		line(r)
	}
}

var elementColumns = []string{"SEMNUM", "VALUE", "NCOUNT", "ZCOUNT", "PID", "COMMAND"}

// printPretty is lsipc -i's "name: value" list of the set cells, then, for
// a semaphore set, the table of its elements.
func (l *lsipc) printPretty(tb *lsTable) {
	if len(tb.rows) == 0 {
		return
	}
	for k, c := range tb.cols {
		cell := tb.rows[0][k]
		if cell == nil {
			continue
		}
		label := lsColumns[c].pretty
		l.printf("%s:%*c%-36s\n", label, 35-len(label), ' ', *cell)
	}
	if len(tb.elements) > 0 {
		l.printf("Elements:\n\n")
		rows := make([][]*string, len(tb.elements))
		for r, e := range tb.elements {
			rows[r] = make([]*string, len(e))
			for k := range e {
				rows[r][k] = &e[k]
			}
		}
		right := []bool{true, true, true, true, true, true}
		l.printTable([]int{0, 1, 2, 3, 4, 5}, rows, false, right)
	}
}

// printRaw separates cells by one space, escaping blanks, backslashes and
// unprintable bytes as \xHH.
func (l *lsipc) printRaw(tb *lsTable) {
	if len(tb.rows) == 0 {
		return
	}
	line := func(cells []string) {
		l.printf("%s\n", strings.Join(cells, " "))
	}
	if !l.noheadings {
		h := make([]string, len(tb.cols))
		for k, c := range tb.cols {
			h[k] = escapeBytes(lsColumns[c].name, true)
		}
		line(h)
	}
	for _, row := range tb.rows {
		cells := make([]string, len(row))
		for k, cell := range row {
			if cell != nil {
				cells[k] = escapeBytes(*cell, true)
			}
		}
		line(cells)
	}
}

// printExport prints NAME="value" pairs, one line per row (--export) or one
// line per cell (--newline).
func (l *lsipc) printExport(tb *lsTable) {
	sep := " "
	if l.outmode == outNewline {
		sep = "\n"
	}
	for _, row := range tb.rows {
		parts := make([]string, len(row))
		for k, cell := range row {
			name := lsColumns[tb.cols[k]].name
			if l.shellvar {
				name = shellName(name)
			}
			v := ""
			if cell != nil {
				v = *cell
			}
			parts[k] = name + "=" + quoteExport(v)
		}
		l.printf("%s\n", strings.Join(parts, sep))
	}
}

// shellName makes a column name usable as a shell variable: "USE%" becomes
// "USE_PCT", other characters that cannot be in a name become '_'.
func shellName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			b.WriteString("_PCT")
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_':
			b.WriteByte(c)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// printJSON is libsmartcols' JSON: every value a string, unset or empty
// cells null, three-space indentation, "},{" between rows.
func (l *lsipc) printJSON(tb *lsTable) {
	var b strings.Builder
	b.WriteString("{\n   " + jsonQuote(tb.name) + ": [\n")
	if len(tb.rows) == 0 {
		b.WriteString("\n")
	}
	for r, row := range tb.rows {
		if r == 0 {
			b.WriteString("      {\n")
		} else {
			b.WriteString("      },{\n")
		}
		for k, cell := range row {
			name := strings.ToLower(lsColumns[tb.cols[k]].name)
			b.WriteString("         " + jsonQuote(name) + ": ")
			if cell == nil || *cell == "" {
				b.WriteString("null")
			} else {
				b.WriteString(jsonQuote(*cell))
			}
			if k < len(row)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		if r == len(tb.rows)-1 {
			b.WriteString("      }\n")
		}
	}
	b.WriteString("   ]\n}\n")
	l.printf("%s", b.String())
}

// jsonQuote quotes s as libsmartcols does: '"' and '\' escaped, control
// characters as \b \t \n \f \r or \u00XX, everything else as it is.
func jsonQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c >= 0x20:
			b.WriteByte(c)
		case c == '\b':
			b.WriteString(`\b`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\f':
			b.WriteString(`\f`)
		case c == '\r':
			b.WriteString(`\r`)
		default:
			fmt.Fprintf(&b, `\u%04x`, c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// safeEncode is how a table cell shows what a terminal should not get:
// backslashes and unprintable characters as \xHH per byte, printable
// (UTF-8) characters as they are.
func safeEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == '\\' || (r == utf8.RuneError && n <= 1) || !unicode.IsPrint(r) && r != ' ' {
			for k := 0; k < n; k++ {
				fmt.Fprintf(&b, `\x%02x`, s[i+k])
			}
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// escapeBytes is the raw mode's escaping: blanks (with blanks true), '\'
// and every byte C's isprint refuses in a UTF-8 locale (controls and all
// of 0x80-0xff) as \xHH.
func escapeBytes(s string, blanks bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (blanks && (c == ' ' || c == '\t')) || c == '\\' || c < 0x20 || c >= 0x7f {
			fmt.Fprintf(&b, `\x%02x`, c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// quoteExport is --export's quoting: the value in double quotes, with '"',
// '\', '`', '$' and unprintable bytes as \xHH.
func quoteExport(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\\' || c == '`' || c == '$' || c < 0x20 || c >= 0x7f {
			fmt.Fprintf(&b, `\x%02x`, c)
		} else {
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func lsipcUsage(t *utilTool) {
	t.printf(`
Usage:
 %s [options]

Show information on IPC facilities.

Resource options:
 -m, --shmems      shared memory segments
 -q, --queues      message queues
 -s, --semaphores  semaphores
 -g, --global      info about system-wide usage (may be used with -m, -q and -s)
 -i, --id <id>     print details on resource identified by <id>

Options:
     --noheadings         don't print headings
     --notruncate         don't truncate output
     --time-format=<type> display dates in short, full or iso format
 -b, --bytes              print SIZE in bytes rather than in human readable format
 -c, --creator            show creator and owner
 -e, --export             display in an export-able output format
 -J, --json               use the JSON output format
 -n, --newline            display each piece of information on a new line
 -l, --list               force list output format (for example with --id)
 -o, --output[=<list>]    define the columns to output
 -P, --numeric-perms      print numeric permissions (PERMS column)
 -r, --raw                display in raw mode
 -t, --time               show attach, detach and change times
 -y, --shell              use column names to be usable as shell variable identifiers

 -h, --help               display this help
 -V, --version            display version

Generic columns:
`, t.usage)
	help := map[int]string{
		colKey: "Resource key", colID: "Resource ID", colOwner: "Owner's username or UID",
		colPerms: "Permissions", colCUID: "Creator UID", colCUser: "Creator user", colCGID: "Creator GID",
		colCGroup: "Creator group", colUID: "User ID", colUser: "User name", colGID: "Group ID",
		colGroup: "Group name", colCTime: "Time of the last change",
		colSize: "Segment size", colNattch: "Number of attached processes", colStatus: "Status",
		colAttach: "Attach time", colDetach: "Detach time", colCommand: "Creator command line",
		colCPID: "PID of the creator", colLPID: "PID of last user",
		colUsedBytes: "Bytes used", colMsgs: "Number of messages", colSend: "Time of last msg sent",
		colRecv: "Time of last msg received", colLSPID: "PID of the last msg sender",
		colLRPID: "PID of the last msg receiver",
		colNsems: "Number of semaphores", colOTime: "Time of the last operation",
		colResource: "Resource name", colDesc: "Resource description", colLimit: "System-wide limit",
		colUsed: "Currently used", colUsePerc: "Currently use percentage",
	}
	list := func(title string, from, to int) {
		if title != "" {
			t.printf("\n%s\n", title)
		}
		for c := from; c <= to; c++ {
			t.printf(" %14s  %s\n", lsColumns[c].name, help[c])
		}
	}
	list("", colKey, colCTime)
	list("Shared-memory columns (--shmems):", colSize, colLPID)
	list("Message-queue columns (--queues):", colUsedBytes, colLRPID)
	list("Semaphore columns (--semaphores):", colNsems, colOTime)
	list("Summary columns (--global):", colResource, colUsePerc)
	t.printf("\nFor more details see lsipc(1).\n")
}
