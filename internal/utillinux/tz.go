package utillinux

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The time zone, as the C library reads TZ. Go's time package loads a
// zone file named by TZ, but falls back to UTC for everything else glibc
// understands: POSIX TZ strings ("JST-9", "CET-1CEST,M3.5.0,M10.5.0/3",
// "<+0530>-5:30", "EST+5", "EST5EDT") mean nothing to it outside a zone
// file's footer, and it ignores a zone file's leap-second records, so
// TZ=right/UTC printed times 27 s off. localTime gives the time as
// util-linux prints it in every case.

// zone is the time zone of TZ, loaded once.
var zone struct {
	once  sync.Once
	loc   *time.Location
	leaps []leap // a right/ zone's leap seconds, in its own time scale
}

// leap is a leap-second record of a zone file: from time at on (in the
// file's scale, which counts leap seconds), correction seconds are taken
// away.
type leap struct {
	at         int64
	correction int64
}

// loadZone reads TZ as glibc's tzset does: unset, /etc/localtime; empty,
// UTC; ":name" or "name" a zone file under TZDIR (or the system's zone
// directory) or at an absolute path; anything else a POSIX TZ string.
func loadZone() {
	zone.loc = time.Local
	tz, set := os.LookupEnv("TZ")
	file := "/etc/localtime"
	switch {
	case set && tz == "":
		zone.loc = time.UTC
		return
	case set:
		name := strings.TrimPrefix(tz, ":")
		file = name
		if !filepath.IsAbs(name) {
			dir := os.Getenv("TZDIR")
			if dir == "" {
				dir = "/usr/share/zoneinfo"
			}
			file = filepath.Join(dir, name)
		}
		if data, err := os.ReadFile(file); err == nil {
			if loc, err := time.LoadLocationFromTZData(name, data); err == nil {
				zone.loc, zone.leaps = loc, leapSeconds(data)
				return
			}
		}
		if loc, ok := posixZone(tz); ok {
			zone.loc = loc
			return
		}
		// glibc: a TZ it cannot read at all is UTC.
		zone.loc = time.UTC
		return
	}
	if data, err := os.ReadFile(file); err == nil {
		zone.leaps = leapSeconds(data)
	}
}

// localTime is t in the zone TZ names, as ctime and strftime show it: in a
// right/ zone, less the leap seconds elapsed by then. The instant of a
// leap second itself, which glibc shows as second 60, shows as the second
// after it.
func localTime(t time.Time) time.Time {
	t = t.In(zoneLoc())
	sec := t.Unix()
	for i := len(zone.leaps) - 1; i >= 0; i-- {
		if sec >= zone.leaps[i].at {
			return t.Add(-time.Duration(zone.leaps[i].correction) * time.Second)
		}
	}
	return t
}

// zoneLoc is the location TZ names.
func zoneLoc() *time.Location {
	zone.once.Do(loadZone)
	return zone.loc
}

// invalidZone names the zone posixZone makes for times a TZ string does
// not cover: only when Go's own parser refused the string.
const invalidZone = "-invalid-"

// posixZone makes a location from a POSIX TZ string with the time
// package's own parser, which reads such strings in zone file footers: it
// wraps the string in a zone file with no transitions (TZif version 2).
// The string is refused when the time package could not read it either.
func posixZone(tz string) (*time.Location, bool) {
	if tz == "" || strings.ContainsAny(tz, "\n\x00") {
		return nil, false
	}
	var b []byte
	header := func(typecnt, charcnt uint32) {
		b = append(b, "TZif2"...)
		b = append(b, make([]byte, 15)...)
		for _, n := range []uint32{0, 0, 0, 0, typecnt, charcnt} { // isut, isstd, leap, time, type, char
			b = binary.BigEndian.AppendUint32(b, n)
		}
	}
	abbrev := invalidZone + "\x00"
	block := func() {
		b = append(b, 0, 0, 0, 0, 0, 0) // one type: offset 0, not DST, abbreviation 0
		b = append(b, abbrev...)
	}
	header(1, uint32(len(abbrev)))
	block() // version 1 data
	header(1, uint32(len(abbrev)))
	block() // version 2 data
	b = append(b, '\n')
	b = append(b, tz...)
	b = append(b, '\n')
	loc, err := time.LoadLocationFromTZData(tz, b)
	if err != nil {
		return nil, false
	}
	// Where the footer could not be read, every time falls in the type of
	// the data: refuse the string then.
	for _, month := range []time.Month{time.January, time.July} {
		if name, _ := time.Date(2026, month, 1, 0, 0, 0, 0, time.UTC).In(loc).Zone(); name == invalidZone {
			return nil, false
		}
	}
	return loc, true
}

// tzifCounts are the six counts of a TZif header, in the file's order.
type tzifCounts struct{ isut, isstd, leap, time, typ, char int }

func readCounts(b []byte) (tzifCounts, bool) {
	if len(b) < 44 || string(b[:4]) != "TZif" {
		return tzifCounts{}, false
	}
	n := func(i int) int { return int(binary.BigEndian.Uint32(b[20+4*i:])) }
	return tzifCounts{n(0), n(1), n(2), n(3), n(4), n(5)}, true
}

// leapSeconds reads the leap-second records of a zone file (TZif): none
// but in right/ zones. A version 2 file's 64-bit block is read, past the
// version 1 block that comes first.
func leapSeconds(data []byte) []leap {
	c, ok := readCounts(data)
	if !ok {
		return nil
	}
	timeSize := 4
	if data[4] >= '2' {
		v1 := 44 + c.time*5 + c.typ*6 + c.char + c.leap*8 + c.isstd + c.isut
		if len(data) < v1 {
			return nil
		}
		data, timeSize = data[v1:], 8
		if c, ok = readCounts(data); !ok {
			return nil
		}
	}
	at := 44 + c.time*(timeSize+1) + c.typ*6 + c.char // the leap records follow
	if len(data) < at+c.leap*(timeSize+4) {
		return nil
	}
	leaps := make([]leap, 0, c.leap)
	for i := 0; i < c.leap; i++ {
		p := data[at+i*(timeSize+4):]
		when := int64(int32(binary.BigEndian.Uint32(p)))
		if timeSize == 8 {
			when = int64(binary.BigEndian.Uint64(p))
		}
		leaps = append(leaps, leap{at: when, correction: int64(int32(binary.BigEndian.Uint32(p[timeSize:])))})
	}
	return leaps
}
