package httpapi

import (
	"net/http"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/identity/password"
	"github.com/bulwark-shop/bulwark/internal/reqinfo"
)

// errOverloaded answers a request past the in-flight cap. One second is long
// enough for the requests in flight to drain (most take milliseconds) and short
// enough that a shopper's retry lands soon.
var errOverloaded = &apperr.Error{Code: apperr.CodeOverloaded,
	Message: "the server is at capacity; retry after the time in Retry-After", RetryAfter: time.Second}

// shed caps the requests served at once at limit: past it, a request is
// answered 503 overloaded with Retry-After before any other work is done
// (address lists, WAF, rate limits, decoding, database), so a flood costs the
// server little more than the answer. /healthz and /readyz are neither counted
// nor refused: a load balancer must see whether the instance is alive and
// ready, not that it is busy, or it would pull every busy instance at once.
//
// It runs inside observe, so a refusal carries the request id and the baseline
// headers, and is logged and counted like any other answer.
func shed(next http.Handler, limit int, m *Metrics) http.Handler {
	slots := make(chan struct{}, limit)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		select {
		case slots <- struct{}{}:
		default:
			m.shed.Inc()
			writeProblem(w, r, errOverloaded)
			return
		}
		m.inFlight.Inc()
		defer func() {
			m.inFlight.Dec()
			<-slots
		}()
		next.ServeHTTP(w, r)
	})
}

// HashPool is the password-hashing pool (a *password.Hasher).
type HashPool interface {
	// RefuseEarly reports whether a request that needs a hash would be
	// refused now, counting the refusal.
	RefuseEarly() bool
	// RefuseSpareOnly reports whether a request that may take only spare
	// capacity would be refused now (any slot taken or anyone waiting),
	// counting the refusal.
	RefuseSpareOnly() bool
}

// hashRoutes are the requests that always cost a password hash: a login (a
// dummy hash for an unknown account), a registration, a new password.
var hashRoutes = map[string]bool{
	"/api/v1/auth/login":                  true,
	"/api/v1/auth/register":               true,
	"/api/v1/auth/password-reset/confirm": true,
	// The pages' forms that call those routes.
	"/signin":                 true,
	"/console/signin":         true,
	"/signup":                 true,
	"/reset-password/confirm": true,
}

// hashGate answers a request of hashRoutes 503 overloaded while the hashing
// pool is full, as the pool itself would, but before the firewall, decoding,
// rate limits and the account lookup: in a login flood past the pool's
// capacity most requests are refused, and each refusal then costs the CPUs
// checkout needs almost nothing (the firewall alone is about 2 ms a body).
func (a *API) hashGate(next http.Handler) http.Handler {
	if a.Passwords == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && hashRoutes[r.URL.Path] {
			// An address under a delay response (credential stuffing) takes
			// only what the pool has to spare: never a place another
			// client's sign-in would have had.
			refuse := a.Passwords.RefuseEarly
			if a.Delayed != nil && a.Delayed(reqinfo.AddressKey(reqinfo.From(r.Context()).IP)) {
				refuse = a.Passwords.RefuseSpareOnly
				// And its hash, a moment later, takes a free slot or none:
				// never a place in the queue.
				r = r.WithContext(password.SpareOnly(r.Context()))
			}
			if refuse() {
				writeProblem(w, r, password.ErrBusy)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
