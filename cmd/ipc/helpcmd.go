package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/ipctoolkit/ipc/internal/complete"
	"github.com/ipctoolkit/ipc/internal/manpage"
	"github.com/urfave/cli/v2"
)

func init() {
	register(&cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script for bash, zsh or fish",
		UsageText: "ipc completion bash|zsh|fish",
		Description: `The scripts ask ipc itself for the words that may follow (so they never go
stale), and ipc only lists them: completing a command never runs it. They
also complete ipcs, ipcrm, ipcmk and lsipc where those names are links to
this binary, and leave util-linux's own tools alone.

EXAMPLES:
   source <(ipc completion bash)
   ipc completion zsh > "${fpath[1]}/_ipc"
   ipc completion fish > ~/.config/fish/completions/ipc.fish`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("completion: want one shell: %s", strings.Join(complete.Shells, ", "))
			}
			script, ok := complete.Script(c.Args().First())
			if !ok {
				return usagef("completion: unknown shell %q: want %s", c.Args().First(), strings.Join(complete.Shells, ", "))
			}
			_, err := fmt.Fprint(c.App.Writer, script)
			return err
		},
	}, &cli.Command{
		Name:      "man",
		Usage:     "print the manual page (roff), made from the command definitions",
		UsageText: "ipc man | man -l -",
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			return manpage.Page{App: c.App, Util: utilCommands, Extra: utilExtras, Categories: categoryOrder, Date: buildDate(), Version: moduleVersion()}.Write(c.App.Writer)
		},
	}, &cli.Command{
		Name:      "version",
		Usage:     "print the module version and VCS revision this binary was built from",
		UsageText: "ipc version",
		Description: `The same as ipc --version. The version is the module's (v1.2.3 when built
by "go install ...@v1.2.3", "(devel)" from a checkout), the revision and its
time are git's, recorded by the go command at build time, "modified" means
the tree had uncommitted changes. ipc ls -V prints util-linux's line instead.`,
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			_, err := fmt.Fprint(c.App.Writer, versionText())
			return err
		},
	})
	cli.VersionPrinter = func(c *cli.Context) { fmt.Fprint(c.App.Writer, versionText()) }
}

// completion answers a shell's completion request from the command
// definitions alone.
func completion() complete.App {
	return complete.App{Commands: commands, Flags: []string{"--help", "-h", "--version", "-v"}, Util: utilCommands, Extra: utilExtras}
}

// moduleVersion is the module version from the build info: "(devel)" for
// a build from a checkout.
func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// buildDate is the day of the revision the binary was built from, or
// today when the build recorded none.
func buildDate() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.time" && len(s.Value) >= 10 {
				return s.Value[:10]
			}
		}
	}
	return time.Now().UTC().Format(time.DateOnly)
}

// versionText is what ipc version prints: the module and its version, the
// VCS revision (with its time and whether the tree was modified), and the
// Go toolchain, from the build info the go command recorded.
func versionText() string {
	var b strings.Builder
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "ipc version unknown (no build information)\n"
	}
	fmt.Fprintf(&b, "ipc version %s\nmodule %s\n", moduleVersion(), bi.Main.Path)
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		fmt.Fprintf(&b, "revision %s", rev)
		if t := settings["vcs.time"]; t != "" {
			fmt.Fprintf(&b, " (%s)", t)
		}
		if settings["vcs.modified"] == "true" {
			b.WriteString(" modified")
		}
		b.WriteString("\n")
	} else {
		b.WriteString("revision unknown (built without VCS information)\n")
	}
	fmt.Fprintf(&b, "built with %s for %s/%s\n", bi.GoVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}
