package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/dependency"
	"github.com/bulwark-shop/bulwark/internal/reqinfo"
)

// problem is an RFC 9457 problem document with Bulwark's extension members.
type problem struct {
	Type      string              `json:"type"`
	Title     string              `json:"title"`
	Status    int                 `json:"status"`
	Detail    string              `json:"detail,omitempty"`
	Code      string              `json:"code"`
	RequestID string              `json:"request_id,omitempty"`
	Errors    []apperr.FieldError `json:"errors,omitempty"`
}

// problemTypeBase prefixes each code to make the problem's type URI.
const problemTypeBase = "urn:bulwark:problem:"

// statusOf is the one mapping from kinds of application errors to HTTP
// statuses (every code's kind is in apperr's table; TestErrorCodes lists each
// code with its status). KindUnknown, a code missing from that table, is 500.
func statusOf(k apperr.Kind) int {
	switch k {
	case apperr.KindMalformed:
		return http.StatusBadRequest
	case apperr.KindUnauthenticated:
		return http.StatusUnauthorized
	case apperr.KindPaymentDeclined:
		return http.StatusPaymentRequired
	case apperr.KindForbidden:
		return http.StatusForbidden
	case apperr.KindNotFound:
		return http.StatusNotFound
	case apperr.KindMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case apperr.KindConflict:
		return http.StatusConflict
	case apperr.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case apperr.KindURITooLong:
		return http.StatusRequestURITooLong
	case apperr.KindUnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case apperr.KindInvalid:
		return http.StatusUnprocessableEntity
	case apperr.KindRateLimited:
		return http.StatusTooManyRequests
	case apperr.KindHeaderTooLarge:
		return http.StatusRequestHeaderFieldsTooLarge
	case apperr.KindUnavailable:
		return http.StatusServiceUnavailable
	default: // KindInternal, KindUnknown
		return http.StatusInternalServerError
	}
}

// writeError answers err as problem+json. An *apperr.Error is shown as it is;
// a dependency outage (dependency.Classify) is 503 unavailable with
// Retry-After, logged once per outage by health rather than once per request;
// anything else is logged with the request id and answered with a bare 500
// that names only the request id.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var e *apperr.Error
	if name, outage := dependency.Classify(err); outage && !errors.As(err, &e) {
		if h := healthFrom(r.Context()); h != nil {
			h.Down(name, err)
		}
		writeProblem(w, r, apperr.Unavailable())
		return
	}
	if !errors.As(err, &e) {
		log.ErrorContext(r.Context(), "request failed", "request_id", reqinfo.From(r.Context()).RequestID,
			"method", r.Method, "route", r.Pattern, "err", err)
		e = &apperr.Error{Code: apperr.CodeInternal, Message: "the server could not complete the request; quote the request id when reporting it"}
	} else if e.Kind() == apperr.KindUnknown {
		// A code missing from apperr's table (TestErrorCodes finds it before
		// a release): it answers 500, and says so here.
		log.ErrorContext(r.Context(), "error code has no kind: add it to internal/apperr/kind.go", "request_id", reqinfo.From(r.Context()).RequestID,
			"method", r.Method, "route", r.Pattern, "code", e.Code)
	}
	writeProblem(w, r, e)
}

func writeProblem(w http.ResponseWriter, r *http.Request, e *apperr.Error) {
	status := statusOf(e.Kind())
	p := problem{
		Type:      problemTypeBase + e.Code,
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    e.Message,
		Code:      e.Code,
		RequestID: reqinfo.From(r.Context()).RequestID,
		Errors:    e.Fields,
	}
	w.Header().Set("Content-Type", "application/problem+json; charset=utf-8")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="bulwark"`) // RFC 6750
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p) // the client may be gone; nothing to do about it
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do about it
}
