package utillinux

import (
	"errors"

	"github.com/ipctoolkit/ipc/ipc"
	"golang.org/x/sys/unix"
)

// ipc rm is util-linux 2.38.1's ipcrm: options run one by one from left to
// right as they come, -a after all of them, leftover arguments are
// reported last; kernel refusals are warnings, parse errors end the
// command at once; the legacy "shm|msg|sem ID..." form prints "resource(s)
// deleted".

const ipcrmShorts = "q:m:s:Q:M:S:a::vhV"

var ipcrmLongs = []longOpt{
	{"shmem-id", requiredArg, 'm'},
	{"shmem-key", requiredArg, 'M'},
	{"queue-id", requiredArg, 'q'},
	{"queue-key", requiredArg, 'Q'},
	{"semaphore-id", requiredArg, 's'},
	{"semaphore-key", requiredArg, 'S'},
	{"all", optionalArg, 'a'},
	{"verbose", noArg, 'v'},
	{"version", noArg, 'V'},
	{"help", noArg, 'h'},
}

// fatal is what the removal helpers return when ipcrm would have exited on
// the spot (err/errx): the message is out, the status is 1.
const fatal = -1

type ipcrm struct {
	*utilTool
	verbose bool
	// errno is C's errno as ipcrm 2.38.1 leaves it: an empty -Q/-M/-S
	// argument is reported with whatever the last failed call set, or
	// with no reason when a number was parsed since (the parsers set
	// errno to 0 first). At the start it is ENOENT, from glibc's locale
	// set-up, as util-linux is seen to print in a C.UTF-8 locale.
	errno unix.Errno
}

func runIpcrm(t *utilTool, args []string) int {
	if len(args) == 0 {
		return t.finish(0) // 2.38.1 does nothing without arguments
	}
	r := &ipcrm{utilTool: t, errno: unix.ENOENT}
	if kind, ok := legacyKind(args[0]); ok {
		return t.finish(r.legacy(kind, args[1:]))
	}
	failures := 0
	all, allKinds := false, []ipc.Kind{ipc.Segment, ipc.Semaphore, ipc.Queue}
	g := t.getopt(args, ipcrmShorts, ipcrmLongs)
	for {
		opt, arg, hasArg, done := g.next()
		if done {
			break
		}
		var res int
		switch opt {
		case 'M', 'Q', 'S':
			res = r.byKey(kindOf(opt), arg)
		case 'm', 'q', 's':
			id, err := strtos32(arg)
			if err != nil {
				return t.finish(t.parseFailure("failed to parse argument", arg, err))
			}
			r.errno = 0
			res = r.remove(kindOf(opt), false, int(id))
		case 'a':
			all, allKinds = true, []ipc.Kind{ipc.Segment, ipc.Semaphore, ipc.Queue}
			if hasArg {
				kind, ok := legacyKind(arg)
				if !ok {
					t.warnx("unknown argument: %s", arg)
					return t.finish(1)
				}
				allKinds = []ipc.Kind{kind}
			}
		case 'v':
			r.verbose = true
		case 'h':
			ipcrmUsage(t)
			return t.finish(0)
		case 'V':
			t.printf("%s from ipc (util-linux 2.38.1 compatible)\n", t.name)
			return t.finish(0)
		default:
			return t.finish(t.tryHelp())
		}
		if res == fatal {
			return t.finish(1)
		}
		failures += res
	}
	if all {
		res := r.removeAll(allKinds)
		if res == fatal {
			return t.finish(1)
		}
		failures += res
	}
	if len(g.rest) > 0 {
		t.warnx("unknown argument: %s", g.rest[0])
		return t.finish(t.tryHelp())
	}
	if failures > 0 {
		return t.finish(1)
	}
	return t.finish(0)
}

// legacyKind maps ipcrm's class words (the legacy first argument and
// --all's value) to a kind; they are case sensitive.
func legacyKind(s string) (ipc.Kind, bool) {
	switch s {
	case "shm":
		return ipc.Segment, true
	case "msg":
		return ipc.Queue, true
	case "sem":
		return ipc.Semaphore, true
	}
	return 0, false
}

func kindOf(opt int) ipc.Kind {
	switch opt {
	case 'm', 'M':
		return ipc.Segment
	case 'q', 'Q':
		return ipc.Queue
	}
	return ipc.Semaphore
}

// legacy is "ipcrm shm|msg|sem ID...": every id is tried (decimal, as C's
// strtoul reads it, so "-1" is id -1), errors are counted, and only a clean
// run prints "resource(s) deleted".
func (r *ipcrm) legacy(kind ipc.Kind, ids []string) int {
	if len(ids) == 0 {
		r.warnx("not enough arguments")
		return r.tryHelp()
	}
	failures := 0
	for _, s := range ids {
		v, rest, overflow := strtoul(s, 10)
		if overflow || rest != "" {
			r.warnx("invalid id: %s", s)
			failures++
			continue
		}
		res := r.remove(kind, false, int(int32(uint32(v))))
		if res == fatal {
			return 1
		}
		failures += res
	}
	if failures > 0 {
		return 1
	}
	r.printf("resource(s) deleted\n")
	return 0
}

// byKey is -M/-Q/-S: the key in C syntax (0x hex, leading-0 octal,
// decimal, cut to 32 bits), its id from a get with no flags, then the
// removal, whose errors name the id.
func (r *ipcrm) byKey(kind ipc.Kind, arg string) int {
	if arg == "" {
		// ipcrm reports a stale errno here: whatever came before.
		if r.errno == 0 {
			r.warnx("failed to parse argument: '%s'", arg)
		} else {
			r.warn(r.errno, "failed to parse argument: '%s'", arg)
		}
		return fatal
	}
	r.errno = 0
	v, rest, overflow := strtoul(arg, 0)
	switch {
	case overflow:
		r.warn(unix.ERANGE, "failed to parse argument: '%s'", arg)
		return fatal
	case rest == arg || rest != "":
		r.warnx("failed to parse argument: '%s'", arg)
		return fatal
	}
	key := ipc.Key(int32(uint32(v)))
	if key == ipc.Private {
		r.warnx("illegal key (%s)", arg)
		return 1
	}
	id, err := ipc.IDForKey(kind, key)
	if err != nil {
		errno := errnoOf(err)
		r.errno = errno
		switch errno {
		case unix.EACCES:
			r.warnx("permission denied for key (%s)", arg)
		case unix.EIDRM:
			r.warnx("already removed key (%s)", arg)
		case unix.ENOENT:
			r.warnx("invalid key (%s)", arg)
		default:
			r.warn(errno, "key failed")
			return fatal
		}
		return 1
	}
	return r.remove(kind, true, id)
}

var removing = map[ipc.Kind]string{
	ipc.Segment:   "removing shared memory segment id `%d'\n",
	ipc.Queue:     "removing message queue id `%d'\n",
	ipc.Semaphore: "removing semaphore id `%d'\n",
}

// remove is ipcrm's remove_id: the -v line (even when the removal then
// fails), IPC_RMID, and the warning for a refusal. It returns 1 for a
// warning, fatal for an errno ipcrm does not expect.
func (r *ipcrm) remove(kind ipc.Kind, byKey bool, id int) int {
	if r.verbose {
		r.printf(removing[kind], id)
	}
	err := ipc.Remove(kind, id)
	if err == nil {
		return 0
	}
	what := "id"
	if byKey {
		what = "key"
	}
	errno := errnoOf(err)
	r.errno = errno
	switch errno {
	case unix.EACCES, unix.EPERM:
		r.warnx("permission denied for %s (%d)", what, id)
	case unix.EINVAL:
		r.warnx("invalid %s (%d)", what, id)
	case unix.EIDRM:
		r.warnx("already removed %s (%d)", what, id)
	default:
		r.warn(errno, "%s failed", what)
		return fatal
	}
	return 1
}

// removeAll is -a: every object the caller may read (found with *_STAT, as
// ipcrm does, so unreadable ones are skipped silently), segments first,
// then semaphore sets, then queues.
func (r *ipcrm) removeAll(kinds []ipc.Kind) int {
	failures := 0
	for _, kind := range []ipc.Kind{ipc.Segment, ipc.Semaphore, ipc.Queue} {
		if !hasKind(kinds, kind) {
			continue
		}
		ids, err := ipc.ReadableIDs(kind)
		if err != nil {
			r.warnx("kernel not configured for %s", map[ipc.Kind]string{
				ipc.Segment: "shared memory", ipc.Semaphore: "semaphores", ipc.Queue: "message queues"}[kind])
			return fatal
		}
		for _, id := range ids {
			res := r.remove(kind, false, id)
			if res == fatal {
				return fatal
			}
			if res != 0 {
				failures = 1
			}
		}
	}
	return failures
}

func hasKind(kinds []ipc.Kind, k ipc.Kind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

// errnoOf digs the errno out of an error of package ipc.
func errnoOf(err error) unix.Errno {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return unix.EINVAL
}

func ipcrmUsage(t *utilTool) {
	t.printf(`
Usage:
 %[1]s [options]
 %[1]s shm|msg|sem <id>...

Remove certain IPC resources.

Options:
 -m, --shmem-id <id>        remove shared memory segment by id
 -M, --shmem-key <key>      remove shared memory segment by key
 -q, --queue-id <id>        remove message queue by id
 -Q, --queue-key <key>      remove message queue by key
 -s, --semaphore-id <id>    remove semaphore by id
 -S, --semaphore-key <key>  remove semaphore by key
 -a, --all[=shm|msg|sem]    remove all (in the specified category)
 -v, --verbose              explain what is being done

 -h, --help                 display this help
 -V, --version              display version

For more details see ipcrm(1).
`, t.usage)
}
