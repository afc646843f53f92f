package admin

import (
	"strconv"

	"github.com/ipctoolkit/ipc/internal/promtext"
	"github.com/ipctoolkit/ipc/ipc"
	"github.com/ipctoolkit/ipc/msgq"
	"github.com/ipctoolkit/ipc/sem"
	"github.com/ipctoolkit/ipc/shm"
)

// Metrics adds the IPC usage of the caller's namespace to set: objects by
// kind; per queue its messages, bytes, byte limit and last send and
// receive times; per segment its size,
// attachments, resident and swapped bytes; per set its semaphores and
// waiters; every limit lsipc --global shows, with its use and use ratio
// where the kernel counts one; and the orphans Judge finds with o, by kind
// and confidence. extra (name, value pairs) is added to every sample, to
// tell namespaces apart in one exposition.
func Metrics(set *promtext.Set, o Options, extra ...string) error {
	qs, err := msgq.List()
	if err != nil {
		return err
	}
	segs, err := shm.List()
	if err != nil {
		return err
	}
	sets, err := sem.List()
	if err != nil {
		return err
	}
	lim, err := ipc.ReadLimits()
	if err != nil {
		return err
	}
	with := func(l ...string) []string { return append(append([]string(nil), extra...), l...) }
	obj := func(id int, p ipc.Perm, l ...string) []string {
		return with(append([]string{"id", strconv.Itoa(id), "key", p.Key.String(), "uid", strconv.FormatUint(uint64(p.UID), 10)}, l...)...)
	}

	objects := set.Gauge("ipc_objects", "System V IPC objects in the namespace, by kind.")
	objects.Add(float64(len(qs)), with("kind", "queue")...)
	objects.Add(float64(len(segs)), with("kind", "segment")...)
	objects.Add(float64(len(sets)), with("kind", "semaphore_set")...)

	msgs := set.Gauge("ipc_queue_messages", "Messages queued, per message queue.")
	qbytes := set.Gauge("ipc_queue_bytes", "Bytes of message text queued, per message queue.")
	qmax := set.Gauge("ipc_queue_max_bytes", "The queue's byte limit (msg_qbytes), where the caller may read it.")
	lastSend := set.Gauge("ipc_queue_last_send_timestamp_seconds", "When a message was last sent to the queue (left out if never), for alerts on a stalled producer.")
	lastRecv := set.Gauge("ipc_queue_last_receive_timestamp_seconds", "When a message was last received from the queue (left out if never), for alerts on a stalled consumer.")
	for _, q := range qs {
		msgs.Add(float64(q.QNum), obj(q.ID, q.Perm)...)
		qbytes.Add(float64(q.CBytes), obj(q.ID, q.Perm)...)
		if q.QBytes != 0 {
			qmax.Add(float64(q.QBytes), obj(q.ID, q.Perm)...)
		}
		if !q.STime.IsZero() {
			lastSend.Add(float64(q.STime.Unix()), obj(q.ID, q.Perm)...)
		}
		if !q.RTime.IsZero() {
			lastRecv.Add(float64(q.RTime.Unix()), obj(q.ID, q.Perm)...)
		}
	}

	size := set.Gauge("ipc_segment_size_bytes", "Size of each shared memory segment.")
	att := set.Gauge("ipc_segment_attachments", "Current attachments (nattch) of each shared memory segment.")
	rss := set.Gauge("ipc_segment_resident_bytes", "Resident bytes of each shared memory segment.")
	swap := set.Gauge("ipc_segment_swapped_bytes", "Swapped-out bytes of each shared memory segment.")
	var segBytes uint64
	for _, s := range segs {
		size.Add(float64(s.Size), obj(s.ID, s.Perm)...)
		att.Add(float64(s.NAttch), obj(s.ID, s.Perm)...)
		rss.Add(float64(s.RSS), obj(s.ID, s.Perm)...)
		swap.Add(float64(s.Swap), obj(s.ID, s.Perm)...)
		segBytes += uint64(s.Size)
	}

	nsems := set.Gauge("ipc_semaphore_set_semaphores", "Semaphores in each semaphore set.")
	waiters := set.Gauge("ipc_semaphore_waiters", "Processes waiting on each semaphore set, for an increase (semncnt) or for zero (semzcnt); sets the caller may not read are left out.")
	var semTotal uint64
	for _, s := range sets {
		nsems.Add(float64(s.NSems), obj(s.ID, s.Perm)...)
		semTotal += uint64(s.NSems)
		vals, err := s.States()
		if err != nil {
			continue
		}
		var n, z int
		for _, v := range vals {
			n += v.NCount
			z += v.ZCount
		}
		waiters.Add(float64(n), obj(s.ID, s.Perm, "for", "increase")...)
		waiters.Add(float64(z), obj(s.ID, s.Perm, "for", "zero")...)
	}

	limit := set.Gauge("ipc_limit", "Kernel System V IPC limits, as lsipc --global shows them.")
	used := set.Gauge("ipc_limit_used", "How much of each counted limit is in use, as lsipc --global counts it.")
	ratio := set.Gauge("ipc_limit_use_ratio", "ipc_limit_used / ipc_limit.")
	add := func(res string, l uint64, u *uint64) {
		limit.Add(float64(l), with("resource", res)...)
		if u != nil {
			used.Add(float64(*u), with("resource", res)...)
			if l != 0 {
				ratio.Add(float64(*u)/float64(l), with("resource", res)...)
			}
		}
	}
	n := func(v uint64) *uint64 { return &v }
	add("MSGMNI", lim.MSGMNI, n(uint64(len(qs))))
	add("MSGMAX", lim.MSGMAX, nil)
	add("MSGMNB", lim.MSGMNB, nil)
	add("SHMMNI", lim.SHMMNI, n(uint64(len(segs))))
	add("SHMALL", lim.SHMALL, n(segBytes/uint64(lim.PageSize)))
	add("SHMMAX", lim.SHMMAX, nil)
	add("SHMMIN", lim.SHMMIN, nil)
	add("SEMMNI", uint64(lim.SEMMNI), n(uint64(len(sets))))
	add("SEMMNS", uint64(lim.SEMMNS), n(semTotal))
	add("SEMMSL", uint64(lim.SEMMSL), nil)
	add("SEMOPM", uint64(lim.SEMOPM), nil)
	add("SEMVMX", uint64(lim.SEMVMX), nil)

	vs, err := Judge(o)
	if err != nil {
		return err
	}
	type kc struct {
		k ipc.Kind
		c Confidence
	}
	count := map[kc]int{}
	for _, v := range vs {
		if v.Orphaned {
			count[kc{v.Kind, v.Confidence}]++
		}
	}
	orph := set.Gauge("ipc_orphans", "Objects judged orphaned (nothing uses them, every recorded process is gone), by kind and by how sure the verdict is.")
	for _, k := range []ipc.Kind{ipc.Queue, ipc.Segment, ipc.Semaphore} {
		for _, c := range []Confidence{Certain, Likely, Unsure} {
			orph.Add(float64(count[kc{k, c}]), with("kind", KindName(k), "confidence", string(c))...)
		}
	}
	return nil
}

// KindName is the kind's name in metrics and JSON: "queue", "segment",
// "semaphore_set".
func KindName(k ipc.Kind) string {
	switch k {
	case ipc.Queue:
		return "queue"
	case ipc.Segment:
		return "segment"
	case ipc.Semaphore:
		return "semaphore_set"
	}
	return "object"
}
