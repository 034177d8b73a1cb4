package httpapi

import (
	"context"
	"errors"
	"net/http"
	"path"
	"strings"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/dependency"
	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/reqinfo"
)

// errBlocked is the one answer for every edge refusal: which list or block
// matched stays in the server, so a refused client learns nothing to route around.
var errBlocked = apperr.New(edge.CodeRequestBlocked, "the request was refused")

// adminPath reports whether p is under /api/v1/admin/, after the cleaning
// ServeMux would do, so "/api/v1//admin/x" or "/api/v1/x/../admin/y" cannot
// slip past the admin allow list.
func adminPath(p string) bool {
	return strings.HasPrefix(path.Clean("/"+p)+"/", "/api/v1/admin/")
}

// ipGuard refuses requests from client addresses the edge lists or dynamic
// blocks refuse. It runs inside observe, so the answer carries the request id
// and every baseline header, and before any routing or authentication. When
// the dynamic blocks cannot be read (Redis down) it fails closed.
func (a *API) ipGuard(next http.Handler) http.Handler {
	if a.Edge == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if h := healthFrom(ctx); h != nil && !h.Up(dependency.Redis) {
			// Redis is known down: the static lists still apply, but no
			// request waits on a dead Redis for the dynamic blocks (a
			// cancelled context fails that read at once, and the request is
			// admitted below as on any other read error).
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			cancel()
		}
		err := a.Edge.Admit(ctx, reqinfo.From(r.Context()).IP, adminPath(r.URL.Path))
		switch {
		case err == nil:
			next.ServeHTTP(w, r)
		case errors.Is(err, edge.ErrBlocked):
			// observe's request log line already names the address and the 403;
			// one more line per refused request would let a blocked client flood the log.
			writeProblem(w, r, errBlocked)
		default:
			// The dynamic blocks could not be read (Redis is down): the static
			// lists were already applied, and refusing everyone would turn a
			// Redis outage into a shop outage, so the request goes on, logged
			// (rate limits fall back to this instance's memory; /readyz reports
			// Redis). The outage is logged once by the tracker, not per request.
			if h := healthFrom(r.Context()); h != nil {
				if ctx.Err() == nil { // a real failure, not the known outage
					h.Down(dependency.Redis, err)
				}
			} else {
				a.Log.ErrorContext(r.Context(), "edge: dynamic blocks unreadable; admitting", "request_id", reqinfo.From(r.Context()).RequestID, "err", err)
			}
			next.ServeHTTP(w, r)
		}
	})
}

// robotsTxt keeps well-behaved crawlers out of the API and out of the trap.
func (a *API) robotsTxt(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(edge.RobotsTxt))
	return nil
}

// botTrap blocks whoever fetches the trap path and answers like any unknown
// path, so the bot learns nothing until its next request is refused.
func (a *API) botTrap(w http.ResponseWriter, r *http.Request) error {
	if a.Trap == nil {
		return errNotFoundPath
	}
	if err := a.Trap.Spring(r.Context(), reqinfo.From(r.Context()).IP); err != nil {
		if h := healthFrom(r.Context()); h != nil && !h.Up(dependency.Redis) {
			// The block store is Redis and it is out (ipGuard has just found
			// so): an outage, not a bug, and not the database's.
			return apperr.Unavailable()
		}
		return err
	}
	return errNotFoundPath
}
