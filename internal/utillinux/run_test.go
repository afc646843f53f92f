package utillinux

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/ipctest"
)

func TestMain(m *testing.M) { ipctest.Main(m) }

// runSub runs tool as its ipc subcommand in this process.
func runSub(tool *Tool, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := tool.RunSub(args, &out, &errb)
	return out.String(), errb.String(), code
}

// The three tools in process, on real objects: ipcmk makes them, ipcs
// lists them (in its table and as --json), ipcrm removes them, each with
// its messages and statuses. tests/ compares the same with util-linux.
func TestToolsInProcess(t *testing.T) {
	if !ipctest.PrivateNamespace() {
		t.Skip("lists and removes every object: only in a private IPC namespace")
	}
	out, errs, code := runSub(Ipcmk, "-Q", "-S", "2", "-M", "4K", "-p", "0640")
	ids := regexp.MustCompile(`(?m)^(Shared memory|Message queue|Semaphore) id: (\d+)$`).FindAllStringSubmatch(out, -1)
	if code != 0 || errs != "" || len(ids) != 3 || ids[0][1] != "Shared memory" || ids[2][1] != "Semaphore" {
		t.Fatalf("ipc mk: %q %q %d", out, errs, code)
	}
	out, _, code = runSub(Ipcs, "-q")
	if code != 0 || !strings.Contains(out, "------ Message Queues --------\nkey        msqid      owner      perms      used-bytes   messages    \n0x") ||
		!strings.Contains(out, " 640        0            0           \n") {
		t.Errorf("ipc ls -q:\n%s", out)
	}
	out, _, code = runSub(Ipcs, "--json", "-m")
	var doc struct {
		SharedMemory []struct {
			Size  uint64 `json:"size"`
			Octal string `json:"octal"`
		} `json:"sharedmemory"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 || len(doc.SharedMemory) != 1 ||
		doc.SharedMemory[0].Size != 4096 || doc.SharedMemory[0].Octal != "0640" {
		t.Errorf("ipc ls --json -m: %v %d\n%s", err, code, out)
	}
	_, errs, code = runSub(Ipcrm, "-q", "999999")
	if code != 1 || errs != "ipc: invalid id (999999)\n" {
		t.Errorf("ipc rm -q 999999: %q %d", errs, code)
	}
	out, errs, code = runSub(Ipcrm, "-a", "-v")
	if code != 0 || errs != "" || strings.Count(out, "removing ") != 3 {
		t.Errorf("ipc rm -a -v: %q %q %d", out, errs, code)
	}
	if out, _, _ := runSub(Ipcs); strings.Contains(out, "0x") {
		t.Errorf("objects left after ipc rm -a:\n%s", out)
	}
}

// Run under util-linux's name, a tool names itself so in messages and
// help, and lsipc (which has no ipc subcommand) works too.
func TestRunAsLink(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Ipcs.Run("/usr/local/bin/ipcs", []string{"-x"}, &out, &errb); code != 1 ||
		errb.String() != "/usr/local/bin/ipcs: invalid option -- 'x'\nTry 'ipcs --help' for more information.\n" {
		t.Errorf("ipcs -x: %d %q", code, errb.String())
	}
	out.Reset()
	if code := Lsipc.Run("lsipc", []string{"--help"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "\nUsage:\n lsipc [options]\n") {
		t.Errorf("lsipc --help: %d %q", code, out.String())
	}
	if tl, ok := Lookup("/sbin/ipcmk"); !ok || tl != Ipcmk {
		t.Errorf("Lookup(/sbin/ipcmk) = %v, %v", tl, ok)
	}
	if _, ok := Lookup("ipc"); ok {
		t.Error("Lookup(ipc) found a tool")
	}
}

// Options come from the getopt tables, described by --help: every option
// a tool parses is listed once, with its help line where --help has one.
func TestOptions(t *testing.T) {
	for _, tl := range Tools {
		for _, sub := range []bool{false, true} {
			if sub && tl.Sub == "" {
				continue
			}
			seen := map[string]bool{}
			for _, o := range tl.Options(sub) {
				if seen[o.Long] {
					t.Errorf("%s: --%s twice", tl.Name, o.Long)
				}
				seen[o.Long] = true
				if o.Help == "" {
					t.Errorf("%s: --%s has no help line", tl.Name, o.Long)
				}
			}
			if sub && tl == Ipcs && !seen["json"] {
				t.Error("ipc ls: no --json")
			}
			if !sub && seen["json"] && tl == Ipcs {
				t.Error("ipcs: --json, which only ipc ls takes")
			}
		}
	}
	var all Option
	for _, o := range Ipcrm.Options(false) {
		if o.Long == "all" {
			all = o
		}
	}
	if all.Short != 'a' || !all.Optional || all.Arg != "[=shm|msg|sem]" {
		t.Errorf("ipcrm --all: %+v", all)
	}
}

// ipcrm's empty key argument and the errno before it, in process.
func TestIpcrmStaleErrnoInProcess(t *testing.T) {
	if !ipctest.PrivateNamespace() {
		t.Skip("removes objects by id: only in a private IPC namespace")
	}
	out, _, _ := runSub(Ipcmk, "-Q")
	id := strings.TrimPrefix(strings.TrimSpace(out), "Message queue id: ")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-Q", ""}, "ipc: failed to parse argument: '': No such file or directory\n"},
		{[]string{"-q", id, "-Q", ""}, "ipc: failed to parse argument: ''\n"},
		{[]string{"-q", "99", "-Q", ""}, "ipc: invalid id (99)\nipc: failed to parse argument: '': Invalid argument\n"},
		{[]string{"-S", "0", "-M", ""}, "ipc: illegal key (0)\nipc: failed to parse argument: ''\n"},
	} {
		if _, errs, code := runSub(Ipcrm, c.args...); code != 1 || errs != c.want {
			t.Errorf("ipc rm %q: %d %q, want %q", c.args, code, errs, c.want)
		}
	}
}

func TestShellName(t *testing.T) {
	for in, want := range map[string]string{"USE%": "USE_PCT", "KEY": "KEY", "1FOO%": "_1FOO_PCT", "A-B": "A_B"} {
		if got := shellName(in); got != want {
			t.Errorf("shellName(%q) = %q, want %q", in, got, want)
		}
	}
}

// A Session prints as the tool does, and a tool run in it shares its
// buffered output.
func TestSession(t *testing.T) {
	var out, errb bytes.Buffer
	s := NewSession("ls", &out, &errb)
	s.Printf("before\n")
	s.Warnx("a warning")
	if code := Ipcs.RunIn(s, []string{"-l", "-q"}); code != 0 {
		t.Fatalf("ipc ls -l -q in a session: %d %s", code, errb.String())
	}
	s.Printf("after\n")
	if code := s.Finish(0); code != 0 {
		t.Fatal(code)
	}
	if !strings.HasPrefix(out.String(), "before\n\n------ Messages Limits --------\n") || !strings.HasSuffix(out.String(), "\nafter\n") {
		t.Errorf("stdout:\n%s", out.String())
	}
	if errb.String() != "ipc: a warning\n" || s.Err() != &errb {
		t.Errorf("stderr %q", errb.String())
	}
	if s.Terminal() {
		t.Error("a buffer is not a terminal")
	}
	if JSONTime(time.Time{}) != nil || *JSONTime(time.Unix(0, 0).UTC()) != time.Unix(0, 0).In(zoneLoc()).Format(time.RFC3339) {
		t.Error("JSONTime")
	}
	if name, ok := s.UserName(0); !ok || name != "root" {
		t.Errorf("UserName(0) = %q, %v", name, ok)
	}
}
