package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestBenchCommand(t *testing.T) {
	var doc struct {
		CPU     string `json:"cpu"`
		Results []struct {
			Mechanism, Pattern string
			Size, Rounds       int
			NsPerOp            float64 `json:"ns_per_op"`
			OpsPerSec          float64 `json:"ops_per_sec"`
			MBPerSec           float64 `json:"mb_per_sec"`
		} `json:"results"`
	}
	out := ipcOK(t, "bench", "msgq", "--rounds", "100", "--cpu", "cross", "--json")
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if doc.CPU != "cross" || len(doc.Results) != 4 {
		t.Fatalf("%s", out)
	}
	for _, r := range doc.Results {
		if r.Mechanism != "msgq" || r.Rounds != 100 || r.NsPerOp <= 0 || r.MBPerSec <= 0 {
			t.Fatalf("result %+v", r)
		}
	}
	table := ipcOK(t, "bench", "sem", "--rounds", "100")
	if !strings.HasPrefix(table, "cpu placement: same") || !strings.Contains(table, "sem-combined") {
		t.Fatalf("table:\n%s", table)
	}
	for _, args := range [][]string{
		{"bench", "carrier-pigeon"}, {"bench", "--cpu", "moon"}, {"bench", "--rounds", "0"}, {"bench", "--size", "x"}, {"bench", "sem", "msgq"},
	} {
		if _, errs, code := ipcRun(t, nil, args...); code != 2 || !strings.HasPrefix(errs, "ipc: bench") {
			t.Errorf("ipc %v: exit %d %q", args, code, errs)
		}
	}
	noObjects(t)
}
