package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipctoolkit/ipc/internal/complete"
	"github.com/ipctoolkit/ipc/internal/ipctest"
	"github.com/ipctoolkit/ipc/internal/utillinux"
	"github.com/urfave/cli/v2"
)

// sysvipc is everything the kernel shows of this namespace's objects,
// times and counters included: completion must not change one byte.
func sysvipc(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, k := range []string{"msg", "sem", "shm"} {
		data, err := os.ReadFile("/proc/sysvipc/" + k)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}

// ownChildren lists this process's child processes (of every thread).
func ownChildren(t *testing.T) string {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, task := range tasks {
		data, _ := os.ReadFile("/proc/self/task/" + task.Name() + "/children")
		b.Write(data)
	}
	return strings.TrimSpace(b.String())
}

// commandPaths lists every command of the tree as the words that reach it.
func commandPaths(cmds []*cli.Command, prefix []string) [][]string {
	var out [][]string
	for _, c := range cmds {
		p := append(slices.Clone(prefix), c.Name)
		out = append(out, p)
		out = append(out, commandPaths(c.Subcommands, p)...)
	}
	return out
}

// wordsFor are the command lines a user might be completing after path:
// words typed, the word under the cursor last (often empty).
func wordsFor(path []string, ids map[string]string) [][]string {
	plausible := []string{"", "-", "--", "-a", "--all", "--all=shm", "-ashm", "-q", "-Q", "-m", "-M", "-s", "-S",
		"-i", "-v", "-V", "-h", "--help", "--json", "-p", "-t", "-c", "-l", "-u", "0", "1", "shm", "msg", "sem",
		"--nowait", "--private", "--key", "0:-1", "1:+1", "all", "bash", "--version"}
	var lines [][]string
	for _, w := range plausible {
		lines = append(lines, []string{w}, []string{w, ""}, []string{w, "--"})
	}
	for _, kind := range []string{"sem", "msg", "shm"} {
		id, key := ids[kind], ids[kind+"key"]
		for _, o := range []string{"-q", "-m", "-s", "-i"} {
			lines = append(lines, []string{o, id, ""}, []string{o, id, "-"})
		}
		for _, o := range []string{"-Q", "-M", "-S"} {
			lines = append(lines, []string{o, key, ""}, []string{o, key, "-v", ""})
		}
		lines = append(lines, []string{kind, id, ""}, []string{id, ""}, []string{id, "0:-1", ""},
			[]string{id, "--nowait", ""}, []string{"-a", "-v", ""}, []string{"-Q", "-M", "4K", "-S", "2", ""},
			[]string{"--key", key, ""}, []string{"--private", "--nsems", "1", ""}, []string{id, "--type", "1", "hi", ""})
	}
	out := make([][]string, 0, len(lines))
	for _, l := range lines {
		out = append(out, append(slices.Clone(path), l...))
	}
	return out
}

var completionWord = regexp.MustCompile(`^[A-Za-z0-9_.:%=+/-]+$`)

// TestCompletionNeverActs is the safety sweep: the completion entry point,
// for every command of the tree, the util-linux links and the top level,
// with the words a user might type before pressing TAB, on a namespace
// holding a semaphore set, a queue with messages and a segment. Nothing
// may change (not an object, a value, a message, a time), nothing may be
// written but words, no file may appear, and every answer must come at
// once.
func TestCompletionNeverActs(t *testing.T) {
	if !ipctest.PrivateNamespace() {
		t.Skip("a broken completion could remove every object: only in a private IPC namespace")
	}
	sem := created(t, "sem", "--key", "0x5e0001", "--nsems", "2", "--value", "1")
	q := created(t, "msgq", "--key", "0x5e0002")
	ipcOK(t, "msgq", "send", q, "--type", "1", "first")
	ipcOK(t, "msgq", "send", q, "--type", "2", "second")
	shmID := created(t, "shm", "--key", "0x5e0003", "--size", "4096")
	ids := map[string]string{"sem": sem, "msg": q, "shm": shmID, "semkey": "0x005e0001", "msgkey": "0x005e0002", "shmkey": "0x005e0003"}

	dir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", dir)
	t.Setenv("TMPDIR", dir)
	before := sysvipc(t)
	paths := append([][]string{{}}, commandPaths(commands, nil)...)
	runs := 0
	check := func(argv []string) {
		t.Helper()
		runs++
		var out, errb bytes.Buffer
		done := make(chan int, 1)
		go func() { done <- run(append(argv, complete.FlagName), &out, &errb) }()
		select {
		case code := <-done:
			if code != 0 || errb.Len() > 0 {
				t.Errorf("%q: exit %d, stderr %q", argv, code, errb.String())
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%q: completion did not answer within 5 s: it is running something", argv)
		}
		for _, w := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
			if w != "" && !completionWord.MatchString(w) {
				t.Errorf("%q: %q is not a word: completion printed a command's output", argv, w)
				break
			}
		}
		if now := sysvipc(t); now != before {
			t.Fatalf("completing %q changed the objects:\nbefore:\n%s\nafter:\n%s", argv, before, now)
		}
	}
	for _, p := range paths {
		for _, words := range wordsFor(p, ids) {
			check(append([]string{"ipc"}, words...))
		}
	}
	for _, tool := range utillinux.Tools {
		for _, words := range wordsFor(nil, ids) {
			check(append([]string{"/usr/local/bin/" + tool.Name}, words...))
		}
	}
	// Random command lines from the same words, the program's commands and
	// the objects' ids and keys, a fixed seed so a failure repeats.
	var vocab []string
	for _, p := range paths {
		vocab = append(vocab, p...)
	}
	for _, l := range wordsFor(nil, ids) {
		vocab = append(vocab, l...)
	}
	rng := rand.New(rand.NewPCG(13, 9))
	progs := []string{"ipc", "ipc", "ipc", "ipcs", "ipcrm", "ipcmk", "lsipc"}
	for range 3000 {
		argv := []string{progs[rng.IntN(len(progs))]}
		for n := 1 + rng.IntN(6); n > 0; n-- {
			argv = append(argv, vocab[rng.IntN(len(vocab))])
		}
		check(argv)
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("completion left files: %v", left)
	}
	if kids := ownChildren(t); kids != "" {
		t.Errorf("completion started processes: %s", kids)
	}

	// The real entry point: the binary as the shells run it, through the
	// links too, on the three command lines that used to act.
	links := t.TempDir()
	for _, tool := range utillinux.Tools {
		if err := os.Symlink(ipcBin, filepath.Join(links, tool.Name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, argv := range [][]string{
		{ipcBin, "rm", "-a", "--"}, {ipcBin, "mk", "-Q", "--"}, {ipcBin, "ls", "--"},
		{filepath.Join(links, "ipcrm"), "-a", ""}, {filepath.Join(links, "ipcrm"), "-q", q, "-"},
		{filepath.Join(links, "ipcmk"), "-Q", "-"}, {filepath.Join(links, "ipcs"), "-"}, {filepath.Join(links, "lsipc"), "-"},
		{ipcBin, "msgq", "recv", q, ""}, {ipcBin, "sem-demo", ""}, {ipcBin, "serve", "--addr", "127.0.0.1:0", ""},
	} {
		cmd := exec.Command(argv[0], append(argv[1:], complete.FlagName)...)
		out, err := cmd.Output()
		if err != nil {
			t.Errorf("%q: %v", argv, err)
		}
		if strings.Contains(string(out), "----") || strings.Contains(string(out), " id: ") {
			t.Errorf("%q printed a command's output:\n%s", argv, out)
		}
		if now := sysvipc(t); now != before {
			t.Fatalf("completing %q changed the objects:\nbefore:\n%s\nafter:\n%s", argv, before, now)
		}
	}
	t.Logf("%d completion requests in process (3000 of them random), 11 through the binary: nothing changed", runs)
}

// The answers themselves: what a user sees after TAB.
func TestCompletionWords(t *testing.T) {
	sem := created(t, "sem", "--private", "--nsems", "1")
	created(t, "sem", "--key", "0xc0ffee", "--nsems", "1")
	for _, c := range []struct {
		argv []string
		want []string // all of these, and (with exact) nothing else
		not  []string
	}{
		{[]string{"ipc", ""}, []string{"sem", "msgq", "shm", "ls", "rm", "mk", "bench", "proc-demo", "version", "completion"}, nil},
		{[]string{"ipc", "se"}, []string{"sem", "sem-demo", "serve"}, []string{"shm", "ls"}},
		{[]string{"ipc", "sem", ""}, []string{"create", "get", "stat", "set", "op", "rm"}, []string{"sem"}},
		{[]string{"ipc", "sem", "create", "--"}, []string{"--key", "--path", "--proj", "--private", "--mode", "--exclusive", "--nsems", "--value"}, nil},
		{[]string{"ipc", "bench", ""}, []string{"sem", "msgq", "pipe", "socketpair", "shm", "all"}, []string{"help", "h"}},
		{[]string{"ipc", "bench", "--cpu", ""}, []string{"same", "cross", "any"}, nil},
		{[]string{"ipc", "completion", ""}, []string{"bash", "zsh", "fish"}, nil},
		{[]string{"ipc", "sem", "rm", ""}, []string{sem}, []string{"shm", "msg"}},
		{[]string{"ipc", "sem", "stat", ""}, []string{sem}, nil},
		{[]string{"ipc", "rm", "-s", ""}, []string{sem}, nil},
		{[]string{"ipc", "rm", ""}, []string{"shm", "msg", "sem"}, nil},
		{[]string{"ipc", "rm", "--"}, []string{"--all", "--queue-id", "--semaphore-key", "--verbose"}, []string{"-a"}},
		{[]string{"ipc", "ls", "-"}, []string{"-q", "--queues", "-i", "--json", "--human"}, nil},
		{[]string{"ipc", "mk", "-"}, []string{"-Q", "-M", "-S", "-p", "--mode"}, nil},
		{[]string{"ipcs", "--"}, []string{"--queues", "--human"}, []string{"--json"}},
		{[]string{"ipcrm", "-"}, []string{"-a", "-q", "-Q", "--all"}, nil},
		{[]string{"ipcmk", "--"}, []string{"--queue", "--shmem", "--semaphore", "--mode"}, nil},
		{[]string{"lsipc", "--"}, []string{"--global", "--shell", "--json", "--time-format"}, nil},
		{[]string{"ipcs", "-s", "-i", ""}, []string{sem}, nil},
		{[]string{"ipc", "sem", "get", "--key", ""}, []string{"0x00c0ffee"}, nil},
		{[]string{"ipc", "sem", "get", "--"}, []string{"--key", "--path", "--proj"}, []string{"--private"}},
	} {
		var out bytes.Buffer
		if code := run(append(c.argv, complete.FlagName), &out, &out); code != 0 {
			t.Errorf("%q: exit %d", c.argv, code)
		}
		got := strings.Split(strings.TrimSpace(out.String()), "\n")
		for _, w := range c.want {
			if !slices.Contains(got, w) {
				t.Errorf("%q: %q missing from %q", c.argv, w, got)
			}
		}
		for _, w := range c.not {
			if slices.Contains(got, w) {
				t.Errorf("%q: %q should not be offered: %q", c.argv, w, got)
			}
		}
	}
}

// The scripts parse in their shells (where installed), and complete the
// util-linux names only where they are this binary.
func TestCompletionScripts(t *testing.T) {
	for _, sh := range complete.Shells {
		script := ipcOK(t, "completion", sh)
		if !strings.Contains(script, complete.FlagName) || !strings.Contains(script, "lsipc") {
			t.Errorf("%s script does not ask ipc, or forgets the links:\n%s", sh, script)
		}
		check := map[string][]string{"bash": {"bash", "-n"}, "zsh": {"zsh", "-n"}, "fish": {"fish", "--no-execute"}}[sh]
		if _, err := exec.LookPath(check[0]); err != nil {
			t.Logf("%s not installed: %s script not parsed", sh, sh)
			continue
		}
		cmd := exec.Command(check[0], check[1:]...)
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s script: %v\n%s", sh, err, out)
		}
	}
	if _, _, code := ipcRun(t, nil, "completion", "tcsh"); code != 2 {
		t.Errorf("completion tcsh: exit %d, want 2", code)
	}
}

// The bash script completes a util-linux name only where it is this
// binary: a foreign ipcrm (here a script that records being run) is never
// asked, a link to ipc is.
func TestCompletionBashLinks(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran")
	for name, target := range map[string]string{"ipc": ipcBin, "ipcs": ipcBin} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "ipcrm"), []byte("#!/bin/sh\ntouch "+ran+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := `source <(ipc completion bash)
COMP_WORDS=(ipcs --q); COMP_CWORD=1; _ipc_complete; echo "ipcs: ${COMPREPLY[*]}"
COMP_WORDS=(ipcrm -a ""); COMP_CWORD=2; _ipc_complete; echo "ipcrm: ${COMPREPLY[*]}"
COMP_WORDS=(ipc sem create --n); COMP_CWORD=3; _ipc_complete; echo "ipc: ${COMPREPLY[*]}"
complete -p ipcrm 2>/dev/null || echo "ipcrm: not registered"
`
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+dir+":/usr/bin:/bin")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := "ipcs: --queues\nipcrm: \nipc: --nsems\nipcrm: not registered\n"
	if string(out) != want {
		t.Errorf("bash completion:\n%s\nwant:\n%s", out, want)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("the completion ran a foreign ipcrm")
	}
}

// zsh and fish, where installed, get the same words through their
// scripts (zsh's completion builtins stubbed to print what they are
// given; fish's complete -C asks as a TAB would).
func TestCompletionZshFish(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"ipc", "ipcs"} {
		if err := os.Symlink(ipcBin, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "PATH="+dir+":/usr/bin:/bin")
	for _, c := range []struct {
		shell, script, want string
	}{
		{"zsh", `compdef(){ print "compdef $*"; }; compadd(){ [[ $1 == -a ]] && print -l -- ${(P)2}; }; _files(){ print FILES; }
source <(ipc completion zsh)
words=(ipc sem ""); CURRENT=3; _ipc
words=(ipc bench --cpu ""); CURRENT=4; _ipc
words=(ipcs --q); CURRENT=2; _ipc
words=(ipc msgq send 0 --file ""); CURRENT=6; _ipc`,
			"compdef _ipc ipc\ncompdef _ipc ipcs\ncreate\nget\nstat\nset\nop\nrm\nsame\ncross\nany\n--queues\nFILES\n"},
		{"fish", `ipc completion fish | source
complete -C "ipc sem "; complete -C "ipc bench --cpu "; complete -C "ipcs --q"`,
			"create\nget\nop\nrm\nset\nstat\nany\ncross\nsame\n--queues\n"},
	} {
		if _, err := exec.LookPath(c.shell); err != nil {
			t.Logf("%s not installed: not tried", c.shell)
			continue
		}
		args := []string{"-fc", c.script}
		if c.shell == "fish" {
			args = []string{"--no-config", "-c", c.script}
		}
		cmd := exec.Command(c.shell, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil || string(out) != c.want {
			t.Errorf("%s: %v\n%s\nwant:\n%s", c.shell, err, out, c.want)
		}
	}
}

// Options a file of this package adds to ls or rm (utilExtras) are
// completed and in the manual like the tool's own.
func TestUtilExtras(t *testing.T) {
	utilExtras["ls"] = []utillinux.Option{{Long: "orphaned-test", Help: "an added option"}}
	defer delete(utilExtras, "ls")
	var out bytes.Buffer
	run([]string{"ipc", "ls", "--orph", complete.FlagName}, &out, &out)
	if out.String() != "--orphaned-test\n" {
		t.Errorf("ipc ls --orph<TAB>: %q", out.String())
	}
	out.Reset()
	if code := run([]string{"ipc", "man"}, &out, &out); code != 0 || !strings.Contains(out.String(), `\fB\-\-orphaned\-test\fR`) {
		t.Errorf("the added option is not in the manual (exit %d)", code)
	}
}
