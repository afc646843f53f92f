package ipcns

import (
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Found is one IPC namespace found under /proc, with the processes in it.
type Found struct {
	Inode uint64
	// PIDs are the processes whose /proc/PID/ns/ipc is this namespace, in
	// increasing order; PIDs[0] is the one to enter it through.
	PIDs []int
	// Command is PIDs[0]'s command name (/proc/PID/comm).
	Command string
	// Container names the container PIDs[0] runs in, as its cgroup path
	// tells it ("docker 3f2a1b4c5d6e", "lxc web", "machine debian"), or ""
	// when it tells none.
	Container string
	// Current: the caller's own namespace.
	Current bool
}

// List finds every IPC namespace that some process visible in /proc is in,
// ordered by inode, the caller's first. Processes whose namespace cannot be
// read (another user's, without privilege; ones that exit meanwhile) are
// skipped.
func List() ([]Found, error) {
	self, err := Current()
	if err != nil {
		return nil, &Error{Op: "list", Spec: "namespaces", Err: err}
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, &Error{Op: "list", Spec: "namespaces", Err: err}
	}
	byIno := map[uint64]*Found{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat("/proc/"+e.Name()+"/ns/ipc", &st) != nil {
			continue
		}
		f := byIno[st.Ino]
		if f == nil {
			f = &Found{Inode: st.Ino, Current: st.Ino == self}
			byIno[st.Ino] = f
		}
		f.PIDs = append(f.PIDs, pid)
	}
	out := make([]Found, 0, len(byIno))
	for _, f := range byIno {
		sort.Ints(f.PIDs)
		f.Command = comm(f.PIDs[0])
		f.Container = Container(f.PIDs[0])
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Current != out[j].Current {
			return out[i].Current
		}
		return out[i].Inode < out[j].Inode
	})
	return out, nil
}

func comm(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// containerPatterns recognise the cgroup paths container managers give
// their containers: the first group is the manager, the second the name or
// id. Compiled at first use: at init every process of the ipc binary (each
// server worker, each fork-mode child) paid half a millisecond and 985
// allocations for them (GODEBUG=inittrace=1).
var containerPatterns = sync.OnceValue(func() []*regexp.Regexp {
	return []*regexp.Regexp{
		regexp.MustCompile(`/(docker)[-/]([0-9a-f]{12,64})(?:\.scope)?(?:/|$)`),
		regexp.MustCompile(`/(libpod)-([0-9a-f]{12,64})(?:\.scope)?(?:/|$)`),
		regexp.MustCompile(`/(cri-containerd|crio|containerd)-([0-9a-f]{12,64})(?:\.scope)?(?:/|$)`),
		regexp.MustCompile(`/(kubepods)[^ ]*/(?:pod[^/]+/)?([0-9a-f]{12,64})(?:/|$)`),
		regexp.MustCompile(`/(lxc)\.payload\.([^/]+)`),
		regexp.MustCompile(`/(lxc)/([^/]+)`),
		regexp.MustCompile(`/(machine)-([^/]+)\.scope`),
	}
})

// Container tells the container process pid runs in from /proc/PID/cgroup:
// "docker 3f2a1b4c5d6e" (ids cut to 12 characters, as docker ps shows
// them), "podman ...", "lxc NAME", "machine NAME" (systemd-nspawn), or ""
// when the cgroup path names none.
func Container(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return ""
	}
	return ContainerOf(string(b))
}

// ContainerOf is Container for the contents of a /proc/PID/cgroup file.
func ContainerOf(cgroup string) string {
	for _, line := range strings.Split(cgroup, "\n") {
		// "hierarchy-ID:controllers:path"; v2 has a single "0::path".
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, re := range containerPatterns() {
			m := re.FindStringSubmatch(parts[2])
			if m == nil {
				continue
			}
			mgr, name := m[1], m[2]
			switch mgr {
			case "libpod":
				mgr = "podman"
			case "cri-containerd", "crio", "containerd", "kubepods":
				mgr = "kubernetes"
			case "machine":
				name = strings.ReplaceAll(name, `\x2d`, "-")
			}
			if len(name) > 12 && strings.Trim(name, "0123456789abcdef") == "" {
				name = name[:12]
			}
			return mgr + " " + name
		}
	}
	return ""
}
