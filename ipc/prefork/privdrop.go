package prefork

import (
	"errors"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/msgq"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/ipctoolkit/ipc/shm"
	"golang.org/x/sys/unix"
)

// Privilege drop (Server.User, Server.Group): the supervisor stays root,
// since it binds (ports below 1024, sockets in root's directories), kills
// and replaces workers and removes the IPC objects; the workers, which run
// the handlers, run as the user. The IPC objects are handed to the user
// (IPC_SET: owner uid:gid, mode 0600), so that the workers can use them and
// no other unprivileged user can; the root supervisor reaches them through
// CAP_IPC_OWNER, and they keep root as their creator, which is what the next
// start checks before removing what a kill -9 left. The state directory is
// made root:group 02750, so that the user can read the state files (`ipc
// status`) and not change them; the set-group-ID bit gives every file made
// there the group.

// runAs is who the workers run as.
type runAs struct {
	user   string
	uid    uint32
	gid    uint32
	groups []uint32 // supplementary groups: the user's, and gid
}

// lookupRunAs resolves name and group (a name or a number; group "" is the
// user's primary group), or returns nil when name is "". Only root can start
// processes as another user, so anyone else is refused here, at start.
func lookupRunAs(name, group string) (*runAs, error) {
	const op = "configure"
	if name == "" {
		if group != "" {
			return nil, serverErr(op, errors.New("a Group without a User"), "")
		}
		return nil, nil
	}
	if os.Geteuid() != 0 {
		return nil, serverErr(op, unix.EPERM, "running the workers as "+name+" needs the server to start as root, not uid "+strconv.Itoa(os.Geteuid()))
	}
	u, err := lookupUser(name)
	if err != nil {
		return nil, serverErr(op, err, "user "+strconv.Quote(name))
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	if group != "" {
		g, err := lookupGroup(group)
		if err != nil {
			return nil, serverErr(op, err, "group "+strconv.Quote(group))
		}
		gid, _ = strconv.ParseUint(g.Gid, 10, 32)
	}
	r := &runAs{user: u.Username, uid: uint32(uid), gid: uint32(gid), groups: []uint32{uint32(gid)}}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, serverErr(op, err, "the groups of user "+strconv.Quote(name))
	}
	for _, s := range ids {
		if g, err := strconv.ParseUint(s, 10, 32); err == nil && uint32(g) != r.gid {
			r.groups = append(r.groups, uint32(g))
		}
	}
	if r.uid == 0 {
		return nil, nil // root: nothing to drop
	}
	return r, nil
}

// Why a lookup failed, when the name is simply not there (os/user's own
// errors repeat the name, which the error's detail already gives).
var (
	errNoUser  = errors.New("no such user")
	errNoGroup = errors.New("no such group")
)

func lookupUser(name string) (*user.User, error) {
	u, err := byIDOrName(name, user.LookupId, user.Lookup)
	return u, plainUnknown(err, errNoUser)
}

func lookupGroup(name string) (*user.Group, error) {
	g, err := byIDOrName(name, user.LookupGroupId, user.LookupGroup)
	return g, plainUnknown(err, errNoGroup)
}

// byIDOrName looks a number up as an id, anything else as a name.
func byIDOrName[T any](name string, byID, byName func(string) (T, error)) (T, error) {
	if _, err := strconv.ParseUint(name, 10, 32); err == nil {
		return byID(name)
	}
	return byName(name)
}

// plainUnknown is err, or as when err says the user or group is not there.
func plainUnknown(err, as error) error {
	switch err.(type) {
	case user.UnknownUserError, user.UnknownUserIdError, user.UnknownGroupError, user.UnknownGroupIdError:
		return as
	}
	return err
}

// lookupOwner parses "user:group", "user" or ":group" (names or numbers)
// into ids, -1 for the part not given.
func lookupOwner(spec string) (uid, gid int, err error) {
	name, group, _ := strings.Cut(spec, ":")
	uid, gid = -1, -1
	if name == "" && group == "" {
		return 0, 0, errors.New("want user:group, user or :group")
	}
	if name != "" {
		u, err := lookupUser(name)
		if err != nil {
			return 0, 0, err
		}
		uid, _ = strconv.Atoi(u.Uid)
	}
	if group != "" {
		g, err := lookupGroup(group)
		if err != nil {
			return 0, 0, err
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	return uid, gid, nil
}

// apply makes a worker's process attributes run it as r.
func (r *runAs) apply(attr *syscall.SysProcAttr) {
	if r == nil {
		return
	}
	attr.Credential = &syscall.Credential{Uid: r.uid, Gid: r.gid, Groups: r.groups}
}

// shareIPC hands the server's semaphore set, queue and scoreboard to r,
// mode 0600.
func (r *runAs) shareIPC(set *sem.Set, q *msgq.Queue, segID int) error {
	if r == nil {
		return nil
	}
	seg, err := shm.FromID(segID)
	if err != nil {
		return err
	}
	for _, o := range []interface {
		SetOwner(uid, gid uint32) error
		SetMode(ipc.Mode) error
	}{set, q, seg} {
		if err := o.SetOwner(r.uid, r.gid); err != nil {
			return err
		}
		if err := o.SetMode(0o600); err != nil {
			return err
		}
	}
	return nil
}

// shareStateDir makes dir root:gid 02750 (see above).
func (r *runAs) shareStateDir(dir string) error {
	if r == nil {
		return nil
	}
	if err := os.Chown(dir, 0, int(r.gid)); err != nil {
		return serverErr("share the state directory of", err, dir)
	}
	if err := os.Chmod(dir, 0o750|os.ModeSetgid); err != nil {
		return serverErr("share the state directory of", err, dir)
	}
	return nil
}

// rootStateDir is root's DefaultStateDir, where StatusDir looks for a
// system service (a variable for the package's tests).
var rootStateDir = "/run/ipc"

// StatusDir is where `ipc status` looks for a server when it is not told:
// the caller's DefaultStateDir if a live server recorded its state there;
// else, for a user other than root, root's (/run/ipc) if a live server
// recorded its state there and the caller can read it (a system service
// whose workers run as User can be read by that user, whose group the
// state directory gets); else DefaultStateDir. Only reading looks further
// than the caller's own directory: cleaning up (CleanStale) never does.
func StatusDir() string {
	own := DefaultStateDir()
	for _, dir := range []string{own, rootStateDir} {
		if sts, err := States(dir); err == nil {
			for _, st := range sts {
				if st.Alive() {
					return dir
				}
			}
		}
	}
	return own
}
