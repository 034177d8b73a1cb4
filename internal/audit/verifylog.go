package audit

import (
	"bytes"
	"context"
	"fmt"
	"time"
)

// LogReport is what VerifyLog checked.
type LogReport struct {
	// Records is how many records the chain holds, all verified.
	Records int64
	// Checkpoints is how many signed checkpoints the records were checked
	// against; Latest is the largest of them (zero without any).
	Checkpoints int
	Latest      Checkpoint
	// Integrated is the size of the stored tree, whose root was checked
	// against the records too.
	Integrated uint64
}

// VerifyLog checks the whole trail against signed checkpoints (from
// ReadCheckpoints, in order of size) and the stored tree:
//   - the chain, as Verify does (a record changed, deleted, inserted or
//     reordered without rebuilding the hashes after it);
//   - each checkpoint's root against the root of the records up to its
//     size (the chain rebuilt with fresh hashes, a record changed,
//     deleted or inserted before the checkpoint);
//   - no checkpoint beyond the last record (a tail cut off, the head
//     rewritten to match);
//   - consistency between each checkpoint and the next, and from the last
//     to the stored tree, proven with the stored nodes and checked against
//     the signed roots (the nodes proofs are made of were not changed);
//   - the stored tree's root and every stored node against the records
//     (the nodes inclusion proofs are made of).
//
// Every break is a *BrokenError naming the first record it concerns.
func VerifyLog(ctx context.Context, s Store, cps []Checkpoint, tree Tree, read NodeReader) (LogReport, error) {
	rep := LogReport{Checkpoints: len(cps), Integrated: tree.Size}
	if len(cps) > 0 {
		rep.Latest = cps[len(cps)-1]
	}
	v := NewVerifier()
	r := rangeFactory.NewEmptyRange(0)
	next := 0 // the next checkpoint to compare
	var matched uint64
	var treeRoot []byte
	check := func() error {
		size := r.End()
		for next < len(cps) && cps[next].Size == size {
			root, err := rootOf(r)
			if err != nil {
				return err
			}
			if !bytes.Equal(root, cps[next].Root) {
				return &BrokenError{Seq: int64(matched) + 1, Reason: fmt.Sprintf(
					"records %d to %d are not those the checkpoint of %d records%s commits to: they were changed, deleted, inserted or rebuilt with fresh hashes",
					matched+1, size, size, signedAt(cps[next].At))}
			}
			matched = size
			next++
		}
		if size == tree.Size {
			root, err := rootOf(r)
			if err != nil {
				return err
			}
			treeRoot = root
		}
		return nil
	}
	if err := check(); err != nil { // checkpoints of the empty log
		return rep, err
	}
	// The stored nodes are compared with the recomputed ones a batch at a
	// time, so that memory stays bounded however long the trail.
	var pending []Node
	compare := func() error {
		if len(pending) == 0 {
			return nil
		}
		ids := make([]NodeID, len(pending))
		for i, n := range pending {
			ids[i] = n.ID
		}
		stored, err := read(ctx, ids)
		if err != nil {
			return &BrokenError{Seq: int64(pending[0].ID.Index<<pending[0].ID.Level) + 1, Reason: fmt.Sprintf("the stored tree: %v", err)}
		}
		for i, n := range pending {
			if !bytes.Equal(stored[i], n.Hash) {
				begin, end := n.ID.Coverage()
				return &BrokenError{Seq: int64(begin) + 1, Reason: fmt.Sprintf(
					"the stored tree's node over records %d to %d is not their hash: the tree was rewritten (its proofs would not verify)", begin+1, end)}
			}
		}
		pending = pending[:0]
		return nil
	}
	visit := func(id NodeID, h []byte) {
		if _, end := id.Coverage(); end <= tree.Size {
			pending = append(pending, Node{ID: id, Hash: h})
		}
	}
	head, err := s.ScanAudit(ctx, func(rec Record) error {
		if err := v.Next(rec); err != nil {
			return err
		}
		leaf, err := LeafHash(rec)
		if err != nil {
			return err
		}
		if err := r.Append(leaf, visit); err != nil {
			return fmt.Errorf("audit tree: %w", err)
		}
		if len(pending) >= compareBatch {
			if err := compare(); err != nil {
				return err
			}
		}
		return check()
	})
	rep.Records = v.count
	if err == nil {
		err = compare()
	}
	if err != nil {
		return rep, err
	}
	if _, err := v.Finish(head); err != nil {
		return rep, err
	}
	if next < len(cps) {
		cp := cps[next]
		return rep, &BrokenError{Seq: v.prevSeq + 1, Reason: fmt.Sprintf(
			"the trail ends at record %d but the checkpoint of %d records%s commits to more: records were deleted from the end",
			v.prevSeq, cp.Size, signedAt(cp.At))}
	}
	if tree.Size > uint64(v.prevSeq) {
		return rep, &BrokenError{Seq: v.prevSeq + 1, Reason: fmt.Sprintf("the stored tree holds %d records but the trail only %d: records were deleted", tree.Size, v.prevSeq)}
	}
	if !bytes.Equal(treeRoot, tree.Root) {
		return rep, &BrokenError{Seq: 1, Reason: fmt.Sprintf("the stored tree's root at %d records is not the records' root: the tree was rewritten", tree.Size)}
	}
	// Consistency, proven with the stored nodes: each checkpoint's tree is
	// a prefix of the next one's, and the last one's of the stored tree.
	sizes := make([]Checkpoint, 0, len(cps)+1)
	sizes = append(sizes, cps...)
	sizes = append(sizes, Checkpoint{Size: tree.Size, Root: tree.Root})
	for i := 1; i < len(sizes); i++ {
		a, b := sizes[i-1], sizes[i]
		if a.Size == 0 || a.Size == b.Size {
			continue
		}
		p, err := ConsistencyProof(ctx, a.Size, b.Size, read)
		if err == nil {
			err = VerifyConsistency(a.Size, b.Size, p, a.Root, b.Root)
		}
		if err != nil {
			return rep, &BrokenError{Seq: int64(a.Size) + 1, Reason: fmt.Sprintf("the stored tree does not prove that %d records extend the checkpoint of %d: %v", b.Size, a.Size, err)}
		}
	}
	return rep, nil
}

// compareBatch is how many recomputed nodes are compared with the stored
// ones at a time.
const compareBatch = 1024

func signedAt(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " signed " + t.UTC().Format(time.RFC3339)
}
