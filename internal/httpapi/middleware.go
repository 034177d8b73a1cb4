package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/detect"
	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/reqinfo"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the API's Prometheus collectors.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	limited  *prometheus.CounterVec
	waf      *prometheus.CounterVec
	inFlight prometheus.Gauge
	shed     prometheus.Counter
	trap     *prometheus.CounterVec
}

// NewMetrics registers the API's collectors on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_http_requests_total", Help: "HTTP requests by route and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bulwark_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_rate_limited_total", Help: "Requests refused by a rate limit, by route class and key (address or account).",
		}, []string{"class", "scope"}),
		waf: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_waf_requests_total", Help: "Requests (and responses) the web application firewall inspected, by mode and outcome (pass, blocked, detected, error).",
		}, []string{"mode", "outcome"}),
	}
	m.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "bulwark_http_in_flight", Help: "Requests being served now, under the max-in-flight cap (health checks not counted).",
	})
	m.shed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bulwark_http_shed_total", Help: "Requests refused 503 overloaded because max-in-flight were being served.",
	})
	m.trap = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bulwark_bot_trap_total", Help: "Requests to the bot trap, by outcome: blocked, cross_site (a third-party page could have caused it: not blocked), exempt (loopback or trusted proxy: not blocked).",
	}, []string{"outcome"})
	reg.MustRegister(m.requests, m.duration, m.limited, m.waf, m.inFlight, m.shed, m.trap)
	return m
}

// statusWriter remembers the status written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// newRequestID returns an id of 128 random bits. The server always makes its
// own: a client-chosen id could forge or collide with log lines. It is base32
// letters and digits 2-7, never a long run of digits that the log redaction
// would take for a card number.
func newRequestID() string { return id.New(id.Request) }

// clientIP is the client's address: the direct peer's, or when the peer is one
// of the trusted proxies, the right-most address of X-Forwarded-For that is not
// (edge.ClientIP). A client that is not behind a trusted proxy gains nothing by
// sending the header.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	return edge.ClientIP(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), trusted)
}

// observe is the outermost layer: it gives the request its id and the context
// its reqinfo, sets the headers every response carries, recovers panics into a
// bare 500, and logs and counts the request.
func observe(next http.Handler, log *slog.Logger, m *Metrics, tls bool, trusted []netip.Prefix) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := reqinfo.Info{RequestID: newRequestID(), IP: clientIP(r, trusted), UserAgent: r.UserAgent()}
		r = r.WithContext(reqinfo.With(r.Context(), info))
		h := w.Header()
		h.Set("X-Request-Id", info.RequestID)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		setEdgeHeaders(h, tls)
		// API answers hold personal data or stock that changes by the second; no
		// shared or browser cache may keep them.
		h.Set("Cache-Control", "no-store")
		// Until a handler says otherwise; a 204 carries it too, so every response
		// names its type and charset.
		h.Set("Content-Type", "application/json; charset=utf-8")
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(r.Context(), "panic serving request", "request_id", info.RequestID,
					"panic", v, "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeError(sw, r, log, errPanic)
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			elapsed := time.Since(start)
			m.requests.WithLabelValues(r.Method, route, strconv.Itoa(status)).Inc()
			m.duration.WithLabelValues(route).Observe(elapsed.Seconds())
			log.InfoContext(r.Context(), "request", "request_id", info.RequestID, "method", r.Method,
				"route", route, "status", status, "duration_ms", elapsed.Milliseconds(), "ip", info.IP)
		}()
		next.ServeHTTP(sw, r)
	})
}

// errPanic is not an *apperr.Error, so the client sees only a bare 500.
var errPanic = errors.New("handler panicked")

// routeMux answers unknown paths and wrong methods with problem+json instead of
// ServeMux's plain-text pages. They are rate limited per address (by admit)
// like the routes their method and path would belong to, so probing for paths is too.
func (a *API) routeMux(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, pattern := mux.Handler(r); pattern == "" {
			rec := &headerOnlyWriter{header: http.Header{}}
			h.ServeHTTP(rec, r)
			if allow := rec.header.Get("Allow"); rec.status == http.StatusMethodNotAllowed {
				w.Header().Set("Allow", allow)
				writeProblem(w, r, apperr.New(apperr.CodeMethodNotAllowed, "this path does not accept %s", r.Method))
				return
			}
			// Many of these from one client is force browsing (AppSensor ACE3).
			a.signal(r, detect.NotFound, map[string]string{"path": truncatePath(r.URL.EscapedPath())})
			writeProblem(w, r, apperr.NotFound("path"))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// headerOnlyWriter records the status and headers ServeMux's own error handlers write.
type headerOnlyWriter struct {
	header http.Header
	status int
}

func (w *headerOnlyWriter) Header() http.Header         { return w.header }
func (w *headerOnlyWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *headerOnlyWriter) WriteHeader(status int)      { w.status = status }

// truncatePath bounds a path kept as a finding's evidence: a scanner's
// paths are long and many. It is given the escaped path (percent-encoded,
// printable ASCII), so no control character or markup an attacker chose
// reaches a log, a terminal or a page that shows the evidence.
func truncatePath(p string) string {
	const limit = 128
	if len(p) <= limit {
		return p
	}
	return p[:limit] + "…"
}
