package httpapi

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
)

// permissionsPolicy turns off every powerful browser feature: the API serves no
// page that could use one, and a response opened by mistake in a tab gets none.
const permissionsPolicy = "accelerometer=(), autoplay=(), camera=(), display-capture=(), " +
	"encrypted-media=(), fullscreen=(), geolocation=(), gyroscope=(), hid=(), idle-detection=(), " +
	"magnetometer=(), microphone=(), midi=(), payment=(), picture-in-picture=(), " +
	"publickey-credentials-get=(), screen-wake-lock=(), serial=(), usb=(), web-share=(), " +
	"xr-spatial-tracking=()"

// setEdgeHeaders adds the isolation headers of issue 6 to the baseline that
// observe sets. HSTS only over TLS: over plain HTTP the header is ignored by
// browsers, and sending it from a development server on localhost would pin
// other local services to HTTPS.
func setEdgeHeaders(h http.Header, tls bool) {
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", permissionsPolicy)
	if tls {
		h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
	}
}

// CORS answers for the allowed origins only. The session cookie is the reason
// for Allow-Credentials; the methods and headers are those the API uses.
const (
	corsMethods = "GET, POST, PUT, PATCH, DELETE"
	corsHeaders = "Authorization, Content-Type, Idempotency-Key, Cart-Token, Order-Token"
	corsExpose  = "X-Request-Id, Retry-After, Idempotent-Replayed, RateLimit, RateLimit-Policy"
)

// cors lets browsers on the allowed origins call the API. A request from any
// other origin gets no Access-Control-* header at all, so the browser keeps the
// answer from the page; with no origins configured CORS is denied outright.
// Preflights from an allowed origin are answered here (204); from any other
// origin they fall through to the router, which refuses OPTIONS.
func cors(next http.Handler, origins []string) http.Handler {
	if len(origins) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if origin == "" || !slices.Contains(origins, origin) {
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", corsMethods)
			h.Set("Access-Control-Allow-Headers", corsHeaders)
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", corsExpose)
		next.ServeHTTP(w, r)
	})
}

// securityTxt serves RFC 9116's security.txt from settings; 404 without a
// contact, since the file's one required field would be missing.
func (a *API) securityTxt(w http.ResponseWriter, _ *http.Request) error {
	if a.SecurityContact == "" {
		return errNotFoundPath
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Contact: %s\n", a.SecurityContact)
	fmt.Fprintf(&b, "Expires: %s\n", a.Now().UTC().AddDate(1, 0, 0).Truncate(time.Second).Format(time.RFC3339))
	if a.SecurityPolicy != "" {
		fmt.Fprintf(&b, "Policy: %s\n", a.SecurityPolicy)
	}
	b.WriteString("Preferred-Languages: en\n")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
	return nil
}

// errNotFoundPath is the router's answer for a path that is not there.
var errNotFoundPath = apperr.NotFound("path")
