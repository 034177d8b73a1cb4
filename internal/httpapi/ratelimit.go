package httpapi

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/dependency"
	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/reqinfo"
)

// The rate-limit headers follow draft-ietf-httpapi-ratelimit-headers-11: each
// limit that applied is one item of RateLimit-Policy (q requests per w seconds)
// and one of RateLimit (r remaining, t seconds until the quota is whole again,
// or on a refusal until the next request may go).

// The client address's limit is applied by admit, before the firewall, with
// the request's cost (limitAddressCost), so a flood costs no rule evaluation
// and no session lookup.

// limitAccount applies class's limit to the authenticated caller as well, for
// the classes limited per account: one account behind many addresses gets no
// more than one budget. An API key is its own account.
func (a *API) limitAccount(w http.ResponseWriter, r *http.Request, class edge.Class) error {
	p := access.PrincipalFrom(r.Context())
	if p == nil || !edge.PerAccount(class) {
		return nil
	}
	key := "user:" + p.UserID
	if p.KeyID != "" {
		key = "key:" + p.KeyID
	}
	return a.limit(w, r, class, "account", key, 1)
}

func (a *API) limit(w http.ResponseWriter, r *http.Request, class edge.Class, scope, key string, cost int) error {
	if a.RateLimiter == nil || class == edge.Unlimited {
		return nil
	}
	lim := *a.RateLimits.Of(class)
	key = "rl:" + string(class) + ":" + scope + ":" + key
	var d edge.Decision
	var err error
	if h := healthFrom(r.Context()); a.LocalRateLimiter != nil && h != nil && !h.Up(dependency.Redis) {
		// Known down: no request waits on Redis until a probe finds it back.
		err = errRedisDown
	} else {
		d, err = a.RateLimiter.AllowN(r.Context(), key, lim, cost)
	}
	if err != nil {
		// The shared store (Redis) cannot answer. Refusing every request would
		// turn a Redis outage into a shop outage; letting every request
		// through would lift the limits for as long as Redis is down. So this
		// instance decides alone, in memory, until Redis is back: each
		// instance then grants at most one budget per client. The outage is
		// logged once by the tracker, not once per request.
		if h := healthFrom(r.Context()); h != nil && err != errRedisDown {
			h.Down(dependency.Redis, err)
		}
		if a.LocalRateLimiter == nil {
			return nil
		}
		if d, err = a.LocalRateLimiter.AllowN(r.Context(), key, lim, cost); err != nil {
			return nil // the memory store does not fail; were it to, fail open as before
		}
	}
	name := string(class)
	if scope == "account" {
		name += "-account"
	}
	h := w.Header()
	h.Add("RateLimit-Policy", fmt.Sprintf("%q;q=%d;w=%d", name, lim.Count, seconds(lim.Period)))
	if d.Allowed {
		h.Add("RateLimit", fmt.Sprintf("%q;r=%d;t=%d", name, d.Remaining, seconds(d.Reset)))
		return nil
	}
	wait := max(seconds(d.RetryAfter), 1)
	h.Add("RateLimit", fmt.Sprintf("%q;r=0;t=%d", name, wait))
	a.Metrics.limited.WithLabelValues(string(class), scope).Inc()
	a.Log.WarnContext(r.Context(), "rate limited", "request_id", reqinfo.From(r.Context()).RequestID,
		"class", string(class), "scope", scope, "ip", reqinfo.From(r.Context()).IP, "retry_after_s", wait)
	return &apperr.Error{Code: apperr.CodeRateLimited, Message: "too many requests; retry after the time in Retry-After",
		RetryAfter: time.Duration(wait) * time.Second}
}

// errRedisDown stands for the shared store's error while Redis is known down.
var errRedisDown = errors.New("redis is down")

// seconds rounds d up to whole seconds.
func seconds(d time.Duration) int64 { return int64(math.Ceil(d.Seconds())) }
