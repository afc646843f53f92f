package ipc

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Key is a System V IPC key, the name two unrelated processes agree on to
// reach the same object. It is a C key_t: 32 bits, printed in hex.
type Key int32

// Private is IPC_PRIVATE: every get with it makes a new object that only its
// creator's descendants (or whoever is told the id) can reach. On Linux it is
// key 0, so a key of 0 is never "no key".
const Private Key = 0

// String formats the key as ipcs does: 0x followed by eight hex digits.
func (k Key) String() string {
	return fmt.Sprintf("0x%08x", uint32(k))
}

// ParseKey reads a key as the command line gives it: "private", hex with a
// 0x prefix ("0x1b2c"), or decimal. Any value that fits in 32 bits is
// accepted, signed or unsigned, since key_t is signed but ipcs prints keys
// unsigned.
func ParseKey(s string) (Key, error) {
	t := strings.TrimSpace(s)
	if strings.EqualFold(t, "private") || strings.EqualFold(t, "IPC_PRIVATE") {
		return Private, nil
	}
	var (
		v   int64
		err error
	)
	if h, ok := strings.CutPrefix(strings.ToLower(t), "0x"); ok {
		var u uint64
		u, err = strconv.ParseUint(h, 16, 32)
		v = int64(u)
	} else {
		v, err = strconv.ParseInt(t, 10, 64)
		if err == nil && (v < -1<<31 || v > 1<<32-1) {
			err = strconv.ErrRange
		}
	}
	if err != nil || t == "" {
		return 0, fmt.Errorf("invalid key %q: want hex (0x1b2c), decimal or \"private\"", s)
	}
	return Key(int32(uint32(v))), nil
}

// Ftok derives a key from an existing file and a project number exactly as
// glibc's ftok(3) does: the low 16 bits of the inode number, the low 8 bits
// of the device number and the low 8 bits of proj. Different files can give
// the same key, and a file that is deleted and created again gives another.
//
// The low 8 bits of proj must not be zero (ftok(3): "proj_id must be
// nonzero"); glibc does not check it, but such keys collide with everything
// made with the same file and proj 256.
func Ftok(path string, proj int) (Key, error) {
	if proj&0xff == 0 {
		return 0, fmt.Errorf("ftok %s: project id %d: its low 8 bits must not be zero", path, proj)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("ftok %s: %w", path, err)
	}
	k := uint32(st.Ino&0xffff) | uint32(st.Dev&0xff)<<16 | uint32(proj&0xff)<<24
	return Key(int32(k)), nil
}
