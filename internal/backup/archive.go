package backup

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"
)

// Source is a file to put in a backup, under Name.
type Source struct {
	Name string
	Path string
	// Rows counts the tables of a database file (nil for others); Schema
	// is a PostgreSQL dump's.
	Rows   map[string]int64
	Schema string
}

// pack writes the sources as a tar stream to w (the age writer), hashing
// each as it goes; it returns the files for the manifest.
func pack(ctx context.Context, w io.Writer, sources []Source) ([]File, error) {
	tw := tar.NewWriter(w)
	var files []File
	for _, s := range sources {
		if !fileName.MatchString(s.Name) {
			return nil, fmt.Errorf("backup: bad file name %q", s.Name)
		}
		f, err := os.Open(s.Path)
		if err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			f.Close()
			return nil, fmt.Errorf("backup: %s is not a regular file", s.Path)
		}
		// The header's time is fixed: the payload's bytes depend on the
		// files' contents only.
		hdr := &tar.Header{Name: s.Name, Mode: 0o600, Size: fi.Size(), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			f.Close()
			return nil, fmt.Errorf("backup: %w", err)
		}
		h := sha256.New()
		n, err := io.Copy(tw, io.TeeReader(readerWithContext(ctx, f), h))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("backup: pack %s: %w", s.Name, err)
		}
		if n != fi.Size() {
			return nil, fmt.Errorf("backup: %s changed while it was packed", s.Path)
		}
		files = append(files, File{Name: s.Name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), Rows: s.Rows, Schema: s.Schema})
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return files, nil
}

// Errors of a payload that is not what its manifest says.
var (
	ErrPayloadMismatch = errors.New("the backup's payload is not the one its manifest names")
	ErrNoKey           = errors.New("no key given opens the backup's payload")
)

// unpack decrypts the payload r with identities and checks it against m:
// its size and hash, and each file's name, order, size and hash. With dir
// set, it writes the files there (created, never replaced, 0600); else it
// only checks them. It reads at most m.Payload.Size bytes of r.
func unpack(ctx context.Context, r io.Reader, m Manifest, identities []age.Identity, dir string) error {
	ph := sha256.New()
	counted := &countingReader{r: io.TeeReader(io.LimitReader(readerWithContext(ctx, r), m.Payload.Size+1), ph)}
	dec, err := age.Decrypt(counted, identities...)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return ErrNoKey
		}
		return fmt.Errorf("%w: %v", ErrPayloadMismatch, err)
	}
	tr := tar.NewReader(dec)
	for _, want := range m.Files {
		hdr, err := tr.Next()
		if err != nil {
			return fmt.Errorf("%w: %s missing: %v", ErrPayloadMismatch, want.Name, err)
		}
		if hdr.Name != want.Name || hdr.Typeflag != tar.TypeReg || hdr.Size != want.Size {
			return fmt.Errorf("%w: found %q (%d bytes), want %q (%d bytes)", ErrPayloadMismatch, hdr.Name, hdr.Size, want.Name, want.Size)
		}
		if err := unpackFile(tr, want, dir); err != nil {
			return err
		}
	}
	if _, err := tr.Next(); err != io.EOF {
		return fmt.Errorf("%w: more files than the manifest names", ErrPayloadMismatch)
	}
	// The rest of the age stream (tar's padding) must decrypt too: age
	// authenticates chunk by chunk, and a truncated tail shows only here.
	if _, err := io.Copy(io.Discard, dec); err != nil {
		return fmt.Errorf("%w: %v", ErrPayloadMismatch, err)
	}
	if counted.n != m.Payload.Size || hex.EncodeToString(ph.Sum(nil)) != m.Payload.SHA256 {
		return fmt.Errorf("%w: the payload's size or hash differs", ErrPayloadMismatch)
	}
	return nil
}

func unpackFile(tr io.Reader, want File, dir string) error {
	h := sha256.New()
	var out io.Writer = h
	var f *os.File
	if dir != "" {
		var err error
		f, err = os.OpenFile(filepath.Join(dir, want.Name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("restore %s: %w", want.Name, err)
		}
		out = io.MultiWriter(f, h)
	}
	_, err := io.Copy(out, io.LimitReader(tr, want.Size))
	if f != nil {
		if serr := f.Sync(); err == nil {
			err = serr
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrPayloadMismatch, want.Name, err)
	}
	if sum(h) != want.SHA256 {
		return fmt.Errorf("%w: %s's hash differs", ErrPayloadMismatch, want.Name)
	}
	return nil
}

func sum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
