package edge

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Class is a route class; each has its own limits.
type Class string

// The route classes.
const (
	// Auth: login, register, password reset and its confirmation, passkey and
	// OIDC begin and finish — the targets of guessing and stuffing.
	Auth Class = "auth"
	// Checkout: POST /api/v1/checkout, which reserves stock and charges cards.
	Checkout Class = "checkout"
	// Admin: every /api/v1/admin/ route.
	Admin Class = "admin"
	// Reads: every other GET.
	Reads Class = "reads"
	// Writes: everything else.
	Writes Class = "writes"
	// Unlimited: health and readiness probes, which load balancers and
	// orchestrators call often from few addresses; a refused probe would take
	// a healthy instance out of service.
	Unlimited Class = ""
)

// Classes lists every class, in the order of the documentation.
func Classes() []Class { return []Class{Auth, Checkout, Admin, Reads, Writes} }

// authRoutes are the auth class's route patterns.
var authRoutes = map[string]bool{
	"POST /api/v1/auth/login":                  true,
	"POST /api/v1/auth/register":               true,
	"POST /api/v1/auth/password-reset":         true,
	"POST /api/v1/auth/password-reset/confirm": true,
	"POST /api/v1/auth/verify-email":           true,
	"POST /api/v1/auth/mfa":                    true, // second factor after a password: guessable codes
	"POST /api/v1/auth/mfa/passkey/begin":      true,
	"POST /api/v1/auth/passkey/begin":          true,
	"POST /api/v1/auth/passkey/finish":         true,
	"GET /api/v1/auth/oidc/begin":              true,
	"GET /api/v1/auth/oidc/callback":           true,
	// The pages' sign-in forms (package pages), which call the routes above.
	"POST /signin":                 true,
	"POST /signin/mfa":             true,
	"GET /signin/oidc":             true,
	"POST /signup":                 true,
	"POST /verify-email":           true,
	"POST /reset-password":         true,
	"POST /reset-password/confirm": true,
	"POST /console/signin":         true,
	"POST /console/signin/mfa":     true,
}

// ClassOf returns the class of a route pattern ("METHOD /path", as in the
// route table).
func ClassOf(pattern string) Class {
	method, path, _ := strings.Cut(pattern, " ")
	switch {
	case pattern == "GET /healthz" || pattern == "GET /readyz":
		return Unlimited
	case authRoutes[pattern]:
		return Auth
	case pattern == "POST /api/v1/checkout", pattern == "POST /api/v1/guest/carts", pattern == "POST /api/v1/guest/carts/{id}/checkout",
		pattern == "POST /checkout":
		// A guest cart costs a guest row and a token; a guest checkout what
		// an account's does: both take the checkout budget. So does the
		// storefront's checkout form (package pages), which calls the API
		// in process, past this limit: without it, card testing through
		// the page would escape the checkout budget.
		return Checkout
	case strings.HasPrefix(path, "/api/v1/admin/"), path == "/console", strings.HasPrefix(path, "/console/"):
		// The console's pages are staff reads and writes, as the routes
		// they call.
		return Admin
	case method == "GET" || method == "HEAD":
		return Reads
	default:
		return Writes
	}
}

// Limit is a GCRA limit: Count requests per Period on average, of which up to
// Burst may come at once.
type Limit struct {
	Count  int
	Period time.Duration
	Burst  int
}

// ParseLimit reads "COUNT/PERIOD:BURST", such as "20/1m:10".
func ParseLimit(s string) (Limit, error) {
	rate, burst, ok := strings.Cut(s, ":")
	count, period, ok2 := strings.Cut(rate, "/")
	if !ok || !ok2 {
		return Limit{}, fmt.Errorf("limit %q: want COUNT/PERIOD:BURST such as 20/1m:10", s)
	}
	var l Limit
	var err error
	if l.Count, err = strconv.Atoi(count); err != nil || l.Count < 1 {
		return Limit{}, fmt.Errorf("limit %q: count must be a positive number", s)
	}
	if l.Period, err = time.ParseDuration(period); err != nil || l.Period < time.Second {
		return Limit{}, fmt.Errorf("limit %q: period must be a duration of at least 1s", s)
	}
	if l.Burst, err = strconv.Atoi(burst); err != nil || l.Burst < 1 {
		return Limit{}, fmt.Errorf("limit %q: burst must be a positive number", s)
	}
	if l.Period/time.Duration(l.Count) <= 0 {
		return Limit{}, fmt.Errorf("limit %q: more than one request per nanosecond", s)
	}
	return l, nil
}

// String is the ParseLimit form.
func (l Limit) String() string {
	return fmt.Sprintf("%d/%s:%d", l.Count, l.Period, l.Burst)
}

// interval is the emission interval T: one request's share of the period.
func (l Limit) interval() time.Duration { return l.Period / time.Duration(l.Count) }

// tolerance is how far ahead of now the theoretical arrival time may run: Burst
// requests' worth.
func (l Limit) tolerance() time.Duration { return l.interval() * time.Duration(l.Burst) }

// Store keeps one theoretical arrival time (TAT) per key.
type Store interface {
	// Take applies GCRA to key at now atomically: with tat the stored TAT or
	// now, whichever is later, a request is allowed when tat+interval-now <=
	// tolerance, and then the TAT becomes tat+interval and expires when it has
	// passed. It returns whether the request was allowed and the TAT after the
	// decision.
	Take(ctx context.Context, key string, now time.Time, interval, tolerance time.Duration) (allowed bool, tat time.Time, err error)
}

// Decision is the answer for one request.
type Decision struct {
	Allowed bool
	// Remaining is how many more requests would be allowed right now.
	Remaining int
	// Reset is how long until the full burst is available again.
	Reset time.Duration
	// RetryAfter is how long a refused client must wait (0 when allowed).
	RetryAfter time.Duration
}

// Limiter decides requests by GCRA over a Store.
type Limiter struct {
	store Store
	now   func() time.Time
}

// NewLimiter returns a limiter over store reading time from now.
func NewLimiter(store Store, now func() time.Time) *Limiter {
	return &Limiter{store: store, now: now}
}

// Allow decides one request for key under lim. It returns the store's error,
// wrapped, when the store cannot answer.
func (l *Limiter) Allow(ctx context.Context, key string, lim Limit) (Decision, error) {
	return l.AllowN(ctx, key, lim, 1)
}

// AllowN decides a request that costs cost requests' worth of lim (at least
// 1, at most lim.Burst, so that even the dearest request can get through
// once the budget is whole). An expensive request (a large body the firewall
// must inspect) thus drains the budget faster than a cheap one. It returns
// the store's error, wrapped, when the store cannot answer.
func (l *Limiter) AllowN(ctx context.Context, key string, lim Limit, cost int) (Decision, error) {
	if lim.Count < 1 || lim.Burst < 1 || lim.interval() <= 0 {
		return Decision{}, errors.New("rate limit: invalid limit " + lim.String())
	}
	cost = min(max(cost, 1), lim.Burst)
	now := l.now()
	interval, tolerance := lim.interval(), lim.tolerance()
	// GCRA with a weight: the request advances the TAT by cost intervals.
	step := interval * time.Duration(cost)
	allowed, tat, err := l.store.Take(ctx, key, now, step, tolerance)
	if err != nil {
		return Decision{}, fmt.Errorf("rate limit %s: %w", key, err)
	}
	ahead := max(tat.Sub(now), 0)
	if !allowed {
		return Decision{Allowed: false, Reset: ahead, RetryAfter: max(ahead+step-tolerance, time.Nanosecond)}, nil
	}
	return Decision{Allowed: true, Remaining: int((tolerance - ahead) / interval), Reset: ahead}, nil
}

// CostUnit is the body size that costs one more request's worth of a rate
// limit: a request costs 1 + body bytes / CostUnit (see Cost). The firewall
// spends about as much on each KiB of body as on a whole small request.
const CostUnit = 1 << 10

// Cost is the rate-limit cost of a request with a body of n bytes: the
// firewall's work grows with the body, so a 4 KiB body counts as 5 requests.
func Cost(n int64) int {
	if n <= 0 {
		return 1
	}
	return int(1 + n/CostUnit)
}

// Limits holds each class's limit. It is a comparable value, like the rest of
// the configuration.
type Limits struct {
	Auth, Checkout, Admin, Reads, Writes Limit
}

// Of returns class's limit, for reading or setting.
func (l *Limits) Of(class Class) *Limit {
	switch class {
	case Auth:
		return &l.Auth
	case Checkout:
		return &l.Checkout
	case Admin:
		return &l.Admin
	case Reads:
		return &l.Reads
	default:
		return &l.Writes
	}
}

// PerAccount reports whether class is limited per account as well as per
// client address: checkout and admin, where one account behind many addresses
// could otherwise multiply its budget.
func PerAccount(class Class) bool { return class == Checkout || class == Admin }
