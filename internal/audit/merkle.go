package audit

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// The trail is also a Merkle tree (RFC 6962, SHA-256), so that a signed
// checkpoint of its size and root commits to every record up to it: a
// record changed, deleted, inserted or reordered, a tail cut off or the
// whole trail rebuilt with fresh hashes no longer gives the signed root.
// Record seq is leaf seq-1, and the leaf's data is the record's hash (the
// SHA-256 of its canonical form, prev_hash included).
//
// The tree is built off the request path: an integrator appends the records
// committed since it last ran and stores the hash of every perfect subtree
// (the nodes an inclusion or consistency proof is made of), and only then
// is the new size signed.

var hasher = rfc6962.DefaultHasher

// LeafHash is r's leaf hash in the tree: RFC 6962's hash of the leaf
// data, which is r's hash as 32 bytes.
func LeafHash(r Record) ([]byte, error) {
	b, err := hex.DecodeString(r.Hash)
	if err != nil || len(b) != 32 {
		return nil, &BrokenError{Seq: r.Seq, Reason: "its hash is not a SHA-256 in hex"}
	}
	return hasher.HashLeaf(b), nil
}

// Tree is how far the trail has been integrated into the Merkle tree: its
// size (the records in it), its root and the hash of its last record,
// which the next record must link to.
type Tree struct {
	Size     uint64
	Root     []byte
	LastHash string
}

// EmptyTree is the tree before any record is integrated.
func EmptyTree() Tree { return Tree{Root: hasher.EmptyRoot(), LastHash: GenesisHash} }

// Node is a stored node of the tree: the root of a perfect subtree.
type Node struct {
	ID   compact.NodeID
	Hash []byte
}

// NodeID names a node of the tree: its level (0: the leaves) and index.
type NodeID = compact.NodeID

// NodeReader reads stored nodes by id; a node that is not stored is an error.
type NodeReader func(ctx context.Context, ids []NodeID) ([][]byte, error)

// Integration is what integrating a batch of records gives: the tree after
// it and the nodes to store.
type Integration struct {
	Tree  Tree
	Nodes []Node
}

var rangeFactory = compact.RangeFactory{Hash: hasher.HashChildren}

// Integrate appends recs, which must follow t in sequence and in the
// chain, to the tree t. A record that does not (changed, missing, out of
// order) is a *BrokenError: nothing of the batch is integrated, and the
// trail needs an operator's look (audit verify) before it grows further.
func Integrate(ctx context.Context, t Tree, read NodeReader, recs []Record) (Integration, error) {
	r, err := rangeOf(ctx, t.Size, read)
	if err != nil {
		return Integration{}, err
	}
	v := &Verifier{prevSeq: int64(t.Size), prevHash: t.LastHash}
	var out Integration
	visit := func(id compact.NodeID, h []byte) { out.Nodes = append(out.Nodes, Node{ID: id, Hash: h}) }
	for _, rec := range recs {
		if err := v.Next(rec); err != nil {
			return Integration{}, err
		}
		leaf, err := LeafHash(rec)
		if err != nil {
			return Integration{}, err
		}
		if err := r.Append(leaf, visit); err != nil {
			return Integration{}, fmt.Errorf("append audit record %d to the tree: %w", rec.Seq, err)
		}
	}
	root, err := rootOf(r)
	if err != nil {
		return Integration{}, err
	}
	out.Tree = Tree{Size: r.End(), Root: root, LastHash: v.prevHash}
	return out, nil
}

// rangeOf is the compact range [0, size) from the stored nodes.
func rangeOf(ctx context.Context, size uint64, read NodeReader) (*compact.Range, error) {
	if size == 0 {
		return rangeFactory.NewEmptyRange(0), nil
	}
	hashes, err := read(ctx, compact.RangeNodes(0, size, nil))
	if err != nil {
		return nil, fmt.Errorf("read the audit tree's edge: %w", err)
	}
	return rangeFactory.NewRange(0, size, hashes)
}

// RootAt is the root of the tree of the given size, from the stored nodes.
func RootAt(ctx context.Context, size uint64, read NodeReader) ([]byte, error) {
	r, err := rangeOf(ctx, size, read)
	if err != nil {
		return nil, err
	}
	return rootOf(r)
}

// rootOf is the root of the tree that r (from 0) spans; the empty tree's
// root is RFC 6962's hash of nothing.
func rootOf(r *compact.Range) ([]byte, error) {
	if r.End() == 0 {
		return hasher.EmptyRoot(), nil
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return nil, fmt.Errorf("audit tree root: %w", err)
	}
	return root, nil
}

// ErrOutOfRange is a proof asked of a record or size the tree does not hold.
var ErrOutOfRange = errors.New("outside the integrated audit tree")

// InclusionProof proves that the record with sequence seq is in the tree of
// the given size (integrated, as size records at least are).
func InclusionProof(ctx context.Context, seq int64, size uint64, read NodeReader) ([][]byte, error) {
	if seq < 1 || uint64(seq) > size {
		return nil, fmt.Errorf("record %d in a tree of %d: %w", seq, size, ErrOutOfRange)
	}
	n, err := proof.Inclusion(uint64(seq-1), size)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof of %d: %w", seq, err)
	}
	return rehash(ctx, n, read)
}

// ConsistencyProof proves that the tree of size from is a prefix of the
// tree of size to.
func ConsistencyProof(ctx context.Context, from, to uint64, read NodeReader) ([][]byte, error) {
	if from > to {
		return nil, fmt.Errorf("consistency from %d to %d: %w", from, to, ErrOutOfRange)
	}
	n, err := proof.Consistency(from, to)
	if err != nil {
		return nil, fmt.Errorf("consistency proof %d to %d: %w", from, to, err)
	}
	return rehash(ctx, n, read)
}

func rehash(ctx context.Context, n proof.Nodes, read NodeReader) ([][]byte, error) {
	if len(n.IDs) == 0 {
		return [][]byte{}, nil
	}
	hashes, err := read(ctx, n.IDs)
	if err != nil {
		return nil, fmt.Errorf("read the proof's nodes: %w", err)
	}
	return n.Rehash(hashes, hasher.HashChildren)
}

// VerifyInclusion checks an inclusion proof of r in a tree of size with root.
func VerifyInclusion(r Record, size uint64, p [][]byte, root []byte) error {
	if ComputeHash(r) != r.Hash {
		return &BrokenError{Seq: r.Seq, Reason: "content does not match its hash: the record was changed"}
	}
	leaf, err := LeafHash(r)
	if err != nil {
		return err
	}
	return proof.VerifyInclusion(hasher, uint64(r.Seq-1), size, leaf, p, root)
}

// VerifyConsistency checks that the tree of size1 with root1 is a prefix of
// the tree of size2 with root2.
func VerifyConsistency(size1, size2 uint64, p [][]byte, root1, root2 []byte) error {
	return proof.VerifyConsistency(hasher, size1, size2, p, root1, root2)
}
