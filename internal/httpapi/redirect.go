package httpapi

import (
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/bulwark-shop/bulwark/internal/apperr"
)

// CodeHTTPSRequired answers an API request that came over plain HTTP.
const CodeHTTPSRequired = "https_required"

// HTTPSRedirect is the optional plain-HTTP listener's handler. Page requests
// (GET and HEAD outside /api/) get a permanent redirect to origin, an
// https:// origin from the settings: the Host header is never used, so the
// listener cannot be made an open redirect. API requests get 403
// https_required instead of a redirect (ASVS V4.1.2): a client that sent a
// token or a password in the clear must learn of it, not have its request
// silently replayed over HTTPS. Other methods get the same refusal, since
// their body has already crossed the network unencrypted.
func HTTPSRedirect(origin string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		isAPI := r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/")
		if isAPI || !cleanTarget(r.URL) || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			writeProblem(w, r, &apperr.Error{Code: CodeHTTPSRequired, Message: "this address serves plain HTTP; send the request over HTTPS to " + origin})
			return
		}
		target := origin + (&url.URL{Path: r.URL.Path, RawQuery: r.URL.RawQuery}).RequestURI()
		http.Redirect(w, r, target, http.StatusPermanentRedirect)
	})
}

// cleanTarget reports whether u is an origin-form request target with a clean
// path, the only kind redirected: an opaque one ("http:.evil.example") would
// be glued to the origin's host, and "//api/..." or "/./api/..." would pass
// for pages and reach the API after the HTTPS side cleans the path.
func cleanTarget(u *url.URL) bool {
	if u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return false
	}
	c := path.Clean(u.Path)
	return u.Path == c || u.Path == c+"/"
}
