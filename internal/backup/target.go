package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Target is one place backups are kept: a directory or an object store.
// Keys are slash-separated ("<backup id>/manifest.json"), made by this
// package only (checkKey).
type Target interface {
	// Name is the target's address with any secret left out, for reports.
	Name() string
	// Put stores r under key, replacing nothing: a key is written once.
	Put(ctx context.Context, key string, r io.Reader) error
	// Get opens key; an error wrapping fs.ErrNotExist when there is none.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// List returns the keys under prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// Delete removes key; a key that is not there is no error. An object
	// still under lock is an error (the store refuses).
	Delete(ctx context.Context, key string) error
	// Immutable reports whether what is put cannot be deleted or replaced
	// before its retention ends (object lock), the "1" of 3-2-1-1-0.
	Immutable() bool
	// Offsite reports whether the target is away from this machine's disks.
	Offsite() bool
	// Retention is how long backups are kept there.
	Retention() time.Duration
}

// DefaultRetention is how long a target keeps backups when neither the
// target nor backup-retention says.
const DefaultRetention = 30 * 24 * time.Hour

// ParseTargets reads backup-targets: a comma-separated list of file:///path
// and s3://bucket/prefix?endpoint=host:port URLs, each with an optional
// retention=<duration> (else retention). An s3 URL also takes region=,
// lock=governance (else compliance) and insecure=1 (plain HTTP, for a
// loopback IP only). Credentials never go in the URL: an object store's
// come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN), as every S3 client reads them.
func ParseTargets(list string, retention time.Duration) ([]Target, error) {
	var out []Target
	seen := map[string]bool{}
	for _, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		t, err := ParseTarget(raw, retention)
		if err != nil {
			return nil, err
		}
		if seen[t.Name()] {
			return nil, fmt.Errorf("backup-targets: %s is listed twice", t.Name())
		}
		seen[t.Name()] = true
		out = append(out, t)
	}
	return out, nil
}

// ParseTarget reads one backup target URL.
func ParseTarget(raw string, retention time.Duration) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("backup target %q: not a URL", redact(raw))
	}
	if u.User != nil {
		return nil, fmt.Errorf("backup target %s: credentials do not go in the URL; give them in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", redact(raw))
	}
	q := u.Query()
	if r := q.Get("retention"); r != "" {
		d, err := time.ParseDuration(r)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("backup target %s: retention %q is not a positive duration such as 720h", redact(raw), r)
		}
		retention = d
		q.Del("retention")
	}
	if retention <= 0 {
		retention = DefaultRetention
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("backup target %s: a file target is file:///absolute/path", redact(raw))
		}
		if len(q) > 0 {
			return nil, fmt.Errorf("backup target %s: a file target takes only retention", redact(raw))
		}
		if !filepath.IsAbs(u.Path) || filepath.Clean(u.Path) == "/" {
			return nil, fmt.Errorf("backup target %s: a file target needs an absolute directory other than /", redact(raw))
		}
		return &Dir{Path: filepath.Clean(u.Path), retention: retention}, nil
	case "s3":
		return newS3(u, q, retention)
	default:
		return nil, fmt.Errorf("backup target %s: the scheme is file:// or s3://", redact(raw))
	}
}

func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		u.User = nil
		return u.Redacted()
	}
	return "(unparsable)"
}

// checkKey refuses a key that could leave the target's root.
func checkKey(key string) error {
	if key == "" || len(key) > 512 || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") || path.Clean(key) != key ||
		key == ".." || strings.HasPrefix(key, "../") {
		return fmt.Errorf("backup: bad key %q", key)
	}
	return nil
}

// Dir is a target directory on a disk this machine mounts.
type Dir struct {
	Path      string
	retention time.Duration
}

// Name is the directory's URL.
func (d *Dir) Name() string { return "file://" + d.Path }

// Immutable is false: whoever can write the directory can delete in it.
func (d *Dir) Immutable() bool { return false }

// Offsite is false: a directory is on a disk of this machine (another disk,
// perhaps, which is the "2" of 3-2-1, not the "1").
func (d *Dir) Offsite() bool { return false }

// Retention is how long backups are kept in the directory.
func (d *Dir) Retention() time.Duration { return d.retention }

// Put writes key through a temporary file renamed into place, so a reader
// never sees half an object, and syncs it.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader) error {
	if err := checkKey(key); err != nil {
		return err
	}
	dst := filepath.Join(d.Path, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("%s: %w", d.Name(), err)
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("%s: %s exists", d.Name(), key)
	}
	f, err := os.CreateTemp(filepath.Dir(dst), ".put-")
	if err != nil {
		return fmt.Errorf("%s: %w", d.Name(), err)
	}
	defer os.Remove(f.Name())
	if _, err := io.Copy(f, readerWithContext(ctx, r)); err != nil {
		f.Close()
		return fmt.Errorf("%s: write %s: %w", d.Name(), key, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("%s: sync %s: %w", d.Name(), key, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: write %s: %w", d.Name(), key, err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return fmt.Errorf("%s: %w", d.Name(), err)
	}
	return syncDir(filepath.Dir(dst))
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Get opens key.
func (d *Dir) Get(_ context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(d.Path, filepath.FromSlash(key)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.Name(), err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: %s is not a regular file", d.Name(), key)
	}
	return f, nil
}

// List walks the directory for keys under prefix.
func (d *Dir) List(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(d.Path, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == d.Path {
				return fs.SkipAll
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".put-") {
			return nil
		}
		rel, err := filepath.Rel(d.Path, p)
		if err != nil {
			return err
		}
		if key := filepath.ToSlash(rel); strings.HasPrefix(key, prefix) {
			out = append(out, key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: list: %w", d.Name(), err)
	}
	sort.Strings(out)
	return out, nil
}

// Delete removes key, and its directory once empty.
func (d *Dir) Delete(_ context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	p := filepath.Join(d.Path, filepath.FromSlash(key))
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", d.Name(), err)
	}
	if dir := filepath.Dir(p); dir != d.Path {
		_ = os.Remove(dir) // fails while other objects of the backup remain
	}
	return nil
}

// readerWithContext stops a copy when ctx ends.
func readerWithContext(ctx context.Context, r io.Reader) io.Reader {
	return ctxReader{ctx, r}
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
