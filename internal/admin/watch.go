package admin

import (
	"time"

	"github.com/ipctoolkit/ipc/msgq"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/ipctoolkit/ipc/shm"
)

// Snapshot is the state of a namespace's queues at one moment, with the
// number of segments and sets, for a watching view.
type Snapshot struct {
	At       time.Time
	Queues   []msgq.Info
	Segments int
	Sets     int
}

// TakeSnapshot lists the caller's namespace now.
func TakeSnapshot() (Snapshot, error) {
	s := Snapshot{At: time.Now()}
	var err error
	if s.Queues, err = msgq.List(); err != nil {
		return s, err
	}
	segs, err := shm.List()
	if err != nil {
		return s, err
	}
	sets, err := sem.List()
	if err != nil {
		return s, err
	}
	s.Segments, s.Sets = len(segs), len(sets)
	return s, nil
}

// QueueRate is how a queue changed between two snapshots, in messages per
// second.
//
// The kernel counts no messages in or out, only what is queued and when
// the last send and receive happened (to the second). So the net change is
// exact, and so is each direction when the other provably did not happen
// in the interval (its time did not move and is older than the interval's
// start); otherwise In and Out are lower bounds (InExact, OutExact false).
type QueueRate struct {
	Queue msgq.Info
	// New: the queue was not in the previous snapshot (or its id now names
	// another queue); the rates are then zero.
	New               bool
	Net, NetBytes     float64
	In, Out           float64
	InExact, OutExact bool
}

// Rates compares cur with prev, queue by queue in cur's order.
func Rates(prev, cur Snapshot) []QueueRate {
	dt := cur.At.Sub(prev.At).Seconds()
	old := map[int]msgq.Info{}
	for _, q := range prev.Queues {
		old[q.ID] = q
	}
	out := make([]QueueRate, 0, len(cur.Queues))
	for _, q := range cur.Queues {
		r := QueueRate{Queue: q}
		p, ok := old[q.ID]
		if !ok || p.Perm.Key != q.Perm.Key || !p.CTime.Equal(q.CTime) || dt <= 0 {
			r.New = true
			out = append(out, r)
			continue
		}
		d := float64(int64(q.QNum) - int64(p.QNum))
		r.Net = d / dt
		r.NetBytes = float64(int64(q.CBytes)-int64(p.CBytes)) / dt
		start := prev.At.Truncate(time.Second)
		sent := !q.STime.Equal(p.STime) || !q.STime.Before(start)
		received := !q.RTime.Equal(p.RTime) || !q.RTime.Before(start)
		switch {
		case !sent:
			r.In, r.InExact = 0, true
			r.Out, r.OutExact = max(-r.Net, 0), true
		case !received:
			r.Out, r.OutExact = 0, true
			r.In, r.InExact = max(r.Net, 0), true
		default:
			r.In, r.Out = max(r.Net, 0), max(-r.Net, 0)
		}
		out = append(out, r)
	}
	return out
}
