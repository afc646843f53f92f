package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/msgq"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/ipctoolkit/ipc/shm"
	"github.com/urfave/cli/v2"
)

// ipc ls is util-linux 2.38.1's ipcs, byte for byte: the same options, the
// same formats, messages and exit statuses. Invoked through a link named
// ipcs it is ipcs, program name included. --json (ipc ls only) prints the
// objects as one JSON document in lsipc's layout with typed values.

func init() {
	registerUtil(&cli.Command{
		Name:  "ls",
		Usage: "list semaphore sets, queues and segments exactly as util-linux's ipcs does",
		UsageText: `ipc ls [-q] [-s] [-m] [-a] [-t|-p|-c|-l|-u] [-b|--human] [--json]
   ipc ls -q|-s|-m -i ID [-b|--human] [--json]`,
		Description: `Takes ipcs's options and prints what ipcs 2.38.1 prints, errors and exit
statuses included (run "ipc ls --help" for the list). --json prints one
JSON document instead, in lsipc's layout but with typed values: see README.`,
	}, "ipcs", func(t *utilTool, args []string) int { return runIpcs(t, args, t.usage == "ipc ls") })
}

// statusError ends ipc with a chosen exit status (a util-linux one, or
// 128+signal), the lines before it having said what happened.
type statusError int

func (statusError) Error() string   { return "" }
func (s statusError) ExitCode() int { return int(s) }

func statusOf(code int) error {
	if code == 0 {
		return nil
	}
	return statusError(code)
}

// ipcs's output formats and size units.
const (
	fmtDefault = iota
	fmtLimits
	fmtStatus
	fmtCreator
	fmtTime
	fmtPID
)

const (
	unitDefault = iota
	unitBytes
	unitKB
	unitHuman
)

const (
	optHuman = 256 + iota
	optJSON
)

var ipcsLongs = []longOpt{
	{"id", requiredArg, 'i'},
	{"queues", noArg, 'q'},
	{"shmems", noArg, 'm'},
	{"semaphores", noArg, 's'},
	{"all", noArg, 'a'},
	{"time", noArg, 't'},
	{"pid", noArg, 'p'},
	{"creator", noArg, 'c'},
	{"limits", noArg, 'l'},
	{"summary", noArg, 'u'},
	{"human", noArg, optHuman},
	{"bytes", noArg, 'b'},
	{"version", noArg, 'V'},
	{"help", noArg, 'h'},
}

type ipcsOpts struct {
	msg, shm, sem bool
	specific      bool
	id            int
	format        int
	unit          int
	json          bool
}

func runIpcs(t *utilTool, args []string, isLs bool) int {
	longs := ipcsLongs
	if isLs {
		longs = append(append([]longOpt(nil), ipcsLongs...), longOpt{"json", noArg, optJSON})
	}
	var o ipcsOpts
	g := t.getopt(args, "i:qmsatpclubVh", longs)
	for {
		opt, arg, _, done := g.next()
		if done {
			break
		}
		switch opt {
		case 'i':
			id, err := strtos32(arg)
			if err != nil {
				return t.finish(t.parseFailure("failed to parse id argument", arg, err))
			}
			o.id, o.specific = int(id), true
		case 'a':
			o.msg, o.shm, o.sem = true, true, true
		case 'q':
			o.msg = true
		case 'm':
			o.shm = true
		case 's':
			o.sem = true
		case 't':
			o.format = fmtTime
		case 'c':
			o.format = fmtCreator
		case 'p':
			o.format = fmtPID
		case 'l':
			o.format = fmtLimits
		case 'u':
			o.format = fmtStatus
		case optHuman:
			o.unit = unitHuman
		case 'b':
			o.unit = unitBytes
		case optJSON:
			o.json = true
		case 'h':
			ipcsUsage(t, isLs)
			return t.finish(0)
		case 'V':
			t.printf("%s from ipc (util-linux 2.38.1 compatible)\n", t.name)
			return t.finish(0)
		default:
			return t.finish(t.tryHelp())
		}
	}
	n := 0
	for _, b := range []bool{o.msg, o.shm, o.sem} {
		if b {
			n++
		}
	}
	if o.specific && n != 1 {
		t.warnx("when using an ID, a single resource must be specified")
		return t.finish(1)
	}
	if !o.specific && n == 0 {
		o.msg, o.shm, o.sem = true, true, true
	}
	if o.json {
		return t.finish(lsJSON(t, o))
	}
	if o.specific {
		code := 0
		switch {
		case o.msg:
			code = ipcsQueue(t, o.id, o.unit)
		case o.shm:
			code = ipcsSegment(t, o.id, o.unit)
		case o.sem:
			code = ipcsSemaphores(t, o.id)
		}
		return t.finish(code)
	}
	t.printf("\n")
	for _, part := range []struct {
		on bool
		do func(*utilTool, int, int) error
	}{{o.msg, ipcsQueues}, {o.shm, ipcsSegments}, {o.sem, ipcsSets}} {
		if !part.on {
			continue
		}
		if err := part.do(t, o.format, o.unit); err != nil {
			t.warnx("%v", err)
			return t.finish(1)
		}
		t.printf("\n")
	}
	return t.finish(0)
}

// parseFailure is strtos32_or_err's exit: "<what>: '<arg>'", with the errno
// text when there is one.
func (t *utilTool) parseFailure(what, arg string, err error) int {
	if errors.Is(err, errBadNumber) {
		t.warnx("%s: '%s'", what, arg)
	} else {
		t.warn(err, "%s: '%s'", what, arg)
	}
	return 1
}

func ipcsUsage(t *utilTool, isLs bool) {
	t.printf(`
Usage:
 %[1]s [resource-option...] [output-option]
 %[1]s -m|-q|-s -i <id>

Show information on IPC facilities.

Options:
 -i, --id <id>  print details on resource identified by <id>
 -h, --help     display this help
 -V, --version  display version

Resource options:
 -m, --shmems      shared memory segments
 -q, --queues      message queues
 -s, --semaphores  semaphores
 -a, --all         all (default)

Output options:
 -t, --time        show attach, detach and change times
 -p, --pid         show PIDs of creator and last operator
 -c, --creator     show creator and owner
 -l, --limits      show resource limits
 -u, --summary     show status summary
     --human       show sizes in human-readable format
 -b, --bytes       show sizes in bytes
`, t.usage)
	if isLs {
		t.printf("     --json        one JSON document: lsipc's layout, typed values\n")
	}
	t.printf("\nFor more details see ipcs(1).\n")
}

// owner is the owner cell of the default, -t and -p formats: the id in
// idWidth, then the user name cut to 10 bytes, or the uid.
func (t *utilTool) owner(id, idWidth int, uid uint32) string {
	if name, ok := t.userName(uid); ok {
		return fmt.Sprintf("%-*d %s", idWidth, id, cut(name, 10, 10))
	}
	return fmt.Sprintf("%-*d %-10d", idWidth, id, uid)
}

// creators is ipc_print_perms: the -c row, names not cut.
func (t *utilTool) creators(id int, p ipc.Perm) {
	t.printf("%-10d %-10o", id, uint32(p.Mode)&0o777)
	for k, v := range []uint32{p.CUID, p.CGID, p.UID, p.GID} {
		name, ok := "", false
		if k%2 == 0 {
			name, ok = t.userName(v)
		} else {
			name, ok = t.groupName(v)
		}
		if !ok {
			name = fmt.Sprint(v)
		}
		t.printf(" %s", pad(name, 10))
	}
	t.printf("\n")
}

// printSize is ipc_print_size: an optional label, then the value in the
// unit, then end. A label ending in '=' is printed as is; otherwise the
// unit is named in it ("max seg size (kbytes) = ").
func (t *utilTool) printSize(unit int, label string, size uint64, end string, width int) {
	switch {
	case label == "":
	case label[len(label)-1] == '=':
		t.printf("%s", label)
	case unit == unitBytes:
		t.printf("%s (bytes) = ", label)
	case unit == unitKB:
		t.printf("%s (kbytes) = ", label)
	default:
		t.printf("%s = ", label)
	}
	switch unit {
	case unitKB:
		size /= 1024
		fallthrough
	case unitDefault, unitBytes:
		if width < 0 {
			t.printf("%-*d", -width, size)
		} else {
			t.printf("%*d", width, size)
		}
	case unitHuman:
		if width < 0 {
			t.printf("%-*s", -width, humanSize(size))
		} else {
			t.printf("%*s", width, humanSize(size))
		}
	}
	t.printf("%s", end)
}

// shortTime is a -t cell of queues and segments: ctime from the month on,
// 16 bytes ("Nov 22 11:44:23 ") left in 20, or "Not set".
func shortTime(when time.Time) string {
	if when.IsZero() {
		return cut("Not set", 20, 16)
	}
	return cut(ctime(when)[4:]+"\n", 20, 16)
}

// longTime is a full ctime in 26 columns, or "Not set".
func longTime(when time.Time) string {
	if when.IsZero() {
		return cut("Not set", 26, 24)
	}
	return cut(ctime(when), 26, 24)
}

// ctimeAlways is ctime even of 0 (the epoch), as ipcs -i prints creation
// times without checking them.
func ctimeAlways(when time.Time) string {
	if when.IsZero() {
		when = time.Unix(0, 0)
	}
	return cut(ctime(when), 26, 24)
}

func ipcsQueues(t *utilTool, format, unit int) error {
	switch format {
	case fmtLimits:
		l, err := ipc.ReadLimits()
		if err != nil {
			t.printf("unable to fetch message limits\n")
			return nil
		}
		if unit == unitDefault {
			unit = unitBytes
		}
		t.printf("------ Messages Limits --------\n")
		t.printf("max queues system wide = %d\n", l.MSGMNI)
		t.printSize(unit, "max size of message", l.MSGMAX, "\n", 0)
		t.printSize(unit, "default max size of queue", l.MSGMNB, "\n", 0)
		return nil
	case fmtStatus:
		u, err := ipc.ReadUsage()
		if err != nil {
			t.printf("kernel not configured for message queues\n")
			return nil
		}
		t.printf("------ Messages Status --------\n")
		t.printf("allocated queues = %d\n", u.Queues)
		t.printf("used headers = %d\n", u.Messages)
		end := "\n"
		if unit == unitDefault {
			end = " bytes\n"
		}
		t.printSize(unit, "used space", u.MessageBytes, end, 0)
		return nil
	case fmtCreator:
		t.printf("------ Message Queues Creators/Owners --------\n")
		t.printf("%-10s %-10s %-10s %-10s %-10s %-10s\n", "msqid", "perms", "cuid", "cgid", "uid", "gid")
	case fmtTime:
		t.printf("------ Message Queues Send/Recv/Change Times --------\n")
		t.printf("%-8s %-10s %-20s %-20s %-20s\n", "msqid", "owner", "send", "recv", "change")
	case fmtPID:
		t.printf("------ Message Queues PIDs --------\n")
		t.printf("%-10s %-10s %-10s %-10s\n", "msqid", "owner", "lspid", "lrpid")
	default:
		size := "used-bytes"
		if unit == unitHuman {
			size = "size"
		}
		t.printf("------ Message Queues --------\n")
		t.printf("%-10s %-10s %-10s %-10s %-12s %-12s\n", "key", "msqid", "owner", "perms", size, "messages")
	}
	qs, err := msgq.List()
	if err != nil {
		return err
	}
	for _, q := range qs {
		switch format {
		case fmtCreator:
			t.creators(q.ID, q.Perm)
		case fmtTime:
			t.printf("%s %s %s %s\n", t.owner(q.ID, 8, q.Perm.UID), shortTime(q.STime), shortTime(q.RTime), shortTime(q.CTime))
		case fmtPID:
			t.printf("%s  %5d     %5d\n", t.owner(q.ID, 8, q.Perm.UID), q.LSPID, q.LRPID)
		default:
			t.printf("0x%08x %s %-10o ", uint32(q.Perm.Key), t.owner(q.ID, 10, q.Perm.UID), uint32(q.Perm.Mode))
			if unit == unitHuman {
				t.printSize(unit, "", q.CBytes, "      ", 6)
			} else {
				t.printSize(unit, "", q.CBytes, "", -12)
			}
			t.printf(" %-12d\n", q.QNum)
		}
	}
	return nil
}

func ipcsSegments(t *utilTool, format, unit int) error {
	switch format {
	case fmtLimits:
		l, err := ipc.ReadLimits()
		if err != nil {
			t.printf("unable to fetch shared memory limits\n")
			return nil
		}
		t.printf("------ Shared Memory Limits --------\n")
		t.printf("max number of segments = %d\n", l.SHMMNI)
		u := unit
		if u == unitDefault {
			u = unitKB
		}
		t.printSize(u, "max seg size", l.SHMMAX, "\n", 0)
		if unit == unitDefault || unit == unitKB {
			t.printSize(unitDefault, "max total shared memory (kbytes)", l.SHMTotalKB(), "\n", 0)
		} else {
			t.printSize(unit, "max total shared memory", l.SHMTotalBytes(), "\n", 0)
		}
		u = unit
		if u == unitDefault {
			u = unitBytes
		}
		t.printSize(u, "min seg size", l.SHMMIN, "\n", 0)
		return nil
	case fmtStatus:
		u, err := ipc.ReadUsage()
		if err != nil {
			t.printf("kernel not configured for shared memory\n")
			return nil
		}
		t.printf("------ Shared Memory Status --------\n")
		t.printf("segments allocated %d\npages allocated %d\npages resident  %d\npages swapped   %d\nSwap performance: %d attempts\t %d successes\n",
			u.Segments, u.SegmentPages, u.ResidentPages, u.SwappedPages, u.SwapAttempts, u.SwapSuccesses)
		return nil
	case fmtCreator:
		t.printf("------ Shared Memory Segment Creators/Owners --------\n")
		t.printf("%-10s %-10s %-10s %-10s %-10s %-10s\n", "shmid", "perms", "cuid", "cgid", "uid", "gid")
	case fmtTime:
		t.printf("------ Shared Memory Attach/Detach/Change Times --------\n")
		t.printf("%-10s %-10s %-20s %-20s %-20s\n", "shmid", "owner", "attached", "detached", "changed")
	case fmtPID:
		t.printf("------ Shared Memory Creator/Last-op PIDs --------\n")
		t.printf("%-10s %-10s %-10s %-10s\n", "shmid", "owner", "cpid", "lpid")
	default:
		size := "bytes"
		if unit == unitHuman {
			size = "size"
		}
		t.printf("------ Shared Memory Segments --------\n")
		t.printf("%-10s %-10s %-10s %-10s %-10s %-10s %-12s\n", "key", "shmid", "owner", "perms", size, "nattch", "status")
	}
	segs, err := shm.List()
	if err != nil {
		return err
	}
	for _, s := range segs {
		switch format {
		case fmtCreator:
			t.creators(s.ID, s.Perm)
		case fmtTime:
			t.printf("%s %s %s %s\n", t.owner(s.ID, 10, s.Perm.UID), shortTime(s.ATime), shortTime(s.DTime), shortTime(s.CTime))
		case fmtPID:
			t.printf("%s %-10d %-10d\n", t.owner(s.ID, 10, s.Perm.UID), s.CPID, s.LPID)
		default:
			t.printf("0x%08x %s %-10o ", uint32(s.Perm.Key), t.owner(s.ID, 10, s.Perm.UID), uint32(s.Perm.Mode))
			if unit == unitHuman {
				t.printSize(unit, "", uint64(s.Size), "    ", 6)
			} else {
				t.printSize(unit, "", uint64(s.Size), "", -10)
			}
			dest, locked := " ", " "
			if s.Removed {
				dest = "dest"
			}
			if s.Locked {
				locked = "locked"
			}
			t.printf(" %-10d %-6s %-6s\n", uint64(s.NAttch), dest, locked)
		}
	}
	return nil
}

func ipcsSets(t *utilTool, format, _ int) error {
	switch format {
	case fmtLimits:
		l, err := ipc.ReadLimits()
		if err != nil {
			t.printf("unable to fetch semaphore limits\n")
			return nil
		}
		t.printf("------ Semaphore Limits --------\n")
		t.printf("max number of arrays = %d\n", l.SEMMNI)
		t.printf("max semaphores per array = %d\n", l.SEMMSL)
		t.printf("max semaphores system wide = %d\n", l.SEMMNS)
		t.printf("max ops per semop call = %d\n", l.SEMOPM)
		t.printf("semaphore max value = %d\n", l.SEMVMX)
		return nil
	case fmtStatus:
		u, err := ipc.ReadUsage()
		if err != nil {
			t.printf("kernel not configured for semaphores\n")
			return nil
		}
		t.printf("------ Semaphore Status --------\n")
		t.printf("used arrays = %d\n", u.SemaphoreSets)
		t.printf("allocated semaphores = %d\n", u.Semaphores)
		return nil
	case fmtCreator:
		t.printf("------ Semaphore Arrays Creators/Owners --------\n")
		t.printf("%-10s %-10s %-10s %-10s %-10s %-10s\n", "semid", "perms", "cuid", "cgid", "uid", "gid")
	case fmtTime:
		t.printf("------ Semaphore Operation/Change Times --------\n")
		t.printf("%-8s %-10s %-26.24s %-26.24s\n", "semid", "owner", "last-op", "last-changed")
	case fmtPID:
		return nil // ipcs has no PID format for semaphores: not even a title
	default:
		t.printf("------ Semaphore Arrays --------\n")
		t.printf("%-10s %-10s %-10s %-10s %-10s\n", "key", "semid", "owner", "perms", "nsems")
	}
	sets, err := sem.List()
	if err != nil {
		return err
	}
	for _, s := range sets {
		switch format {
		case fmtCreator:
			t.creators(s.ID, s.Perm)
		case fmtTime:
			t.printf("%s  %s %s\n", t.owner(s.ID, 8, s.Perm.UID), longTime(s.OTime), longTime(s.CTime))
		default:
			t.printf("0x%08x %s %-10o %-10d\n", uint32(s.Perm.Key), t.owner(s.ID, 10, s.Perm.UID), uint32(s.Perm.Mode), s.NSems)
		}
	}
	return nil
}

// notFound reports an -i id that names nothing: a warning, status 0.
func (t *utilTool) notFound(id int) int {
	t.warnx("id %d not found", id)
	return 0
}

// pick finds the object of an -i lookup. Like ipcs, a negative id matches
// the first object listed (ipcs then prints it under the negative id).
func pick[T any](all []T, id int, idOf func(T) int) (T, bool) {
	for _, x := range all {
		if id < 0 || idOf(x) == id {
			return x, true
		}
	}
	var zero T
	return zero, false
}

func ipcsQueue(t *utilTool, id, unit int) int {
	all, err := msgq.List()
	if err != nil {
		t.warnx("%v", err)
		return 1
	}
	q, ok := pick(all, id, func(q msgq.Info) int { return q.ID })
	if !ok {
		return t.notFound(id)
	}
	if id < 0 {
		q.QBytes = 0 // ipcs only asks IPC_STAT for the id it was given
	}
	p := q.Perm
	t.printf("\nMessage Queue msqid=%d\n", id)
	t.printf("uid=%d\tgid=%d\tcuid=%d\tcgid=%d\tmode=%#o\n", p.UID, p.GID, p.CUID, p.CGID, uint32(p.Mode))
	c, b := "cbytes=", "qbytes="
	if unit == unitHuman {
		c, b = "csize=", "qsize="
	}
	t.printSize(unit, c, q.CBytes, "\t", 0)
	t.printSize(unit, b, q.QBytes, "\t", 0)
	t.printf("qnum=%d\tlspid=%d\tlrpid=%d\n", q.QNum, q.LSPID, q.LRPID)
	t.printf("send_time=%s\n", longTime(q.STime))
	t.printf("rcv_time=%s\n", longTime(q.RTime))
	t.printf("change_time=%s\n", longTime(q.CTime))
	t.printf("\n")
	return 0
}

func ipcsSegment(t *utilTool, id, unit int) int {
	all, err := shm.List()
	if err != nil {
		t.warnx("%v", err)
		return 1
	}
	s, ok := pick(all, id, func(s shm.Info) int { return s.ID })
	if !ok {
		return t.notFound(id)
	}
	p := s.Perm
	t.printf("\nShared memory Segment shmid=%d\n", id)
	t.printf("uid=%d\tgid=%d\tcuid=%d\tcgid=%d\n", p.UID, p.GID, p.CUID, p.CGID)
	t.printf("mode=%#o\taccess_perms=%#o\n", s.FullMode(), uint32(p.Mode))
	label := "bytes="
	if unit == unitHuman {
		label = "size="
	}
	t.printSize(unit, label, uint64(s.Size), "\t", 0)
	t.printf("lpid=%d\tcpid=%d\tnattch=%d\n", s.LPID, s.CPID, uint64(s.NAttch))
	t.printf("att_time=%s\n", longTime(s.ATime))
	t.printf("det_time=%s\n", longTime(s.DTime))
	t.printf("change_time=%s\n", ctimeAlways(s.CTime))
	t.printf("\n")
	return 0
}

func ipcsSemaphores(t *utilTool, id int) int {
	all, err := sem.List()
	if err != nil {
		t.warnx("%v", err)
		return 1
	}
	s, ok := pick(all, id, func(s sem.Info) int { return s.ID })
	if !ok {
		return t.notFound(id)
	}
	vals, err := s.States()
	if err != nil {
		var e *ipc.Error
		if errors.As(err, &e) && e.Call != "" {
			t.warn(e.Err, "%s failed", e.Call)
		} else {
			t.warnx("%v", err)
		}
		return 1
	}
	p := s.Perm
	t.printf("\nSemaphore Array semid=%d\n", id)
	t.printf("uid=%d\t gid=%d\t cuid=%d\t cgid=%d\n", p.UID, p.GID, p.CUID, p.CGID)
	t.printf("mode=%#o, access_perms=%#o\n", uint32(p.Mode), uint32(p.Mode))
	t.printf("nsems = %d\n", s.NSems)
	t.printf("otime = %s\n", longTime(s.OTime))
	t.printf("ctime = %s\n", ctimeAlways(s.CTime))
	t.printf("%-10s %-10s %-10s %-10s %-10s\n", "semnum", "value", "ncount", "zcount", "pid")
	for _, v := range vals {
		t.printf("%-10d %-10d %-10d %-10d %-10d\n", v.Num, v.Value, v.NCount, v.ZCount, v.PID)
	}
	t.printf("\n")
	return 0
}
