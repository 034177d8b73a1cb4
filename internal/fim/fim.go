// Package fim is Bulwark's file integrity monitoring (issue 15, PCI DSS
// 11.5.2): a baseline of the files that make a shop what it is (the
// binary, its settings, its certificates and keys) and of the layout of
// its data directory, signed so that whoever can edit those files cannot
// also re-baseline quietly, and the comparison of the files as they are
// with it.
//
// A file is recorded with its type, permission bits, owner, size and
// SHA-256; a directory's entries with their type, permissions and owner
// (its layout), and, where the spec says so, their content too. A data
// directory is watched by layout only: the database in it changes all the
// time; a file added to it, removed from it or opened to other users does
// not.
package fim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Spec is one path to monitor.
type Spec struct {
	Path string `json:"path"`
	// Dir monitors a directory's entries (one level); Content hashes them
	// too (a file spec always hashes its content).
	Dir     bool `json:"dir,omitempty"`
	Content bool `json:"content,omitempty"`
	// Skip names entries of a directory that come and go by themselves:
	// a name ending with one of Skip (SQLite's -wal and -shm files) or
	// starting with one of SkipPrefix (temporary files written then
	// renamed, ".keyset-…") is not recorded. Keep both short: a name that
	// matches goes unwatched, and an intruder can choose names.
	Skip       []string `json:"skip,omitempty"`
	SkipPrefix []string `json:"skip_prefix,omitempty"`
}

// skips reports whether s leaves the directory entry name out.
func (s Spec) skips(name string) bool {
	for _, p := range s.SkipPrefix {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	for _, suf := range s.Skip {
		if strings.HasSuffix(name, suf) {
			return true
		}
	}
	return false
}

// Entry is one path as recorded.
type Entry struct {
	Path string `json:"path"`
	// Type is "file", "dir", "symlink", "other" or "missing".
	Type string `json:"type"`
	Mode string `json:"mode,omitempty"` // permission bits, octal
	UID  int    `json:"uid"`
	GID  int    `json:"gid"`
	Size int64  `json:"size,omitempty"`
	Hash string `json:"sha256,omitempty"`
}

// Baseline is what the monitored paths were when it was made.
type Baseline struct {
	Version int       `json:"version"`
	MadeAt  time.Time `json:"made_at"`
	Specs   []Spec    `json:"specs"`
	Entries []Entry   `json:"entries"`
}

// Limits bound a build: a monitored directory is not walked into, but one
// may hold many entries, and a monitored file may be large.
const (
	MaxEntries   = 10_000
	MaxFileBytes = 1 << 30
)

// Errors of Build, Load and Compare.
var (
	ErrTooMany      = errors.New("more entries than file integrity monitoring records")
	ErrCorrupt      = errors.New("not a file integrity baseline")
	ErrBadSignature = errors.New("the file integrity baseline's signature does not verify: it was edited, or signed by another shop")
)

// Build records specs as they are now.
func Build(specs []Spec, now time.Time) (Baseline, error) {
	b := Baseline{Version: 1, MadeAt: now.UTC(), Specs: slices.Clone(specs)}
	for _, s := range specs {
		entries, err := record(s)
		if err != nil {
			return Baseline{}, err
		}
		b.Entries = append(b.Entries, entries...)
		if len(b.Entries) > MaxEntries {
			return Baseline{}, fmt.Errorf("%w: over %d", ErrTooMany, MaxEntries)
		}
	}
	b.Entries = dedupe(b.Entries)
	return b, nil
}

// dedupe sorts entries by path and keeps one per path: a file both
// monitored itself and listed in a monitored directory's layout is kept
// as the file, with its content's hash.
func dedupe(es []Entry) []Entry {
	slices.SortStableFunc(es, func(x, y Entry) int {
		if c := cmpString(x.Path, y.Path); c != 0 {
			return c
		}
		switch {
		case x.Hash != "" && y.Hash == "":
			return -1
		case x.Hash == "" && y.Hash != "":
			return 1
		}
		return 0
	})
	return slices.CompactFunc(es, func(x, y Entry) bool { return x.Path == y.Path })
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// record returns the entries of one spec.
func record(s Spec) ([]Entry, error) {
	e, err := entry(s.Path, true)
	if err != nil {
		return nil, err
	}
	out := []Entry{e}
	if !s.Dir || e.Type != "dir" {
		return out, nil
	}
	des, err := os.ReadDir(s.Path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.Path, err)
	}
	if len(des) > MaxEntries {
		return nil, fmt.Errorf("%w: %s holds %d", ErrTooMany, s.Path, len(des))
	}
	for _, de := range des {
		if s.skips(de.Name()) {
			continue
		}
		ce, err := entry(filepath.Join(s.Path, de.Name()), s.Content)
		if err != nil {
			return nil, err
		}
		out = append(out, ce)
	}
	return out, nil
}

// entry records path (without following a symbolic link); hash says
// whether a regular file's content is hashed, and its size kept.
func entry(path string, hash bool) (Entry, error) {
	e := Entry{Path: path}
	info, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		e.Type, e.UID, e.GID = "missing", -1, -1
		return e, nil
	}
	if err != nil {
		return e, fmt.Errorf("stat %s: %w", path, err)
	}
	e.Mode = strconv.FormatUint(uint64(info.Mode().Perm()), 8)
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		e.UID, e.GID = int(st.Uid), int(st.Gid)
	}
	switch {
	case info.Mode().IsRegular():
		e.Type = "file"
		if hash {
			e.Size = info.Size()
			if e.Hash, err = hashFile(path); err != nil {
				return e, err
			}
		}
	case info.IsDir():
		e.Type = "dir"
	case info.Mode()&fs.ModeSymlink != 0:
		e.Type = "symlink"
		if target, err := os.Readlink(path); err == nil {
			e.Hash = "link:" + target
		}
	default:
		e.Type = "other"
	}
	return e, nil
}

func hashFile(path string) (string, error) {
	// Opened without blocking and checked again: a FIFO swapped in after
	// the Lstat would otherwise hang the scan on open or read.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		return "", fmt.Errorf("hash %s: no longer a regular file", path)
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	if n > MaxFileBytes {
		return "", fmt.Errorf("hash %s: larger than %d bytes", path, int64(MaxFileBytes))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Change is one difference from the baseline.
type Change struct {
	Path string `json:"path"`
	// Kind is "added", "deleted", "modified", "mode" or "owner".
	Kind   string `json:"kind"`
	Before string `json:"before"`
	After  string `json:"after"`
}

// Compare returns how now differs from base, in path order.
func Compare(base, now Baseline) []Change {
	was := map[string]Entry{}
	for _, e := range base.Entries {
		was[e.Path] = e
	}
	var out []Change
	seen := map[string]bool{}
	for _, n := range now.Entries {
		seen[n.Path] = true
		b, ok := was[n.Path]
		if !ok {
			if n.Type != "missing" {
				out = append(out, Change{Path: n.Path, Kind: "added", After: describe(n)})
			}
			continue
		}
		out = append(out, diff(b, n)...)
	}
	for _, b := range base.Entries {
		if !seen[b.Path] && b.Type != "missing" {
			out = append(out, Change{Path: b.Path, Kind: "deleted", Before: describe(b)})
		}
	}
	slices.SortStableFunc(out, func(x, y Change) int { return cmpString(x.Path, y.Path) })
	return out
}

func diff(b, n Entry) []Change {
	switch {
	case b.Type == "missing" && n.Type != "missing":
		return []Change{{Path: n.Path, Kind: "added", After: describe(n)}}
	case n.Type == "missing" && b.Type != "missing":
		return []Change{{Path: n.Path, Kind: "deleted", Before: describe(b)}}
	case b.Type != n.Type || b.Hash != n.Hash || b.Size != n.Size:
		return []Change{{Path: n.Path, Kind: "modified", Before: describe(b), After: describe(n)}}
	}
	var out []Change
	if b.Mode != n.Mode {
		out = append(out, Change{Path: n.Path, Kind: "mode", Before: b.Mode, After: n.Mode})
	}
	if b.UID != n.UID || b.GID != n.GID {
		out = append(out, Change{Path: n.Path, Kind: "owner", Before: fmt.Sprintf("%d:%d", b.UID, b.GID), After: fmt.Sprintf("%d:%d", n.UID, n.GID)})
	}
	return out
}

// describe names an entry in a change: type, size and the first 12 hex
// digits of its hash; never its content.
func describe(e Entry) string {
	s := e.Type
	if e.Mode != "" {
		s += " " + e.Mode
	}
	if e.Size > 0 {
		s += fmt.Sprintf(" %d bytes", e.Size)
	}
	if e.Hash != "" && len(e.Hash) >= 12 && e.Type == "file" {
		s += " sha256:" + e.Hash[:12]
	}
	return s
}

// Status is the monitored files' state, as the API and posture report it.
type Status struct {
	// Status is "ok", "changed", "no_baseline" or "invalid".
	Status    string     `json:"status"`
	Baseline  string     `json:"baseline"`
	MadeAt    *time.Time `json:"made_at"`
	Entries   int        `json:"entries"`
	CheckedAt time.Time  `json:"checked_at"`
	Changes   []Change   `json:"changes"`
	Error     string     `json:"error,omitempty"`
}

// Signer signs a baseline (the shop's Ed25519 key); Verifier checks it.
type (
	Signer   func(msg []byte) ([]byte, error)
	Verifier func(msg, sig []byte) bool
)

// signedFile is the baseline file: the baseline's JSON as signed, and
// the signature over the domain prefix and it.
type signedFile struct {
	Baseline  json.RawMessage `json:"baseline"`
	Signature []byte          `json:"signature"`
}

// domain separates the baseline's signatures from anything else the key
// signs (the audit log's checkpoints).
const domain = "bulwark file integrity baseline v1\n"

// maxFile bounds a baseline file.
const maxFile = 16 << 20

// Save writes b signed to path: a new file renamed over the old (0600,
// synced), so a crash leaves the old baseline or the new, never half.
func Save(path string, b Baseline, sign Signer) error {
	body, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("encode baseline: %w", err)
	}
	sig, err := sign(append([]byte(domain), body...))
	if err != nil {
		return fmt.Errorf("sign baseline: %w", err)
	}
	// Not indented: the baseline's bytes are stored as they were signed.
	out, err := json.Marshal(signedFile{Baseline: body, Signature: sig})
	if err != nil {
		return fmt.Errorf("encode baseline: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".fim-baseline-*")
	if err != nil {
		return fmt.Errorf("write baseline: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return fmt.Errorf("write baseline: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write baseline: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write baseline: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write baseline: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write baseline: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Load reads and verifies the baseline at path: ErrCorrupt for a file
// that is not one (or is larger than a baseline can be), ErrBadSignature
// for one edited or signed with another key; fs.ErrNotExist when there
// is none.
func Load(path string, verify Verifier) (Baseline, error) {
	f, err := os.Open(path)
	if err != nil {
		return Baseline{}, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return Baseline{}, fmt.Errorf("read %s: %w", path, err)
	}
	return Parse(raw, verify)
}

// Parse reads a baseline file's bytes: see Load.
func Parse(raw []byte, verify Verifier) (Baseline, error) {
	if len(raw) > maxFile {
		return Baseline{}, fmt.Errorf("%w: larger than %d bytes", ErrCorrupt, maxFile)
	}
	var sf signedFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sf); err != nil || len(sf.Baseline) == 0 || len(sf.Signature) == 0 {
		return Baseline{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if !verify(append([]byte(domain), sf.Baseline...), sf.Signature) {
		return Baseline{}, ErrBadSignature
	}
	var b Baseline
	if err := json.Unmarshal(sf.Baseline, &b); err != nil || b.Version != 1 {
		return Baseline{}, fmt.Errorf("%w: %v (version %d)", ErrCorrupt, err, b.Version)
	}
	return b, nil
}
