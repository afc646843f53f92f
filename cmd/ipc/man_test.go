package main

import (
	"bytes"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestManPage checks ipc man: the sections a manual has, every command and
// every option of ls, rm and mk in it, serve's signals in its SIGNALS
// table, and not one warning from groff -ww or man --warnings.
func TestManPage(t *testing.T) {
	page := ipcOK(t, "man")
	if !strings.HasPrefix(page, ".TH IPC 1 ") {
		t.Fatalf("page starts %q", page[:min(40, len(page))])
	}
	for _, s := range []string{"NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "EXIT STATUS", "SIGNALS", "ENVIRONMENT", "FILES", "EXAMPLES", "SEE ALSO"} {
		if !strings.Contains(page, "\n.SH \""+s+"\"\n") {
			t.Errorf("no %s section", s)
		}
	}
	roff := func(s string) string { return strings.ReplaceAll(s, "-", `\-`) }
	var walk func(cmds []*cli.Command, path string)
	walk = func(cmds []*cli.Command, path string) {
		for _, c := range cmds {
			if c.Name == "help" && path != "ipc" {
				// urfave's own, which it adds to a command the first
				// time the command runs in this process (a test that
				// calls run before this one, as -count=2 does).
				continue
			}
			p := path + " " + c.Name
			if !strings.Contains(page, roff(p)) {
				t.Errorf("%s is not in the page", p)
			}
			walk(c.Subcommands, p)
		}
	}
	walk(commands, "ipc")
	for cmd, tool := range utilCommands {
		for _, o := range tool.Options(true) {
			if !strings.Contains(page, `\fB\-\-`+roff(o.Long)+`\fR`) {
				t.Errorf("ipc %s: --%s is not in the page", cmd, o.Long)
			}
		}
	}
	signals := page[strings.Index(page, `.SH "SIGNALS"`):strings.Index(page, `.SH "ENVIRONMENT"`)]
	serve := find(commands, "serve")
	for _, sig := range regexp.MustCompile(`\b(TERM|INT|QUIT|HUP|TTIN|TTOU|USR1|USR2|WINCH|ALRM|CHLD)\b`).FindAllString(serve.Description, -1) {
		if !strings.Contains(signals, "SIG"+sig) {
			t.Errorf("serve's description names %s, the SIGNALS section does not", sig)
		}
	}
	for _, want := range []string{"unshare", "XDG_RUNTIME_DIR", "POSIXLY_CORRECT", "TZ", "/proc/sysvipc", "128+N"} {
		if !strings.Contains(page, roff(want)) && !strings.Contains(page, want) {
			t.Errorf("the page does not mention %s", want)
		}
	}
	checked := 0
	for _, check := range [][]string{
		{"groff", "-ww", "-man", "-Tutf8", "-z"},
		{"man", "--warnings", "-E", "UTF-8", "-l", "-"},
	} {
		if _, err := exec.LookPath(check[0]); err != nil {
			continue
		}
		checked++
		cmd := exec.Command(check[0], check[1:]...)
		cmd.Stdin = strings.NewReader(page)
		cmd.Env = append(cmd.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat")
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = nil, &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Errorf("%s: %v\n%s", strings.Join(check, " "), err, stderr.String())
		}
	}
	if checked == 0 {
		t.Skip("neither groff nor man is installed (.ci/run installs them)")
	}
}

// Help for a command keeps its examples.
func TestCommandHelp(t *testing.T) {
	if !strings.Contains(ipcOK(t, "sem", "op", "--help"), "EXAMPLES") {
		t.Fatal("help sem op has no examples")
	}
}
