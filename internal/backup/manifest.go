// Package backup makes, keeps and checks the shop's backups (issue 16): an
// online copy of each database and the data keysets, packed in a tar stream
// encrypted with age to public keys (the shop's own, whose private half is
// kept only wrapped under the KEK, and the operator's offline keys), with a
// signed manifest of what it holds, written to several targets.
//
// A backup is two objects under its id on each target: payload.age, then
// manifest.json, last, so a manifest names a complete backup.
package backup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Signer signs a message; Verifier checks a signature with any key of the
// signing keyset (a rotated key still verifies the backups it signed).
type (
	Signer   func(msg []byte) ([]byte, error)
	Verifier func(msg, sig []byte) bool
)

// Errors of a manifest that cannot be trusted.
var (
	ErrBadSignature = errors.New("the backup manifest's signature does not verify")
	ErrCorrupt      = errors.New("the backup manifest is corrupt")
)

// domain separates a manifest's signature from every other use of the key.
const domain = "bulwark backup manifest v1\n"

// maxManifest bounds a manifest read from a target.
const maxManifest = 1 << 20

// Object names within a backup.
const (
	ManifestObject = "manifest.json"
	PayloadObject  = "payload.age"
)

// Manifest says what a backup holds. It is signed and kept beside the
// payload in the clear: it holds names, sizes, hashes and counts, and the
// shop's identity only wrapped under the KEK.
type Manifest struct {
	Version   int       `json:"version"`
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	// Instance is the server instance (or "cli") that made it.
	Instance string `json:"instance"`
	// Engine is "sqlite" or "postgres".
	Engine string `json:"engine"`
	// Files are the payload's files, in order.
	Files []File `json:"files"`
	// Checkpoint is the newest audit checkpoint the backup holds: a restore
	// verifies the restored log against it.
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`
	// Recipients are the age public keys the payload is encrypted to.
	Recipients []string `json:"recipients"`
	// Identity is the shop's age identity for this backup, wrapped under the
	// KEK (never in the clear): with the KEK alone, a drill can read it.
	Identity []byte `json:"identity"`
	// Payload is the encrypted payload object's size and SHA-256.
	Payload Blob `json:"payload"`
}

// File is one file of the payload.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Rows counts each table's rows, for a database file.
	Rows map[string]int64 `json:"rows,omitempty"`
	// Schema is a PostgreSQL dump's schema (restored under the same name).
	Schema string `json:"schema,omitempty"`
}

// Blob is an object's size and hash.
type Blob struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Checkpoint is an audit checkpoint's size and root hash.
type Checkpoint struct {
	Size uint64 `json:"size"`
	Root []byte `json:"root"`
}

type signedManifest struct {
	Manifest  json.RawMessage `json:"manifest"`
	Signature []byte          `json:"signature"`
}

// fileName is what a payload file may be called: flat names only.
var fileName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// schemaName is what a dump's schema may be called: it is quoted into
// statements and set as a search_path.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// IDPattern is what a backup id looks like (id.Backup and 128 random bits).
var IDPattern = regexp.MustCompile(`^bkp_[a-z2-7]{26}$`)

// Encode signs m and returns the manifest object's bytes.
func Encode(m Manifest, sign Signer) ([]byte, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	sig, err := sign(append([]byte(domain), body...))
	if err != nil {
		return nil, fmt.Errorf("sign manifest: %w", err)
	}
	return json.Marshal(signedManifest{Manifest: body, Signature: sig})
}

// Decode checks a manifest object's signature, then its content.
func Decode(raw []byte, verify Verifier) (Manifest, error) {
	if len(raw) > maxManifest {
		return Manifest{}, fmt.Errorf("%w: larger than %d bytes", ErrCorrupt, maxManifest)
	}
	var sm signedManifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sm); err != nil || len(sm.Manifest) == 0 || len(sm.Signature) == 0 {
		return Manifest{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if !verify(append([]byte(domain), sm.Manifest...), sm.Signature) {
		return Manifest{}, ErrBadSignature
	}
	var m Manifest
	dec = json.NewDecoder(bytes.NewReader(sm.Manifest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if err := m.check(); err != nil {
		return Manifest{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return m, nil
}

func (m Manifest) check() error {
	switch {
	case m.Version != 1:
		return fmt.Errorf("version %d", m.Version)
	case !IDPattern.MatchString(m.ID):
		return fmt.Errorf("id %q", m.ID)
	case m.Engine != "sqlite" && m.Engine != "postgres":
		return fmt.Errorf("engine %q", m.Engine)
	case len(m.Files) == 0 || len(m.Files) > 256:
		return fmt.Errorf("%d files", len(m.Files))
	case len(m.Recipients) == 0 || len(m.Identity) == 0:
		return errors.New("no recipients or no identity")
	case m.Payload.Size <= 0 || len(m.Payload.SHA256) != 64:
		return errors.New("no payload")
	}
	seen := map[string]bool{}
	for _, f := range m.Files {
		if !fileName.MatchString(f.Name) || seen[f.Name] || f.Size < 0 || len(f.SHA256) != 64 ||
			f.Schema != "" && !schemaName.MatchString(f.Schema) {
			return fmt.Errorf("file %q", f.Name)
		}
		seen[f.Name] = true
	}
	return nil
}

// Size is the total size of the payload's files.
func (m Manifest) Size() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}
