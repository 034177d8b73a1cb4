package httpapi

import (
	"context"
	"errors"
	"net/http"
	"path"
	"strings"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/dependency"
	"github.com/bulwark-shop/bulwark/internal/detect"
	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/reqinfo"
	"github.com/bulwark-shop/bulwark/internal/response"
)

// errBlocked is the one answer for every edge refusal: which list or block
// matched stays in the server, so a refused client learns nothing to route around.
var errBlocked = apperr.New(edge.CodeRequestBlocked, "the request was refused")

// adminPath reports whether p is under /api/v1/admin/, after the cleaning
// ServeMux would do, so "/api/v1//admin/x" or "/api/v1/x/../admin/y" cannot
// slip past the admin allow list.
func adminPath(p string) bool {
	c := path.Clean("/"+p) + "/"
	// The console's pages call the staff routes in process: they are staff
	// routes too, for the address lists (admin-ip-allow).
	return strings.HasPrefix(c, "/api/v1/admin/") || strings.HasPrefix(c, "/console/")
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

// botTrap answers like any unknown path, so a bot learns nothing until its
// next request is refused. A hit that a page of another site could have made
// a browser send, or from the loopback or a trusted proxy, blocks nothing;
// every hit is logged with its reason and counted by outcome.
func (a *API) botTrap(w http.ResponseWriter, r *http.Request) error {
	if a.Trap == nil {
		return errNotFoundPath
	}
	info := reqinfo.From(r.Context())
	a.signal(r, detect.BotTrap, map[string]string{"path": truncatePath(r.URL.EscapedPath())})
	outcome, why, err := a.Trap.Spring(r.Context(), edge.TrapHit{
		Addr: info.IP, Method: r.Method, Path: r.URL.Path, UserAgent: r.UserAgent(), Host: r.Host,
		SecFetchSite: r.Header.Get("Sec-Fetch-Site"), SecFetchDest: r.Header.Get("Sec-Fetch-Dest"),
		Origin: r.Header.Get("Origin"), Referer: r.Header.Get("Referer"),
	})
	if err != nil {
		if h := healthFrom(r.Context()); h != nil && !h.Up(dependency.Redis) {
			// The block store is Redis and it is out (ipGuard has just found
			// so): an outage, not a bug, and not the database's.
			return apperr.Unavailable()
		}
		return err
	}
	a.Metrics.trap.WithLabelValues(string(outcome)).Inc()
	a.Log.WarnContext(r.Context(), "edge: bot trap", "request_id", info.RequestID, "outcome", string(outcome),
		"reason", why, "ip", info.IP, "method", r.Method, "path", r.URL.Path, "user_agent", r.UserAgent())
	return errNotFoundPath
}

// listBlocks answers the dynamic blocks in force.
func (a *API) listBlocks(w http.ResponseWriter, r *http.Request) error {
	if a.Blocks == nil {
		writeJSON(w, http.StatusOK, map[string]any{"items": []edge.Block{}})
		return nil
	}
	bs, err := a.Blocks.List(r.Context())
	if err != nil {
		return err
	}
	if bs == nil {
		bs = []edge.Block{}
	}
	// responses: the record of the blocks responses to findings raised
	// (address, card, account), with the finding and the repeat count; an
	// address block among them is also one of items.
	rs := []response.Block{}
	if a.ResponseBlocks != nil {
		if rs, err = a.ResponseBlocks.List(r.Context()); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": bs, "responses": rs})
	return nil
}

// liftBlockStepUp ends a block with a login from the last five minutes: a
// block a response raised (rbk_ id: its address, card or account is let in
// again, audited as response.block_lifted), or an edge block (blk_ id, as
// DELETE, audited as edge.block_lifted).
func (a *API) liftBlockStepUp(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if strings.HasPrefix(id, "rbk_") {
		if a.ResponseBlocks == nil {
			return apperr.NotFound("block")
		}
		b, err := a.ResponseBlocks.Lift(r.Context(), id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, b)
		return nil
	}
	if _, err := access.RequireRecent(r.Context(), access.BlocksManage, a.Now()); err != nil {
		return err
	}
	return a.liftBlock(w, r)
}

// liftBlock ends a dynamic block, audited as edge.block_lifted.
func (a *API) liftBlock(w http.ResponseWriter, r *http.Request) error {
	if a.Blocks == nil {
		return apperr.NotFound("block")
	}
	by := "api"
	if p := access.PrincipalFrom(r.Context()); p != nil {
		by = "user " + p.UserID
		if p.KeyID != "" {
			by = "api key " + p.KeyID
		}
	}
	if err := a.Blocks.Lift(r.Context(), r.PathValue("id"), by); err != nil {
		if errors.Is(err, edge.ErrNoBlock) {
			return apperr.NotFound("block")
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
