package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/catalog"
	"github.com/bulwark-shop/bulwark/internal/checkout"
	"github.com/bulwark-shop/bulwark/internal/dependency"
	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/order"
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

// statusOf is the one mapping from application codes to HTTP statuses.
func statusOf(code string) int {
	switch code {
	case apperr.CodeInvalidJSON, apperr.CodeInvalidCursor, order.CodeIdempotencyKeyRequired, "invalid_reset_token", "invalid_verification_token":
		return http.StatusBadRequest
	case CodeAmbiguousFraming:
		return http.StatusBadRequest
	case CodeURITooLong:
		return http.StatusRequestURITooLong
	case CodeHeaderTooLarge:
		return http.StatusRequestHeaderFieldsTooLarge
	case order.CodePaymentDeclined:
		return http.StatusPaymentRequired
	case order.CodeOutOfStock, order.CodeRequestInProgress, order.CodeRefundExceedsCapture, checkout.CodeCartCheckedOut:
		return http.StatusConflict
	case order.CodeIdempotencyKeyReused, order.CodeCartEmpty, "oidc_email_unverified":
		return http.StatusUnprocessableEntity
	case apperr.CodeUnauthenticated, apperr.CodeInvalidCredentials, identity.CodeMFARequired, identity.CodeInvalidOTP, access.CodeReauthenticationNeeded, "passkey_failed", "oidc_failed", identity.CodeInvalidMFATicket:
		return http.StatusUnauthorized
	case apperr.CodeForbidden, apperr.CodeCrossOrigin, access.CodeMFAEnrollmentRequired, edge.CodeRequestBlocked, CodeHTTPSRequired,
		identity.CodeEnrollmentCodeRequired, identity.CodeInvalidEnrollmentCode:
		return http.StatusForbidden
	case apperr.CodeNotFound:
		return http.StatusNotFound
	case apperr.CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case apperr.CodeConflict, apperr.CodeEmailTaken, apperr.CodeSKUTaken, apperr.CodeInsufficientStock, apperr.CodeCannotDemoteSelf, apperr.CodeStaffAccount:
		return http.StatusConflict
	case apperr.CodePayloadTooLarge:
		return http.StatusRequestEntityTooLarge
	case apperr.CodeUnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case apperr.CodeValidation, apperr.CodeWeakPassword:
		return http.StatusUnprocessableEntity
	case apperr.CodeDiscountInvalid, apperr.CodeShippingUnavailable, apperr.CodeCurrencyNotSold:
		return http.StatusUnprocessableEntity
	case apperr.CodeDiscountExhausted, apperr.CodePriceChanged, apperr.CodeTaxRateOverlap, apperr.CodeDiscountCodeTaken:
		return http.StatusConflict
	case apperr.CodeNotReady, apperr.CodeOverloaded, apperr.CodeUnavailable:
		return http.StatusServiceUnavailable
	case apperr.CodeTooManyAttempts, apperr.CodeRateLimited:
		return http.StatusTooManyRequests
	// The catalog's codes (issue 12).
	case catalog.CodeNotPriced, catalog.CodeVariantRequired, catalog.CodeTooManyVariants,
		catalog.CodeNotSingle, catalog.CodeCategoryTooDeep:
		return http.StatusUnprocessableEntity
	case catalog.CodeOptionsTaken, catalog.CodeSlugTaken, catalog.CodeCategoryNotEmpty, catalog.CodeCategoryCycle:
		return http.StatusConflict
	default:
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
	}
	writeProblem(w, r, e)
}

func writeProblem(w http.ResponseWriter, r *http.Request, e *apperr.Error) {
	status := statusOf(e.Code)
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
