// Package utillinux is ipc's stand-in for util-linux 2.38.1's System V IPC
// tools: ipcs, ipcrm, ipcmk and lsipc, with their options (parsed as
// glibc's getopt_long parses them), output formats, messages and exit
// statuses, byte for byte, plus ipc ls's --json document.
//
// The command line is wiring: cmd/ipc runs a Tool under its own name when
// the binary is invoked through a link (Tool.Run), or as the ipc
// subcommand that mirrors it, ipc ls, rm or mk (Tool.RunSub). Everything a
// tool prints goes to the writers it is given, so the tools also run
// inside a test process; tests/ compares the built binary with util-linux
// itself.
//
// Options lists each tool's options from the tables it parses with, for
// shell completion and the manual page: neither can then offer an option
// the tool refuses, and neither needs to run the tool to find out.
package utillinux
