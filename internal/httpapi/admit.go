package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/pages"
	"github.com/bulwark-shop/bulwark/internal/reqinfo"
)

// Body limits per route. Every byte of a body is work for the firewall (its
// rules run over each argument), so no route accepts more than it needs: a
// GET or HEAD none, a sign-in a few KB, catalog writes (long descriptions)
// bodyLimitCatalog, anything else bodyLimitDefault; max-body-bytes caps them all.
const (
	// bodyLimitAuth covers the auth routes: an email, a password, a name, an
	// OTP, a WebAuthn assertion.
	bodyLimitAuth = 4 << 10
	// bodyLimitDefault covers the other writes: carts, checkout, payment
	// methods, passkey registration (Bulwark asks for no attestation, so the
	// authenticator's answer is a few hundred bytes). It is no larger than
	// anonymousBodyLimit: every such route is open to any customer account.
	bodyLimitDefault = 4 << 10
	// anonymousBodyLimit is the largest body the firewall inspects for a
	// caller who has not authenticated: the rules cost about 5 ms of CPU per
	// KiB of body (docs/PERFORMANCE.md), so a stranger's request stays in the
	// tens of milliseconds. A larger body (a catalog write) is authenticated,
	// and its permission checked, before the firewall reads it.
	anonymousBodyLimit = 4 << 10
	// bodyLimitCatalog fits the largest valid product: a description of
	// catalog.MaxDescriptionLength characters, each up to 6 bytes when
	// JSON-escaped, with the other fields. It also fits the largest shipping
	// option (250 zones, 50 bands of 20 prices) and discount (200 ids).
	bodyLimitCatalog = 64 << 10
)

// bodyLimitOf is the body limit of a route pattern when the route table does
// not set one: none for GET and HEAD, bodyLimitAuth for the auth class,
// bodyLimitDefault for the rest.
func bodyLimitOf(pattern string) int64 {
	method, _, _ := strings.Cut(pattern, " ")
	switch {
	case method == http.MethodGet || method == http.MethodHead:
		return 0
	case edge.ClassOf(pattern) == edge.Auth:
		return bodyLimitAuth
	default:
		return bodyLimitDefault
	}
}

// bodyLimits maps each pattern of the route table to its body limit in bytes.
func (a *API) bodyLimits() (map[string]int64, map[string]access.Permission) {
	out, perms := map[string]int64{}, map[string]access.Permission{}
	for _, rt := range a.routes() {
		perms[rt.Pattern] = rt.Permission
		n := rt.MaxBody
		if n == 0 {
			n = bodyLimitOf(rt.Pattern)
		}
		// max-body-bytes caps every route.
		n = max(min(n, a.MaxBodyBytes), 0)
		out[rt.Pattern] = n
	}
	if a.Pages != nil {
		// A page checks no permission itself (its calls to the API do):
		// its body limit is its own, under max-body-bytes as every route's.
		for _, p := range pages.Routes() {
			if _, api := out[p.Pattern]; !api {
				perms[p.Pattern] = access.Public
				out[p.Pattern] = max(min(p.MaxBody, a.MaxBodyBytes), 0)
			}
		}
	}
	return out, perms
}

// admit runs before the firewall. It finds the route the request is for,
// refuses a body longer than the route's limit (413; a body on a route that
// takes none, 413 too) without reading more than the limit, and charges the
// client address's rate limit of the route's class by the request's cost
// (edge.Cost: a big body counts as many requests). A body over
// anonymousBodyLimit needs a caller with the route's permission. So the
// firewall only ever sees a body the route could accept, from a client within
// its budget, and a stranger's body is small.
func (a *API) admit(next http.Handler, mux *http.ServeMux) http.Handler {
	limits, perms := a.bodyLimits()
	signed := map[string]func(*API, *http.Request) error{}
	for _, rt := range a.routes() {
		if rt.signed != nil {
			signed[rt.Pattern] = rt.signed
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		limit := limits[pattern] // unknown paths and wrong methods take no body
		class := edge.ClassOf(pattern)
		if pattern == "" {
			class = edge.ClassOf(r.Method + " " + r.URL.Path)
		}
		if err := checkHead(r); err != nil {
			writeProblem(w, r, err)
			return
		}
		var n int64
		if r.Body != nil && r.Body != http.NoBody {
			if r.ContentLength > limit {
				// The body is not read, so the connection cannot be reused.
				w.Header().Set("Connection", "close")
				writeProblem(w, r, tooLarge(limit))
				return
			}
			// With a Response writer, MaxBytesReader also closes the connection
			// once the limit is passed (a chunked body has no declared length).
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &mbe):
				writeProblem(w, r, tooLarge(limit))
				return
			case err != nil:
				writeProblem(w, r, errWAFUninspectable)
				return
			}
			n = int64(len(body))
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = n
		}
		if err := a.limitAddressCost(w, r, class, edge.Cost(n)); err != nil {
			writeError(w, r, a.Log, err)
			return
		}
		if n > anonymousBodyLimit {
			// Only a caller with the route's permission gets the firewall to
			// read this much; guard authorizes again, as for every request.
			// A public route that takes more proves its caller by the body's
			// signature instead (the processor's events).
			prove := func() error { _, err := a.authorize(w, r, perms[pattern]); return err }
			if s := signed[pattern]; s != nil {
				prove = func() error { return s(a, r) }
			}
			if err := prove(); err != nil {
				writeError(w, r, a.Log, err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// tooLarge is the 413 of a body over limit bytes.
func tooLarge(limit int64) *apperr.Error {
	if limit == 0 {
		return apperr.New(apperr.CodePayloadTooLarge, "this request takes no body")
	}
	return apperr.New(apperr.CodePayloadTooLarge, "the body is larger than %d bytes", limit)
}

// limitAddressCost applies class's limit to the client address, charging cost.
func (a *API) limitAddressCost(w http.ResponseWriter, r *http.Request, class edge.Class, cost int) error {
	return a.limit(w, r, class, "address", reqinfo.AddressKey(reqinfo.From(r.Context()).IP), cost)
}

// The request line and each header are bounded too, as the firewall runs its
// rules over the query's arguments and over every header: a URL of 4 KiB and
// a header of 8 KiB are far above what the API's clients send (a session
// token is 60 bytes) and cost the rules tens of milliseconds at most.
const (
	maxURILength    = 4 << 10
	maxHeaderLength = 8 << 10
)

// Codes of checkHead's refusals.
const (
	CodeURITooLong     = "uri_too_long"
	CodeHeaderTooLarge = "header_too_large"
)

// checkHead refuses a request target or a header field over its bound.
func checkHead(r *http.Request) *apperr.Error {
	if len(r.RequestURI) > maxURILength {
		return apperr.New(CodeURITooLong, "the request target is longer than %d bytes", maxURILength)
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			if len(k)+len(v) > maxHeaderLength {
				return apperr.New(CodeHeaderTooLarge, "a header field is larger than %d bytes", maxHeaderLength)
			}
		}
	}
	return nil
}
