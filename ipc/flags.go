package ipc

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Flags are the creation flags of the *get calls.
type Flags int

const (
	// Create makes the object if the key has none (IPC_CREAT).
	Create Flags = unix.IPC_CREAT
	// Exclusive, with Create, fails with an error that matches
	// fs.ErrExist if the key already has an object (IPC_EXCL).
	Exclusive Flags = unix.IPC_EXCL
)

// Mode is the permission bits of an object: read and write (alter for
// semaphores) for owner, group and others, as in a file mode. Execute bits
// mean nothing to System V IPC and are rejected.
type Mode uint32

// DefaultMode is the mode this module's commands create objects with unless
// told otherwise: owner only. The textbooks' 0666 is never a default.
const DefaultMode Mode = 0o600

// Valid reports whether m only has permission bits System V IPC uses.
func (m Mode) Valid() bool { return m&^0o666 == 0 }

// String formats m as ls does for a file, without the type letter:
// "rw-r-----".
func (m Mode) String() string {
	return fs.FileMode(m & 0o777).String()[1:]
}

// ParseMode reads an octal mode such as "0640" or "640".
func ParseMode(s string) (Mode, error) {
	v, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(s), "0o"), 8, 32)
	if err != nil || !Mode(v).Valid() {
		return 0, fmt.Errorf("invalid mode %q: want octal permission bits such as 0600 or 0640 (no execute bits)", s)
	}
	return Mode(v), nil
}
