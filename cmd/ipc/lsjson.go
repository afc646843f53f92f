package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/msgq"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/ipctoolkit/ipc/shm"
)

// ipc ls --json: lsipc's document layout (an object holding the arrays
// "messages", "sharedmemory" and "semaphores", or "ipclimits" for -l/-u;
// lsipc's lower-case column names), but with real JSON types where lsipc
// prints every value as a string. The schema is in README.md.

// jsonObject is what every object has: lsipc's generic columns.
type jsonObject struct {
	Key    uint32  `json:"key"`
	KeyHex string  `json:"keyhex"`
	ID     int     `json:"id"`
	Owner  string  `json:"owner"`
	Perms  string  `json:"perms"`
	Mode   uint32  `json:"mode"`
	Octal  string  `json:"octal"`
	CUID   uint32  `json:"cuid"`
	CUser  *string `json:"cuser"`
	CGID   uint32  `json:"cgid"`
	CGroup *string `json:"cgroup"`
	UID    uint32  `json:"uid"`
	User   *string `json:"user"`
	GID    uint32  `json:"gid"`
	Group  *string `json:"group"`
	CTime  *string `json:"ctime"`
}

type jsonQueue struct {
	jsonObject
	UsedBytes uint64  `json:"usedbytes"`
	Msgs      uint64  `json:"msgs"`
	QBytes    *uint64 `json:"qbytes"`
	Send      *string `json:"send"`
	Recv      *string `json:"recv"`
	LSPID     int     `json:"lspid"`
	LRPID     int     `json:"lrpid"`
}

type jsonSegment struct {
	jsonObject
	Size    uint64  `json:"size"`
	Nattch  uint64  `json:"nattch"`
	Status  *string `json:"status"`
	Dest    bool    `json:"dest"`
	Locked  bool    `json:"locked"`
	Attach  *string `json:"attach"`
	Detach  *string `json:"detach"`
	Command *string `json:"command"`
	CPID    int     `json:"cpid"`
	LPID    int     `json:"lpid"`
	RSS     uint64  `json:"rss"`
	Swap    uint64  `json:"swap"`
}

type jsonSemaphoreSet struct {
	jsonObject
	Nsems  int             `json:"nsems"`
	OTime  *string         `json:"otime"`
	Values []jsonSemaphore `json:"values,omitempty"`
}

type jsonSemaphore struct {
	Semnum  int     `json:"semnum"`
	Value   int     `json:"value"`
	NCount  int     `json:"ncount"`
	ZCount  int     `json:"zcount"`
	PID     int     `json:"pid"`
	Command *string `json:"command"`
}

// jsonLimit is a row of lsipc --global: a limit and, where the kernel
// counts it, how much of it is used.
type jsonLimit struct {
	Resource    string   `json:"resource"`
	Description string   `json:"description"`
	Limit       uint64   `json:"limit"`
	Used        *uint64  `json:"used"`
	UsePercent  *float64 `json:"use%"`
}

type jsonDoc struct {
	Messages     *[]jsonQueue        `json:"messages,omitempty"`
	SharedMemory *[]jsonSegment      `json:"sharedmemory,omitempty"`
	Semaphores   *[]jsonSemaphoreSet `json:"semaphores,omitempty"`
	IPCLimits    *[]jsonLimit        `json:"ipclimits,omitempty"`
}

func jsonTime(when time.Time) *string {
	if when.IsZero() {
		return nil
	}
	s := when.Local().Format(time.RFC3339)
	return &s
}

func jsonName(name string, ok bool) *string {
	if !ok {
		return nil
	}
	return &name
}

func (t *utilTool) jsonObject(id int, p ipc.Perm, ctime time.Time) jsonObject {
	mode := uint32(p.Mode) & 0o777
	o := jsonObject{
		Key:    uint32(p.Key),
		KeyHex: p.Key.String(),
		ID:     id,
		Perms:  p.Mode.String(),
		Mode:   mode,
		Octal:  fmt.Sprintf("%#o", mode),
		CUID:   p.CUID,
		CUser:  jsonName(t.userName(p.CUID)),
		CGID:   p.CGID,
		CGroup: jsonName(t.groupName(p.CGID)),
		UID:    p.UID,
		User:   jsonName(t.userName(p.UID)),
		GID:    p.GID,
		Group:  jsonName(t.groupName(p.GID)),
		CTime:  jsonTime(ctime),
	}
	if o.User != nil {
		o.Owner = *o.User
	} else {
		o.Owner = strconv.FormatUint(uint64(p.UID), 10)
	}
	return o
}

// lsJSON prints the objects (or, with -l or -u, the limits and their use)
// that o selects as one JSON document. Like ipcs, an -i id that names
// nothing is a warning with status 0; the document then has an empty
// array.
func lsJSON(t *utilTool, o ipcsOpts) int {
	var doc jsonDoc
	code := 0
	if o.format == fmtLimits || o.format == fmtStatus {
		rows, err := limitRows(o.msg, o.shm, o.sem)
		if err != nil {
			t.warnx("%v", err)
			return 1
		}
		doc.IPCLimits = &rows
		return t.writeJSON(doc, 0)
	}
	want := func(id int) bool { return !o.specific || id == o.id }
	found := false
	if o.msg {
		qs, err := msgq.List()
		if err != nil {
			t.warnx("%v", err)
			return 1
		}
		list := []jsonQueue{}
		for _, q := range qs {
			if !want(q.ID) {
				continue
			}
			found = true
			j := jsonQueue{
				jsonObject: t.jsonObject(q.ID, q.Perm, q.CTime),
				UsedBytes:  q.CBytes, Msgs: q.QNum,
				Send: jsonTime(q.STime), Recv: jsonTime(q.RTime),
				LSPID: q.LSPID, LRPID: q.LRPID,
			}
			if q.QBytes != 0 {
				qb := q.QBytes
				j.QBytes = &qb
			}
			list = append(list, j)
		}
		doc.Messages = &list
	}
	if o.shm {
		segs, err := shm.List()
		if err != nil {
			t.warnx("%v", err)
			return 1
		}
		list := []jsonSegment{}
		for _, s := range segs {
			if !want(s.ID) {
				continue
			}
			found = true
			j := jsonSegment{
				jsonObject: t.jsonObject(s.ID, s.Perm, s.CTime),
				Size:       uint64(s.Size), Nattch: uint64(s.NAttch),
				Dest: s.Removed, Locked: s.Locked,
				Attach: jsonTime(s.ATime), Detach: jsonTime(s.DTime),
				Command: jsonName(ipc.CommandLine(s.CPID)),
				CPID:    s.CPID, LPID: s.LPID, RSS: s.RSS, Swap: s.Swap,
			}
			if st := segmentStatus(s); st != "" {
				j.Status = &st
			}
			list = append(list, j)
		}
		doc.SharedMemory = &list
	}
	if o.sem {
		sets, err := sem.List()
		if err != nil {
			t.warnx("%v", err)
			return 1
		}
		list := []jsonSemaphoreSet{}
		for _, s := range sets {
			if !want(s.ID) {
				continue
			}
			found = true
			j := jsonSemaphoreSet{
				jsonObject: t.jsonObject(s.ID, s.Perm, s.CTime),
				Nsems:      s.NSems, OTime: jsonTime(s.OTime),
			}
			if o.specific {
				vals, err := s.States()
				if err != nil {
					var e *ipc.Error
					if errors.As(err, &e) && e.Call != "" {
						t.warn(e.Err, "%s failed", e.Call)
					} else {
						t.warnx("%v", err)
					}
					return 1
				}
				for _, v := range vals {
					j.Values = append(j.Values, jsonSemaphore{
						Semnum: v.Num, Value: v.Value, NCount: v.NCount, ZCount: v.ZCount, PID: v.PID,
						Command: jsonName(ipc.CommandLine(v.PID)),
					})
				}
			}
			list = append(list, j)
		}
		doc.Semaphores = &list
	}
	if o.specific && !found {
		code = t.notFound(o.id)
	}
	return t.writeJSON(doc, code)
}

func (t *utilTool) writeJSON(doc jsonDoc, code int) int {
	data, err := json.MarshalIndent(doc, "", "   ")
	if err != nil {
		t.warnx("%v", err)
		return 1
	}
	t.printf("%s\n", data)
	return code
}

// segmentStatus is lsipc's STATUS cell: "dest", "locked", "dest,locked" or
// empty.
func segmentStatus(s shm.Info) string {
	switch {
	case s.Removed && s.Locked:
		return "dest,locked"
	case s.Removed:
		return "dest"
	case s.Locked:
		return "locked"
	}
	return ""
}

// limitRows are the rows of lsipc --global for the selected families: each
// limit, and for the counted ones how much is in use. USED and USE% are
// computed as lsipc 2.41 and later do (2.38.1 miscounts SEMMNS).
func limitRows(wantMsg, wantShm, wantSem bool) ([]jsonLimit, error) {
	l, err := ipc.ReadLimits()
	if err != nil {
		return nil, err
	}
	rows := []jsonLimit{}
	add := func(res, desc string, limit uint64, used *uint64) {
		r := jsonLimit{Resource: res, Description: desc, Limit: limit, Used: used}
		if used != nil {
			p := float64(*used) / float64(limit) * 100
			r.UsePercent = &p
		}
		rows = append(rows, r)
	}
	count := func(n uint64) *uint64 { return &n }
	if wantMsg {
		qs, err := msgq.List()
		if err != nil {
			return nil, err
		}
		add("MSGMNI", "Number of message queues", l.MSGMNI, count(uint64(len(qs))))
		add("MSGMAX", "Max size of message (bytes)", l.MSGMAX, nil)
		add("MSGMNB", "Default max size of queue (bytes)", l.MSGMNB, nil)
	}
	if wantShm {
		segs, err := shm.List()
		if err != nil {
			return nil, err
		}
		var bytes uint64
		for _, s := range segs {
			bytes += uint64(s.Size)
		}
		add("SHMMNI", "Shared memory segments", l.SHMMNI, count(uint64(len(segs))))
		add("SHMALL", "Shared memory pages", l.SHMALL, count(bytes/uint64(l.PageSize)))
		add("SHMMAX", "Max size of shared memory segment (bytes)", l.SHMMAX, nil)
		add("SHMMIN", "Min size of shared memory segment (bytes)", l.SHMMIN, nil)
	}
	if wantSem {
		sets, err := sem.List()
		if err != nil {
			return nil, err
		}
		var n uint64
		for _, s := range sets {
			n += uint64(s.NSems)
		}
		add("SEMMNI", "Number of semaphore identifiers", uint64(l.SEMMNI), count(uint64(len(sets))))
		add("SEMMNS", "Total number of semaphores", uint64(l.SEMMNS), count(n))
		add("SEMMSL", "Max semaphores per semaphore set.", uint64(l.SEMMSL), nil)
		add("SEMOPM", "Max number of operations per semop(2)", uint64(l.SEMOPM), nil)
		add("SEMVMX", "Semaphore max value", uint64(l.SEMVMX), nil)
	}
	return rows, nil
}
