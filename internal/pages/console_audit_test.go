package pages

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
)

// testLog is a sealed audit trail of n records integrated into its Merkle
// tree by the audit package, with the nodes kept in memory.
type testLog struct {
	recs  []audit.Record
	nodes map[audit.NodeID][]byte
	tree  audit.Tree
}

func newTestLog(t *testing.T, n int) *testLog {
	t.Helper()
	l := &testLog{nodes: map[audit.NodeID][]byte{}}
	prevSeq, prevHash := int64(0), audit.GenesisHash
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i := range n {
		r := audit.Seal(audit.Record{Time: at.Add(time.Duration(i) * time.Second), Actor: "usr_test", Action: "product.create",
			Target: fmt.Sprintf("prd_%d", i), Outcome: "success", IP: "192.0.2.1", RequestID: fmt.Sprintf("req_%d", i), Detail: "made"}, prevSeq, prevHash)
		l.recs = append(l.recs, r)
		prevSeq, prevHash = r.Seq, r.Hash
	}
	in, err := audit.Integrate(context.Background(), audit.EmptyTree(), l.read, l.recs)
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range in.Nodes {
		l.nodes[nd.ID] = nd.Hash
	}
	l.tree = in.Tree
	return l
}

func (l *testLog) read(_ context.Context, ids []audit.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, ok := l.nodes[id]
		if !ok {
			return nil, fmt.Errorf("no node %v", id)
		}
		out[i] = h
	}
	return out, nil
}

// listed is the records as the API lists them.
func (l *testLog) listed(seqs ...int64) []secAuditRecord {
	var out []secAuditRecord
	for _, s := range seqs {
		r := l.recs[s-1]
		out = append(out, secAuditRecord{Seq: r.Seq, Time: r.Time.UTC().Format("2006-01-02T15:04:05.000000Z"), Actor: r.Actor,
			Action: r.Action, Target: r.Target, Outcome: r.Outcome, IP: r.IP, RequestID: r.RequestID, Detail: r.Detail,
			PrevHash: r.PrevHash, Hash: r.Hash})
	}
	return out
}

// proofs answers inclusion proofs in the tree of size as the API does,
// counting them; the record given back is the one listed (stored), unless
// swap changes it.
func (l *testLog) proofs(t *testing.T, size uint64, asked *[]int64, stored func(seq int64) secAuditRecord) func(int64) (secAuditRecord, [][]byte, bool) {
	return func(seq int64) (secAuditRecord, [][]byte, bool) {
		*asked = append(*asked, seq)
		p, err := audit.InclusionProof(context.Background(), seq, size, l.read)
		if err != nil {
			t.Fatal(err)
		}
		return stored(seq), p, true
	}
}

func seqs(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func TestVerifyRecords(t *testing.T) {
	l := newTestLog(t, 20)
	cp := audit.Checkpoint{Size: l.tree.Size, Root: l.tree.Root}
	stored := func(recs []secAuditRecord) func(int64) secAuditRecord {
		return func(seq int64) secAuditRecord {
			for _, r := range recs {
				if r.Seq == seq {
					return r
				}
			}
			return l.listed(seq)[0]
		}
	}

	t.Run("consecutive records verify with one proof, the last one's", func(t *testing.T) {
		recs := l.listed(seqs(3, 12)...)
		var asked []int64
		v := verifyRecords(recs, cp, l.proofs(t, cp.Size, &asked, stored(recs)))
		if v.State != auditVerified || v.Checked != 10 || v.Newer != 0 || v.Size != 20 || fmt.Sprint(asked) != "[12]" {
			t.Fatalf("verdict %+v, proofs asked %v", v, asked)
		}
	})

	t.Run("filtered records are proved one by one", func(t *testing.T) {
		recs := l.listed(2, 5, 6, 9)
		var asked []int64
		v := verifyRecords(recs, cp, l.proofs(t, cp.Size, &asked, stored(recs)))
		if v.State != auditVerified || fmt.Sprint(asked) != "[2 6 9]" {
			t.Fatalf("verdict %+v, proofs asked %v", v, asked)
		}
	})

	t.Run("records newer than the checkpoint are counted, not claimed", func(t *testing.T) {
		small := audit.Checkpoint{Size: 8}
		root, err := audit.RootAt(context.Background(), 8, l.read)
		if err != nil {
			t.Fatal(err)
		}
		small.Root = root
		recs := l.listed(seqs(5, 14)...)
		var asked []int64
		v := verifyRecords(recs, small, l.proofs(t, 8, &asked, stored(recs)))
		if v.State != auditVerified || v.Checked != 4 || v.Newer != 6 || fmt.Sprint(asked) != "[8]" {
			t.Fatalf("verdict %+v, proofs asked %v", v, asked)
		}
		v = verifyRecords(l.listed(15, 16), small, l.proofs(t, 8, &asked, stored(nil)))
		if v.State != auditNotCovered || v.Checked != 0 {
			t.Fatalf("only newer records: %+v", v)
		}
	})

	broken := []struct {
		name   string
		recs   func() []secAuditRecord
		cp     audit.Checkpoint
		reason string
	}{
		{name: "a record changed in place", reason: "record 4 does not match its hash", cp: cp, recs: func() []secAuditRecord {
			r := l.listed(seqs(1, 10)...)
			r[3].Detail = "nothing happened"
			return r
		}},
		{name: "a record changed and its hash recomputed", reason: "record 5 does not follow record 4", cp: cp, recs: func() []secAuditRecord {
			r := l.listed(seqs(1, 10)...)
			r[3].Detail = "nothing happened"
			r[3].Hash = audit.ComputeHash(r[3].record())
			return r
		}},
		{name: "the last record of a run changed and resealed", reason: "record 10 is not in the tree", cp: cp, recs: func() []secAuditRecord {
			r := l.listed(seqs(1, 10)...)
			r[9].Detail = "nothing happened"
			r[9].Hash = audit.ComputeHash(r[9].record())
			return r
		}},
		{name: "the whole trail rebuilt with fresh hashes", reason: "is not in the tree", cp: cp, recs: func() []secAuditRecord {
			r := l.listed(seqs(1, 6)...)
			prevSeq, prevHash := int64(0), audit.GenesisHash
			for i := range r {
				r[i].Detail = "rewritten"
				s := audit.Seal(r[i].record(), prevSeq, prevHash)
				r[i].PrevHash, r[i].Hash = s.PrevHash, s.Hash
				prevSeq, prevHash = s.Seq, s.Hash
			}
			return r
		}},
		{name: "a checkpoint whose root is not the tree's", reason: "is not in the tree", cp: audit.Checkpoint{Size: 20, Root: make([]byte, 32)},
			recs: func() []secAuditRecord { return l.listed(seqs(1, 3)...) }},
	}
	for _, tc := range broken {
		t.Run(tc.name+" does not verify", func(t *testing.T) {
			recs := tc.recs()
			var asked []int64
			v := verifyRecords(recs, tc.cp, l.proofs(t, tc.cp.Size, &asked, stored(recs)))
			if v.State != auditBroken || !strings.Contains(v.Reason, tc.reason) {
				t.Fatalf("verdict %+v, want broken with %q", v, tc.reason)
			}
		})
	}

	t.Run("a proof whose record differs from the listed one does not verify", func(t *testing.T) {
		recs := l.listed(seqs(1, 5)...)
		var asked []int64
		v := verifyRecords(recs, cp, l.proofs(t, cp.Size, &asked, func(seq int64) secAuditRecord {
			r := l.listed(seq)[0]
			r.Detail = "other"
			return r
		}))
		if v.State != auditBroken || !strings.Contains(v.Reason, "reads differently") {
			t.Fatalf("verdict %+v", v)
		}
	})

	t.Run("no proof given does not verify", func(t *testing.T) {
		v := verifyRecords(l.listed(1, 2), cp, func(int64) (secAuditRecord, [][]byte, bool) { return secAuditRecord{}, nil, false })
		if v.State != auditBroken || !strings.Contains(v.Reason, "no proof") {
			t.Fatalf("verdict %+v", v)
		}
	})
}

func TestBarChart(t *testing.T) {
	if c := barChart(nil, nil); !c.Empty {
		t.Fatal("no values should be an empty chart")
	}
	c := barChart([]float64{0, 2, 4}, []string{"a", "b", "c"})
	if len(c.Bars) != 3 || c.Summary != "a: 0, b: 2, c: 4" || c.Bars[0].H != 0 || c.Bars[1].H*2 != c.Bars[2].H {
		t.Fatalf("bars %+v", c)
	}
	for _, b := range c.Bars {
		if b.X < 0 || b.X+b.W > float64(c.Width) || b.Y < 0 || b.Y+b.H > float64(c.Height) {
			t.Fatalf("a bar outside the drawing: %+v", b)
		}
	}
	one := barChart([]float64{1}, []string{"paid"})
	if one.Bars[0].W > barSlotMax || one.Bars[0].TextX != float64(chartWidth)/2 {
		t.Fatalf("a single bar: %+v", one.Bars[0])
	}
	if c := lineChart([]float64{76}, []string{"now"}); len(c.Dots) != 1 {
		t.Fatalf("a one-point line chart draws no dot: %+v", c)
	}
}
