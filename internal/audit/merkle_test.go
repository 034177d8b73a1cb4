package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/signature"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// chain returns n sealed records, as storage appends them.
func chain(n int) []Record {
	var out []Record
	prevSeq, prevHash := int64(0), GenesisHash
	for i := range n {
		r := Seal(Record{Time: time.Unix(1700000000+int64(i), 0).UTC(), Actor: "system", Action: "test.event",
			Target: fmt.Sprint("t", i), Outcome: Success}, prevSeq, prevHash)
		out = append(out, r)
		prevSeq, prevHash = r.Seq, r.Hash
	}
	return out
}

// nodeMap is the tree's stored nodes, as audit_nodes keeps them.
type nodeMap map[NodeID][]byte

func (m nodeMap) read(_ context.Context, ids []NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, ok := m[id]
		if !ok {
			return nil, fmt.Errorf("node %d/%d missing", id.Level, id.Index)
		}
		out[i] = h
	}
	return out, nil
}

// integrate integrates recs in batches of the given sizes, storing the
// nodes (each exactly once).
func integrate(t *testing.T, recs []Record, batches ...int) (Tree, nodeMap) {
	t.Helper()
	tree, nodes := EmptyTree(), nodeMap{}
	for _, b := range batches {
		in, err := Integrate(context.Background(), tree, nodes.read, recs[tree.Size:tree.Size+uint64(b)])
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range in.Nodes {
			if _, dup := nodes[n.ID]; dup {
				t.Fatalf("node %d/%d stored twice", n.ID.Level, n.ID.Index)
			}
			nodes[n.ID] = n.Hash
		}
		tree = in.Tree
	}
	return tree, nodes
}

// TestIntegrateProvesEveryRecord builds the tree in uneven batches and
// checks every inclusion proof and every consistency proof it serves with
// the library's verifier, against roots computed in one go.
func TestIntegrateProvesEveryRecord(t *testing.T) {
	const n = 37
	recs := chain(n)
	tree, nodes := integrate(t, recs, 1, 2, 5, 13, 16)
	whole, _ := integrate(t, recs, n)
	if tree.Size != n || !bytes.Equal(tree.Root, whole.Root) || tree.LastHash != recs[n-1].Hash {
		t.Fatalf("batches give size %d root %x, one go %x", tree.Size, tree.Root, whole.Root)
	}
	roots := map[uint64][]byte{0: EmptyTree().Root}
	for size := uint64(1); size <= n; size++ {
		sub, _ := integrate(t, recs[:size], int(size))
		roots[size] = sub.Root
		got, err := RootAt(context.Background(), size, nodes.read)
		if err != nil || !bytes.Equal(got, sub.Root) {
			t.Fatalf("root at %d from stored nodes: %x, %v; want %x", size, got, err, sub.Root)
		}
	}
	ctx := context.Background()
	for size := uint64(1); size <= n; size++ {
		for seq := int64(1); seq <= int64(size); seq++ {
			p, err := InclusionProof(ctx, seq, size, nodes.read)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyInclusion(recs[seq-1], size, p, roots[size]); err != nil {
				t.Fatalf("record %d in %d: %v", seq, size, err)
			}
			// The proof is of that record only.
			other := recs[(seq)%int64(n)]
			if other.Seq != seq && VerifyInclusion(Record{Seq: seq, Time: other.Time, Actor: other.Actor, Action: other.Action, Target: other.Target,
				Outcome: other.Outcome, PrevHash: other.PrevHash, Hash: other.Hash}, size, p, roots[size]) == nil {
				t.Fatalf("record %d's proof in %d verifies another record", seq, size)
			}
		}
		for from := uint64(1); from <= size; from++ {
			p, err := ConsistencyProof(ctx, from, size, nodes.read)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyConsistency(from, size, p, roots[from], roots[size]); err != nil {
				t.Fatalf("consistency %d to %d: %v", from, size, err)
			}
		}
	}
	if _, err := InclusionProof(ctx, n+1, n, nodes.read); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("proof beyond the tree: %v", err)
	}
	if _, err := InclusionProof(ctx, 0, n, nodes.read); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("proof of record 0: %v", err)
	}
}

// TestIntegrateRefusesABrokenChain: a record that does not follow the
// integrated tree (changed, missing, out of order) is never integrated.
func TestIntegrateRefusesABrokenChain(t *testing.T) {
	recs := chain(6)
	tree, nodes := integrate(t, recs, 3)
	changed := recs[3]
	changed.Detail = "rewritten"
	for name, batch := range map[string][]Record{
		"changed":   {changed, recs[4]},
		"missing":   {recs[4], recs[5]},
		"reordered": {recs[4], recs[3]},
		"replayed":  {recs[2]},
	} {
		_, err := Integrate(context.Background(), tree, nodes.read, batch)
		var broken *BrokenError
		if !errors.As(err, &broken) {
			t.Fatalf("%s: %v, want a BrokenError", name, err)
		}
	}
}

// notaryFor returns a notary with a fresh Tink Ed25519 key, as the keyring
// makes it, and the key's public half.
func notaryFor(t testing.TB, origin string) (*Notary, []byte) {
	t.Helper()
	n, pk, err := newTestNotary(origin)
	if err != nil {
		t.Fatal(err)
	}
	return n, pk
}

func newTestNotary(origin string) (*Notary, []byte, error) {
	h, err := keyset.NewHandle(signature.ED25519KeyWithoutPrefixTemplate())
	if err != nil {
		return nil, nil, err
	}
	s, err := signature.NewSigner(h)
	if err != nil {
		return nil, nil, err
	}
	pub, err := h.Public()
	if err != nil {
		return nil, nil, err
	}
	e, err := pub.Primary()
	if err != nil {
		return nil, nil, err
	}
	pk := e.Key().(interface{ KeyBytes() []byte }).KeyBytes()
	n, err := NewNotary(origin, s, pk, [][]byte{pk})
	return n, pk, err
}

// TestCheckpointsVerifyIndependently: a checkpoint is a C2SP signed note
// that the Go checksum database's note package and transparency-dev's
// checkpoint parser verify with the verifier key alone.
func TestCheckpointsVerifyIndependently(t *testing.T) {
	const origin = "bulwark.audit/db_test"
	n, _ := notaryFor(t, origin)
	tree, _ := integrate(t, chain(5), 5)
	signed, err := n.Sign(tree.Size, tree.Root)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(n.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	cp, _, _, err := log.ParseCheckpoint(signed, origin, v)
	if err != nil {
		t.Fatalf("transparency-dev's parser refuses the checkpoint: %v\n%s", err, signed)
	}
	if cp.Size != 5 || !bytes.Equal(cp.Hash, tree.Root) {
		t.Fatalf("checkpoint says %d %x", cp.Size, cp.Hash)
	}
	if got, err := n.Open(signed); err != nil || got.Size != 5 {
		t.Fatalf("the notary's own reading: %+v %v", got, err)
	}

	// Forgeries: another key with the same name, a changed size or root,
	// another log's checkpoint.
	other, _ := notaryFor(t, origin)
	forged, err := other.Sign(99, tree.Root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Open(forged); err == nil {
		t.Fatal("a checkpoint signed by another key opens")
	}
	changed := bytes.Replace(signed, []byte("\n5\n"), []byte("\n6\n"), 1)
	if _, err := n.Open(changed); err == nil {
		t.Fatal("a checkpoint with its size changed opens")
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	elsewhere, err := NewNotary("bulwark.audit/db_other", tinkless{priv}, priv.Public().(ed25519.PublicKey), [][]byte{priv.Public().(ed25519.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	theirs, _ := elsewhere.Sign(5, tree.Root)
	if _, err := n.Open(theirs); err == nil {
		t.Fatal("another log's checkpoint opens")
	}
}

// tinkless signs with a plain Ed25519 key (another log's, in tests).
type tinkless struct{ k ed25519.PrivateKey }

func (s tinkless) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.k, msg), nil }

// TestCheckpointDirectory: checkpoints are written once, read-only, and a
// directory holding a forged checkpoint or two roots for one size is
// refused.
func TestCheckpointDirectory(t *testing.T) {
	n, _ := notaryFor(t, "bulwark.audit/db_dir")
	dir := filepath.Join(t.TempDir(), "checkpoints")
	recs := chain(9)
	t4, _ := integrate(t, recs, 4)
	t9, _ := integrate(t, recs, 9)
	for _, tr := range []Tree{t9, t4} {
		signed, err := n.Sign(tr.Size, tr.Root)
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteCheckpoint(dir, tr.Size, signed); err != nil {
			t.Fatal(err)
		}
	}
	info, err := os.Stat(filepath.Join(dir, CheckpointFile(4)))
	if err != nil || info.Mode().Perm() != 0o400 {
		t.Fatalf("checkpoint file: %v %v", info, err)
	}
	// Writing a size again leaves the first file as it was.
	other, _ := integrate(t, chain(4), 4)
	other.Root = bytes.Repeat([]byte{7}, 32)
	signed, _ := n.Sign(4, other.Root)
	if err := WriteCheckpoint(dir, 4, signed); err != nil {
		t.Fatal(err)
	}
	cps, err := n.ReadCheckpoints(dir)
	if err != nil || len(cps) != 2 || cps[0].Size != 4 || cps[1].Size != 9 || !bytes.Equal(cps[0].Root, t4.Root) {
		t.Fatalf("read back: %+v %v", cps, err)
	}

	// A second file of size 4 with another root: a fork.
	if err := os.WriteFile(filepath.Join(dir, "copy-4.checkpoint"), signed, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := n.ReadCheckpoints(dir); err == nil || !strings.Contains(err.Error(), "forked") {
		t.Fatalf("a fork: %v", err)
	}
	os.Remove(filepath.Join(dir, "copy-4.checkpoint"))
	// A checkpoint signed by another key.
	forger, _ := notaryFor(t, "bulwark.audit/db_dir")
	forged, _ := forger.Sign(12, t9.Root)
	if err := os.WriteFile(filepath.Join(dir, CheckpointFile(12)), forged, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := n.ReadCheckpoints(dir); err == nil || !strings.Contains(err.Error(), "not signed by this shop's audit key") {
		t.Fatalf("a forged checkpoint: %v", err)
	}
	os.Remove(filepath.Join(dir, CheckpointFile(12)))
	// Something too big to be a checkpoint.
	if err := os.WriteFile(filepath.Join(dir, CheckpointFile(13)), bytes.Repeat([]byte("a"), MaxCheckpointFile+1), 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := n.ReadCheckpoints(dir); err == nil || !strings.Contains(err.Error(), "not a checkpoint") {
		t.Fatalf("a huge file: %v", err)
	}
}

// FuzzOpenCheckpoint: whatever a checkpoint file holds, opening it fails
// cleanly or gives a checkpoint the key signed.
func FuzzOpenCheckpoint(f *testing.F) {
	n, _ := notaryFor(f, "bulwark.audit/db_fuzz")
	tree := EmptyTree()
	signed, _ := n.Sign(0, tree.Root)
	f.Add(signed)
	f.Add([]byte("bulwark.audit/db_fuzz\n1\nAAAA\n\n— x AAAA\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cp, err := n.Open(b)
		if err == nil && (cp.Size != 0 || !bytes.Equal(cp.Root, tree.Root)) {
			t.Fatalf("a checkpoint the key never signed opens: %+v", cp)
		}
	})
}
