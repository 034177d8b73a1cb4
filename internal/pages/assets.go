package pages

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
)

// asset is a static file as served: its bytes, type, Subresource Integrity
// value and the version its URL carries.
type asset struct {
	body      []byte
	ctype     string
	integrity string // "sha384-…", the value of the integrity attribute
	version   string // a digest prefix: a changed file gets a new URL
}

// assets are the static files, read once at start-up.
type assets struct{ files map[string]asset }

// loadAssets reads every file that names lists, from read (the theme's
// where it has one).
func loadAssets(names, read fs.FS) (*assets, error) {
	entries, err := fs.ReadDir(names, ".")
	if err != nil {
		return nil, fmt.Errorf("list assets: %w", err)
	}
	a := &assets{files: map[string]asset{}}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := fs.ReadFile(read, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read asset %s: %w", e.Name(), err)
		}
		ctype := mime.TypeByExtension(path.Ext(e.Name()))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		sri := sha512.Sum384(b)
		ver := sha256.Sum256(b)
		a.files[e.Name()] = asset{body: b, ctype: ctype,
			integrity: "sha384-" + base64.StdEncoding.EncodeToString(sri[:]),
			version:   hex.EncodeToString(ver[:6])}
	}
	return a, nil
}

// Ref is what a template needs to include an asset: its URL and its
// integrity value.
type Ref struct{ URL, Integrity string }

// ref returns the reference of the asset name; a template naming an asset
// that does not exist fails when the templates load (the views check every
// page at start-up).
func (a *assets) ref(name string) (Ref, error) {
	f, ok := a.files[name]
	if !ok {
		return Ref{}, fmt.Errorf("no asset %q", name)
	}
	return Ref{URL: "/assets/" + name + "?v=" + f.version, Integrity: f.integrity}, nil
}

// serve answers GET /assets/{name}. The URL carries the file's version, so
// the answer can be cached for a year; the same file under another version
// is refused, so a cache never keeps a stale file under a new URL.
func (a *assets) serve(w http.ResponseWriter, r *http.Request) error {
	f, ok := a.files[r.PathValue("name")]
	if !ok {
		return errNotFound
	}
	h := w.Header()
	if v := r.URL.Query().Get("v"); v != "" && v != f.version {
		return errNotFound
	} else if v == f.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	etag := `"` + f.version + `"`
	h.Set("ETag", etag)
	h.Set("Content-Type", f.ctype)
	// Assets are same-origin resources, never a document: the policy that
	// observe sets (default-src 'none') stays.
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Length", strconv.Itoa(len(f.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(f.body)
	}
	return nil
}
