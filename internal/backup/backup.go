package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
)

// Keys are what a backup is made and read with.
type Keys struct {
	Sign   Signer
	Verify Verifier
	// Wrap and Unwrap seal the shop's identity under the KEK.
	Wrap   func(plaintext, ad []byte) ([]byte, error)
	Unwrap func(ciphertext, ad []byte) ([]byte, error)
}

// ParseRecipients reads backup-recipients: a comma-separated list of age
// public keys (age1…).
func ParseRecipients(list string) ([]age.Recipient, []string, error) {
	var rs []age.Recipient
	var names []string
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		r, err := age.ParseX25519Recipient(s)
		if err != nil {
			return nil, nil, fmt.Errorf("backup-recipients: %q is not an age public key (age1…): %v", s, err)
		}
		if slices.Contains(names, s) {
			return nil, nil, fmt.Errorf("backup-recipients: %s is listed twice", s)
		}
		rs, names = append(rs, r), append(names, s)
	}
	return rs, names, nil
}

// Spec is one backup to make.
type Spec struct {
	ID         string
	Instance   string
	Engine     string
	Checkpoint *Checkpoint
	Sources    []Source
	// Recipients are the operator's keys (ParseRecipients); the shop's own
	// identity, made for this backup, is always added.
	Recipients     []age.Recipient
	RecipientNames []string
	// Staging is a private directory for the encrypted payload before it
	// is copied to the targets.
	Staging string
	Now     time.Time
}

// Placed is a backup's outcome on one target.
type Placed struct {
	Target string `json:"target"`
	Error  string `json:"error,omitempty"`
}

// identityAD binds a wrapped identity to its backup: one backup's wrapped
// identity pasted into another's manifest does not unwrap.
func identityAD(backupID string) []byte { return []byte("bulwark backup identity " + backupID) }

// Create makes the backup s: the payload encrypted to the recipients in the
// staging directory, then, on each target, the payload and, last, the
// signed manifest. It fails when no target took it; the outcome per target
// says which did.
func Create(ctx context.Context, s Spec, keys Keys, targets []Target) (Manifest, []Placed, error) {
	if len(targets) == 0 {
		return Manifest{}, nil, errors.New("backup: no backup-targets")
	}
	own, err := age.GenerateX25519Identity()
	if err != nil {
		return Manifest{}, nil, fmt.Errorf("backup: make the identity: %w", err)
	}
	wrapped, err := keys.Wrap([]byte(own.String()), identityAD(s.ID))
	if err != nil {
		return Manifest{}, nil, fmt.Errorf("backup: wrap the identity under the KEK: %w", err)
	}
	m := Manifest{Version: 1, ID: s.ID, CreatedAt: s.Now.UTC(), Instance: s.Instance, Engine: s.Engine, Checkpoint: s.Checkpoint,
		Recipients: append([]string{own.Recipient().String()}, s.RecipientNames...), Identity: wrapped}
	payload, err := os.CreateTemp(s.Staging, ".backup-payload-")
	if err != nil {
		return Manifest{}, nil, fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(payload.Name())
	defer payload.Close()
	h := sha256.New()
	counted := &countingWriter{w: io.MultiWriter(payload, h)}
	enc, err := age.Encrypt(counted, append([]age.Recipient{own.Recipient()}, s.Recipients...)...)
	if err != nil {
		return Manifest{}, nil, fmt.Errorf("backup: encrypt: %w", err)
	}
	if m.Files, err = pack(ctx, enc, s.Sources); err != nil {
		return Manifest{}, nil, err
	}
	if err := enc.Close(); err != nil {
		return Manifest{}, nil, fmt.Errorf("backup: encrypt: %w", err)
	}
	if err := payload.Sync(); err != nil {
		return Manifest{}, nil, fmt.Errorf("backup: %w", err)
	}
	m.Payload = Blob{Size: counted.n, SHA256: sum(h)}
	raw, err := Encode(m, keys.Sign)
	if err != nil {
		return Manifest{}, nil, err
	}
	var placed []Placed
	ok := 0
	for _, t := range targets {
		p := Placed{Target: t.Name()}
		if err := put(ctx, t, m.ID, payload, raw); err != nil {
			p.Error = err.Error()
		} else {
			ok++
		}
		placed = append(placed, p)
	}
	if ok == 0 {
		return m, placed, fmt.Errorf("backup %s: no target took it: %s", m.ID, placed[0].Error)
	}
	return m, placed, nil
}

func put(ctx context.Context, t Target, id string, payload *os.File, manifest []byte) error {
	if _, err := payload.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := t.Put(ctx, id+"/"+PayloadObject, payload); err != nil {
		return err
	}
	return t.Put(ctx, id+"/"+ManifestObject, bytes.NewReader(manifest))
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Listed is a backup found on a target: its manifest, or why it could not
// be read.
type Listed struct {
	ID       string
	Manifest Manifest
	Err      error
}

// List returns the backups on t, newest first; a manifest that does not
// verify is listed with its error, never dropped in silence.
func List(ctx context.Context, t Target, verify Verifier) ([]Listed, error) {
	keys, err := t.List(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []Listed
	for _, k := range keys {
		id, name := path.Split(k)
		id = strings.TrimSuffix(id, "/")
		if name != ManifestObject || !IDPattern.MatchString(id) {
			continue
		}
		m, err := Fetch(ctx, t, id, verify)
		out = append(out, Listed{ID: id, Manifest: m, Err: err})
	}
	slices.SortFunc(out, func(a, b Listed) int {
		if c := b.Manifest.CreatedAt.Compare(a.Manifest.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return out, nil
}

// Fetch reads and verifies backup id's manifest on t.
func Fetch(ctx context.Context, t Target, id string, verify Verifier) (Manifest, error) {
	if !IDPattern.MatchString(id) {
		return Manifest{}, fmt.Errorf("%q is not a backup id (bkp_…)", id)
	}
	rc, err := t.Get(ctx, id+"/"+ManifestObject)
	if err != nil {
		return Manifest{}, err
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, maxManifest+1))
	if err != nil {
		return Manifest{}, fmt.Errorf("%s: read %s's manifest: %w", t.Name(), id, err)
	}
	m, err := Decode(raw, verify)
	if err != nil {
		return Manifest{}, fmt.Errorf("%s: %s: %w", t.Name(), id, err)
	}
	if m.ID != id {
		return Manifest{}, fmt.Errorf("%s: %s: %w: it names backup %s", t.Name(), id, ErrCorrupt, m.ID)
	}
	return m, nil
}

// Identities returns the identities that open m's payload: the shop's,
// unwrapped under the KEK, and any extra given (an operator's offline key).
func Identities(m Manifest, keys Keys, extra ...age.Identity) ([]age.Identity, error) {
	out := slices.Clone(extra)
	if keys.Unwrap != nil {
		raw, err := keys.Unwrap(m.Identity, identityAD(m.ID))
		if err != nil && len(extra) == 0 {
			return nil, fmt.Errorf("backup %s: the KEK does not unwrap its identity: %w", m.ID, err)
		}
		if err == nil {
			id, err := age.ParseX25519Identity(string(raw))
			if err != nil {
				return nil, fmt.Errorf("backup %s: its identity: %w", m.ID, err)
			}
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return nil, ErrNoKey
	}
	return out, nil
}

// Check reads m's payload on t and checks every byte against m, without
// writing anything. Restore writes the files into dir instead.
func Check(ctx context.Context, t Target, m Manifest, ids []age.Identity) error {
	return Restore(ctx, t, m, ids, "")
}

// Restore writes m's files, read from t and checked against m, into dir
// (which must exist; files are created, never replaced). With dir empty it
// only checks.
func Restore(ctx context.Context, t Target, m Manifest, ids []age.Identity, dir string) error {
	rc, err := t.Get(ctx, m.ID+"/"+PayloadObject)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := unpack(ctx, rc, m, ids, dir); err != nil {
		return fmt.Errorf("%s: %s: %w", t.Name(), m.ID, err)
	}
	return nil
}

// Pruned is what Prune did on a target.
type Pruned struct {
	Deleted []string
	// Kept are backups past their retention that the target would not let
	// go (object lock), with why.
	Kept []string
}

// Prune deletes t's backups older than its retention, but never the newest
// complete one, and payloads left without a manifest for a day (a create
// that died). The manifest goes first: a half-deleted backup is never
// listed as complete.
func Prune(ctx context.Context, t Target, verify Verifier, now time.Time) (Pruned, error) {
	var out Pruned
	listed, err := List(ctx, t, verify)
	if err != nil {
		return out, err
	}
	newest := ""
	for _, l := range listed {
		if l.Err == nil {
			newest = l.ID
			break
		}
	}
	for _, l := range listed {
		if l.ID == newest || l.Err != nil || now.Sub(l.Manifest.CreatedAt) <= t.Retention() {
			continue
		}
		if err := deleteBackup(ctx, t, l.ID); err != nil {
			out.Kept = append(out.Kept, l.ID+": "+err.Error())
			continue
		}
		out.Deleted = append(out.Deleted, l.ID)
	}
	keys, err := t.List(ctx, "")
	if err != nil {
		return out, err
	}
	complete := map[string]bool{}
	for _, k := range keys {
		if id, name := path.Split(k); name == ManifestObject {
			complete[strings.TrimSuffix(id, "/")] = true
		}
	}
	for _, k := range keys {
		id, name := path.Split(k)
		id = strings.TrimSuffix(id, "/")
		if name != PayloadObject || complete[id] || !IDPattern.MatchString(id) {
			continue
		}
		if at, ok := objectTime(t, k); ok && now.Sub(at) > 24*time.Hour {
			if err := t.Delete(ctx, k); err == nil {
				out.Deleted = append(out.Deleted, id+" (incomplete)")
			}
		}
	}
	return out, nil
}

// objectTime is when a directory target's object was written; object
// stores do not say through Target, so their incomplete payloads are left
// to the store's own lifecycle rules.
func objectTime(t Target, key string) (time.Time, bool) {
	d, ok := t.(*Dir)
	if !ok {
		return time.Time{}, false
	}
	fi, err := os.Stat(d.Path + "/" + key)
	if err != nil {
		return time.Time{}, false
	}
	return fi.ModTime(), true
}

func deleteBackup(ctx context.Context, t Target, id string) error {
	if err := t.Delete(ctx, id+"/"+ManifestObject); err != nil {
		return err
	}
	if err := t.Delete(ctx, id+"/"+PayloadObject); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
