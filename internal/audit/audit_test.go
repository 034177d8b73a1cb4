package audit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
)

func chain(n int) []audit.Record {
	var recs []audit.Record
	prevSeq, prevHash := int64(0), audit.GenesisHash
	for i := range n {
		r := audit.Seal(audit.New(context.Background(), time.Unix(int64(i), 0), audit.ActionLogin, "usr_x", audit.Success, "d"), prevSeq, prevHash)
		recs = append(recs, r)
		prevSeq, prevHash = r.Seq, r.Hash
	}
	return recs
}

func verify(recs []audit.Record, head audit.Head) error {
	v := audit.NewVerifier()
	for _, r := range recs {
		if err := v.Next(r); err != nil {
			return err
		}
	}
	_, err := v.Finish(head)
	return err
}

func TestVerifier(t *testing.T) {
	recs := chain(5)
	head := audit.Head{Seq: 5, Hash: recs[4].Hash}
	if err := verify(recs, head); err != nil {
		t.Fatalf("intact chain: %v", err)
	}
	if err := verify(nil, audit.Head{Seq: 0, Hash: audit.GenesisHash}); err != nil {
		t.Fatalf("empty chain: %v", err)
	}
	tests := []struct {
		name    string
		mutate  func([]audit.Record) ([]audit.Record, audit.Head)
		wantSeq int64
	}{
		{"changed detail", func(r []audit.Record) ([]audit.Record, audit.Head) { r[2].Detail = "x"; return r, head }, 3},
		{"changed time", func(r []audit.Record) ([]audit.Record, audit.Head) {
			r[1].Time = r[1].Time.Add(time.Second)
			return r, head
		}, 2},
		{"rehashed after change", func(r []audit.Record) ([]audit.Record, audit.Head) {
			r[1].Outcome = audit.Failure
			r[1].Hash = audit.ComputeHash(r[1])
			return r, head
		}, 3},
		{"deleted", func(r []audit.Record) ([]audit.Record, audit.Head) { return append(r[:1:1], r[2:]...), head }, 3},
		{"truncated", func(r []audit.Record) ([]audit.Record, audit.Head) { return r[:4], head }, 5},
		{"appended behind the head", func(r []audit.Record) ([]audit.Record, audit.Head) {
			return chain(6), head
		}, 6},
		{"last record replaced", func(r []audit.Record) ([]audit.Record, audit.Head) {
			last := chain(5)[4]
			last.Detail = "other"
			last.Hash = audit.ComputeHash(last)
			return append(r[:4], last), head
		}, 5},
		{"swapped", func(r []audit.Record) ([]audit.Record, audit.Head) { r[1], r[2] = r[2], r[1]; return r, head }, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, h := tt.mutate(chain(5))
			err := verify(recs, h)
			var be *audit.BrokenError
			if !errors.As(err, &be) || be.Seq != tt.wantSeq {
				t.Fatalf("err = %v, want a break at %d", err, tt.wantSeq)
			}
		})
	}
}
