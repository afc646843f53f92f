package admincmd

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ipctoolkit/ipc/internal/admin"
	"github.com/ipctoolkit/ipc/ipc"
)

// ipc ls --orphaned and ipc rm --orphaned.

// jsonVerdict is one object of ls --orphaned --json.
type jsonVerdict struct {
	Kind        string           `json:"kind"`
	ID          int              `json:"id"`
	Key         uint32           `json:"key"`
	KeyHex      string           `json:"keyhex"`
	Owner       string           `json:"owner"`
	UID         uint32           `json:"uid"`
	CUID        uint32           `json:"cuid"`
	Orphaned    bool             `json:"orphaned"`
	Confidence  string           `json:"confidence"`
	Reasons     []string         `json:"reasons"`
	CTime       *string          `json:"ctime"`
	LastUsed    *string          `json:"last_used"`
	IdleSeconds int64            `json:"idle_seconds"`
	Bytes       uint64           `json:"bytes"`
	Messages    uint64           `json:"messages"`
	Nsems       int              `json:"nsems"`
	PIDs        []admin.PIDCheck `json:"pids"`
	Namespace   *nsInfo          `json:"namespace,omitempty"`
}

func (t *adminTool) verdictJSON(v admin.Verdict, ns *nsInfo) jsonVerdict {
	j := jsonVerdict{
		Kind: admin.KindName(v.Kind), ID: v.ID, Key: uint32(v.Perm.Key), KeyHex: v.Perm.Key.String(),
		Owner: t.ownerName(v.Perm.UID), UID: v.Perm.UID, CUID: v.Perm.CUID,
		Orphaned: v.Orphaned, Confidence: string(v.Confidence), Reasons: v.Reasons,
		CTime: timeJSON(v.CTime), LastUsed: timeJSON(v.LastUsed), IdleSeconds: int64(v.Idle / time.Second),
		Bytes: v.Bytes, Messages: v.Messages, Nsems: v.Nsems, PIDs: v.PIDs, Namespace: ns,
	}
	if j.PIDs == nil {
		j.PIDs = []admin.PIDCheck{}
	}
	return j
}

// lsOrphans prints the orphans (all verdicts with --explain) of the
// caller's namespace; ns, when not nil, labels them (--all-namespaces).
func lsOrphans(t *adminTool, o *adminOpts, ns *nsInfo) error {
	vs, err := t.verdicts(o)
	if err != nil {
		return err
	}
	if ns == nil {
		ns = enteredNamespace()
	}
	if o.json {
		list := []jsonVerdict{}
		for _, v := range vs {
			list = append(list, t.verdictJSON(v, ns))
		}
		return t.printJSON(map[string]any{"verdicts": list})
	}
	printVerdicts(t, vs, o.explain)
	return nil
}

func (t *adminTool) verdicts(o *adminOpts) ([]admin.Verdict, error) {
	if o.explain {
		return admin.Judge(o.judgeOptions())
	}
	return admin.Orphans(o.judgeOptions())
}

func (t *adminTool) printJSON(doc any) error {
	data, err := json.MarshalIndent(doc, "", "   ")
	if err != nil {
		return err
	}
	t.printf("%s\n", data)
	return nil
}

func printVerdicts(t *adminTool, vs []admin.Verdict, explain bool) {
	if len(vs) == 0 {
		t.printf("no orphaned objects\n")
		return
	}
	tw := tabwriter.NewWriter(t.out, 0, 0, 2, ' ', 0)
	head := "KIND\tID\tKEY\tOWNER\tSIZE\tIDLE\tCONFIDENCE\tREASONS\n"
	if explain {
		head = "KIND\tID\tKEY\tOWNER\tSIZE\tIDLE\tVERDICT\tCONFIDENCE\tREASONS\n"
	}
	fmt.Fprint(tw, head)
	for _, v := range vs {
		size := strconv.FormatUint(v.Bytes, 10)
		switch v.Kind {
		case ipc.Queue:
			size = fmt.Sprintf("%s/%dB", admin.Plural(int(v.Messages), "msg"), v.Bytes)
		case ipc.Semaphore:
			size = admin.Plural(v.Nsems, "sem")
		}
		verdict := ""
		if explain {
			verdict = "in use\t"
			if v.Orphaned {
				verdict = "orphaned\t"
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s%s\t%s\n", admin.KindName(v.Kind), v.ID, v.Perm.Key, t.ownerName(v.Perm.UID),
			size, admin.FormatAge(v.Idle), verdict, v.Confidence, strings.Join(v.Reasons, "; "))
	}
	tw.Flush()
}

// ---- rm --orphaned ----

// rmOrphans removes the orphans of the caller's namespace (or says what it
// would remove), reporting each. It fails (exit 1) if one could not be
// removed for want of permission or by an error; an object that vanished
// or changed meanwhile is reported and skipped, not a failure.
func rmOrphans(t *adminTool, o *adminOpts) error {
	vs, err := admin.Orphans(o.judgeOptions())
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		t.printf("no orphaned objects\n")
		return nil
	}
	failed := 0
	for _, v := range vs {
		what := fmt.Sprintf("%s %d (key %s)", v.Kind, v.ID, v.Perm.Key)
		out, detail := admin.Remove(v, o.dryRun)
		switch out {
		case admin.Removed, admin.WouldRemove:
			t.printf("%s %s: %s\n", out, what, strings.Join(v.Reasons, "; "))
		case admin.NotPermitted, admin.Failed:
			failed++
			t.printf("skipped %s: %s: %s\n", what, out, detail)
		default:
			t.printf("skipped %s: %s: %s\n", what, out, detail)
		}
	}
	if failed > 0 {
		return fmt.Errorf("rm --orphaned: %d of %d orphan(s) not removed", failed, len(vs))
	}
	return nil
}
