package utillinux

import (
	"os"
	"sync"
	"testing"
	"time"
)

// POSIX TZ strings through the time package's own footer parser, against
// what glibc's localtime gives for the same instants (date(1) output
// recorded on Debian 12, glibc 2.36).
func TestPosixZone(t *testing.T) {
	at := time.Unix(1795347863, 0) // Sun Nov 22 11:44:23 2026 UTC
	summer := time.Unix(1780000000, 0)
	for tz, want := range map[string][2]string{
		"JST-9":                      {"Sun Nov 22 20:44:23 2026 JST", "Fri May 29 05:26:40 2026 JST"},
		"CET-1CEST,M3.5.0,M10.5.0/3": {"Sun Nov 22 12:44:23 2026 CET", "Thu May 28 22:26:40 2026 CEST"},
		"<+0530>-5:30":               {"Sun Nov 22 17:14:23 2026 +0530", "Fri May 29 01:56:40 2026 +0530"},
		"EST+5":                      {"Sun Nov 22 06:44:23 2026 EST", "Thu May 28 15:26:40 2026 EST"},
		"EST5EDT":                    {"Sun Nov 22 06:44:23 2026 EST", "Thu May 28 16:26:40 2026 EDT"},
	} {
		loc, ok := posixZone(tz)
		if !ok {
			t.Errorf("posixZone(%q) refused", tz)
			continue
		}
		for i, when := range []time.Time{at, summer} {
			if got := when.In(loc).Format("Mon Jan _2 15:04:05 2006 MST"); got != want[i] {
				t.Errorf("TZ=%q: %s, want %s", tz, got, want[i])
			}
		}
	}
	for _, bad := range []string{"", "garbage!!", "JST", "EST+", "\n"} {
		if _, ok := posixZone(bad); ok {
			t.Errorf("posixZone(%q) accepted", bad)
		}
	}
}

// A right/ zone's leap seconds come off the time, as glibc takes them.
func TestRightZone(t *testing.T) {
	if _, err := os.Stat("/usr/share/zoneinfo/right/UTC"); err != nil {
		t.Skip("no right/UTC zone file")
	}
	t.Setenv("TZ", "right/UTC")
	zone.once = sync.Once{}
	t.Cleanup(func() { zone.once = sync.Once{} })
	if got := ctime(time.Unix(1795347863, 0)); got != "Sun Nov 22 11:43:56 2026" {
		t.Errorf("TZ=right/UTC: %s, want glibc's Sun Nov 22 11:43:56 2026 (27 leap seconds)", got)
	}
	// Around the first leap second (1972-06-30 23:59:60 is 78796800 in
	// the right/ scale, which glibc prints as second 60; ipc cannot, and
	// no IPC object can have that time: the kernel's clock is UTC's).
	for sec, want := range map[int64]string{78796799: "Fri Jun 30 23:59:59 1972", 78796801: "Sat Jul  1 00:00:00 1972"} {
		if got := ctime(time.Unix(sec, 0)); got != want {
			t.Errorf("TZ=right/UTC at %d: %s, want glibc's %s", sec, got, want)
		}
	}
}
