package tests

import (
	"testing"
)

// cmds builds a scenario's command list from lines "tool arg arg..."
// ("nobody tool ..." to run as nobody).
func cmds(lines ...string) [][]string {
	var out [][]string
	for _, l := range lines {
		out = append(out, args(l))
	}
	return out
}

// Every ipcrm case of util-linux 2.38.1 we captured, each scenario in a fresh
// namespace per tool, so ids (which the messages print) agree.
func TestIpcrm(t *testing.T) {
	b := build(t)
	both := []flavour{linked, subcmd}
	for name, s := range map[string]scenario{
		"no arguments": {setup: "errors", cmds: cmds("ipcrm")},
		"errors by id": {setup: "errors", cmds: cmds(
			"ipcrm -q 999", "ipcrm -m 999", "ipcrm -s 999", "ipcrm -q -5", "ipcrm -m -1",
			"ipcrm -q abc", "ipcrm -q 1x", "ipcrm -q 0x1", "ipcrm -q ''", "ipcrm -q 99999999999",
			"ipcrm -q 2147483648", "ipcrm -s -2147483649", "ipcrm --queue-id=abc",
		)},
		"errors by key": {setup: "errors", cmds: cmds(
			"ipcrm -Q 0x999", "ipcrm -M 0x999", "ipcrm -S 0x999",
			"ipcrm -Q 0", "ipcrm -M 0x0", "ipcrm -S 00", "ipcrm -Q 0x100000000", "ipcrm -S -0",
			"ipcrm -Q xyz", "ipcrm -Q ''", "ipcrm -Q 0x", "ipcrm -Q 4660x", "ipcrm -Q 99999999999999999999999",
			"ipcrm -Q 08", "ipcrm --shmem-key 0x4567x",
		)},
		"option errors": {setup: "errors", cmds: cmds(
			"ipcrm -q", "ipcrm -Q", "ipcrm -x", "ipcrm --all=foo", "ipcrm --foo", "ipcrm --queue-id",
			"ipcrm --verbose=1", "ipcrm --s 1", "ipcrm --sh 0", "ipcrm -v -q 0 -x -q 1",
		)},
		"permission denied": {setup: "errors", cmds: cmds(
			"nobody ipcrm -q 0", "nobody ipcrm -Q 0x1234", "nobody ipcrm -q 1", "nobody ipcrm -Q 0x2345",
			"nobody ipcrm -m 0", "nobody ipcrm -M 0x4567", "nobody ipcrm -s 0", "nobody ipcrm -S 0x5678",
			"nobody ipcrm -v -q 2", "nobody ipcrm -v -Q 0x3456",
		)},
		"all as nobody":          {setup: "errors", cmds: cmds("nobody ipcrm -a")},
		"all as nobody, verbose": {setup: "errors", cmds: cmds("nobody ipcrm -v -a")},
		"all as nobody, several owners": {setup: "owners", cmds: cmds(
			"nobody ipcrm -v --all=sem", "nobody ipcrm -v -ashm", "nobody ipcrm -v -a",
		)},
		"key forms": {setup: "errors", cmds: cmds(
			"ipcrm -Q 020", "ipcrm -Q -1", "ipcrm -v -Q 4660", "ipcrm -v -M 0x4567", "ipcrm -v -S 22136",
		)},
		"edge keys": {setup: "keys", cmds: cmds(
			"ipcrm -v -S 0x80000000", "ipcrm -v -S 2147483647", "ipcrm -v -Q 0xffffffff",
			"ipcrm -v -Q 4660", "ipcrm -v -Q 041102", "ipcrm -v -M 0XDEADBEEF", "ipcrm -v -Q 0XABC",
			"ipcrm -v -Q ' 0x4242'",
		)},
		"processing order": {setup: "errors", cmds: cmds(
			"ipcrm -v -q 1 -q 999 -m 0 -s abc -s 0",
		)},
		"bad --all value stops": {setup: "errors", cmds: cmds("ipcrm -v -q 1 --all=bogus -q 2")},
		"leftover argument":     {setup: "errors", cmds: cmds("ipcrm -q 0 extra", "ipcrm x -q 1 y", "ipcrm -v -- -q 2")},
		"long options": {setup: "pairs", cmds: cmds(
			"ipcrm --queue-id 0 --shmem-id 0 --shmem-key 0 --semaphore-id 0 --semaphore-key 9",
		)},
		"legacy": {setup: "pairs", cmds: cmds(
			"ipcrm msg 0 1", "ipcrm shm 0 999 1", "ipcrm sem abc 0", "ipcrm sem", "ipcrm sem 1",
			"ipcrm shm -1", "ipcrm msg 0x4", "ipcrm msg 05", "ipcrm msg +6", "ipcrm SHM 1", "ipcrm msg ''",
			"ipcrm shm 99999999999999999999999", "ipcrm sem ' 1'",
		)},
		"all of one kind":           {setup: "pairs", cmds: cmds("ipcrm -v --all=shm", "ipcrm -v -asem", "ipcrm -v -a msg")},
		"all":                       {setup: "pairs", cmds: cmds("ipcrm -a", "ipcrm -a")},
		"all, verbose":              {setup: "pairs", cmds: cmds("ipcrm --verbose --all")},
		"all with a detached value": {setup: "pairs", cmds: cmds("ipcrm -v -a=shm", "ipcrm -v --all shm")},
		"all, abbreviated":          {setup: "pairs", cmds: cmds("ipcrm --a=msg -v", "ipcrm -vamsg", "ipcrm -va")},
		"attached segment": {setup: "attached", cmds: cmds(
			"ipcrm -v -M 0x5555", "ipcrm -M 0x5555", "ipcrm -v -m 0", "ipcrm -v -a",
		)},
	} {
		t.Run(name, func(t *testing.T) { b.compare(t, s, both...) })
	}
}
