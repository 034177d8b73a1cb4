package audit

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// A checkpoint is the tree's size and root in the C2SP tlog-checkpoint
// format, signed as a C2SP signed note with Ed25519: any tool that reads
// transparency-log checkpoints (and the Go checksum database's notes)
// verifies it with the log's verifier key alone.

// Checkpoint is a signed checkpoint as read back and verified.
type Checkpoint struct {
	Size uint64
	Root []byte
	// Note is the signed note, as written.
	Note []byte
	// At is when it was signed, where known (the file's time).
	At time.Time
}

// Origin is the name of a shop's audit log in its checkpoints and the
// signer's name in their signatures: one per shop database.
func Origin(databaseID string) string { return "bulwark.audit/" + databaseID }

// Notary signs checkpoints for one log and verifies what it signed.
type Notary struct {
	origin    string
	signer    note.Signer
	verifiers []note.Verifier
	vkey      string
}

// NewNotary returns a notary for the log origin signing with s, whose
// public key is pub, and accepting signatures of any key in all (pub
// included: keys an earlier start signed with).
func NewNotary(origin string, s tink.Signer, pub []byte, all [][]byte) (*Notary, error) {
	n := &Notary{origin: origin}
	var err error
	if n.vkey, err = note.NewEd25519VerifierKey(origin, ed25519.PublicKey(pub)); err != nil {
		return nil, fmt.Errorf("audit checkpoint key: %w", err)
	}
	v, err := note.NewVerifier(n.vkey)
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint key: %w", err)
	}
	n.signer = tinkNoteSigner{name: origin, hash: v.KeyHash(), s: s}
	for _, k := range all {
		vk, err := note.NewEd25519VerifierKey(origin, ed25519.PublicKey(k))
		if err != nil {
			return nil, fmt.Errorf("audit checkpoint key: %w", err)
		}
		v, err := note.NewVerifier(vk)
		if err != nil {
			return nil, fmt.Errorf("audit checkpoint key: %w", err)
		}
		n.verifiers = append(n.verifiers, v)
	}
	return n, nil
}

// Origin is the log's name.
func (n *Notary) Origin() string { return n.origin }

// VerifierKey is the signing key's public half as a note verifier key
// ("name+hash+key"), for auditors to check checkpoints with.
func (n *Notary) VerifierKey() string { return n.vkey }

// tinkNoteSigner signs notes with a Tink Ed25519 signer whose keys have no
// output prefix: its signatures are plain Ed25519 ones.
type tinkNoteSigner struct {
	name string
	hash uint32
	s    tink.Signer
}

func (t tinkNoteSigner) Name() string                    { return t.name }
func (t tinkNoteSigner) KeyHash() uint32                 { return t.hash }
func (t tinkNoteSigner) Sign(msg []byte) ([]byte, error) { return t.s.Sign(msg) }

// Sign returns the signed checkpoint of a tree of size with root.
func (n *Notary) Sign(size uint64, root []byte) ([]byte, error) {
	body := log.Checkpoint{Origin: n.origin, Size: size, Hash: root}.Marshal()
	b, err := note.Sign(&note.Note{Text: string(body)}, n.signer)
	if err != nil {
		return nil, fmt.Errorf("sign audit checkpoint %d: %w", size, err)
	}
	return b, nil
}

// Open verifies a signed checkpoint of this log: signed by one of its keys,
// for its origin.
func (n *Notary) Open(b []byte) (Checkpoint, error) {
	msg, err := note.Open(b, note.VerifierList(n.verifiers...))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("not signed by this shop's audit key: %w", err)
	}
	var cp log.Checkpoint
	if _, err := cp.Unmarshal([]byte(msg.Text)); err != nil {
		return Checkpoint{}, err
	}
	if cp.Origin != n.origin {
		return Checkpoint{}, fmt.Errorf("a checkpoint of %q, not of this log (%q)", cp.Origin, n.origin)
	}
	return Checkpoint{Size: cp.Size, Root: cp.Hash, Note: b}, nil
}

// CheckpointFile is the name of the checkpoint of size in a checkpoint
// directory: sizes sort as names do.
func CheckpointFile(size uint64) string { return fmt.Sprintf("%020d.checkpoint", size) }

// WriteCheckpoint writes a signed checkpoint into dir as a new read-only
// file, never over one: a file of that size already there is left as it is
// (another instance signed the same size; a different root would be a fork,
// which ReadCheckpoints reports). The file and the directory are synced
// before it returns, so a checkpoint reported written survives a crash.
func WriteCheckpoint(dir string, size uint64, signed []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("audit checkpoint directory: %w", err)
	}
	path := filepath.Join(dir, CheckpointFile(size))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o400)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("write audit checkpoint: %w", err)
	}
	_, werr := f.Write(signed)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		// A part-written checkpoint would read as a forged one.
		return errors.Join(fmt.Errorf("write audit checkpoint: %w", werr), os.Remove(path))
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync audit checkpoint directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync audit checkpoint directory: %w", err)
	}
	return nil
}

// MaxCheckpointFile bounds what is read of one checkpoint file: a real one
// is a few hundred bytes.
const MaxCheckpointFile = 16 << 10

// ReadCheckpoints reads and verifies every checkpoint in dir, in order of
// size. A file that is not a checkpoint of this log signed by its key, or
// two of one size with different roots, is an error naming the file: a
// checkpoint directory holds only what the shop signed.
func (n *Notary) ReadCheckpoints(dir string) ([]Checkpoint, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read audit checkpoints: %w", err)
	}
	var out []Checkpoint
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".checkpoint") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		b, err := readSmall(path)
		if err != nil {
			return nil, err
		}
		cp, err := n.Open(b)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", path, err)
		}
		if info, err := e.Info(); err == nil {
			cp.At = info.ModTime().UTC()
		}
		out = append(out, cp)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Size < out[j].Size })
	for i := 1; i < len(out); i++ {
		if out[i].Size == out[i-1].Size && !bytes.Equal(out[i].Root, out[i-1].Root) {
			return nil, fmt.Errorf("two checkpoints of size %d with different roots: the log was forked", out[i].Size)
		}
	}
	return out, nil
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read audit checkpoint: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, MaxCheckpointFile+1)); err != nil {
		return nil, fmt.Errorf("read audit checkpoint %s: %w", path, err)
	}
	if buf.Len() > MaxCheckpointFile {
		return nil, fmt.Errorf("checkpoint %s: larger than %d bytes: not a checkpoint", path, MaxCheckpointFile)
	}
	return buf.Bytes(), nil
}
