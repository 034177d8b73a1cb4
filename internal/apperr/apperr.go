// Package apperr is Bulwark's one error vocabulary. An *Error carries a stable,
// snake_case code that clients may switch on and a message that is safe to show;
// anything that is not an *Error is an internal failure whose detail belongs in
// the log, never in a response. Each code has a kind (kind.go), decided once in
// one table; the HTTP layer maps kinds to statuses in one place, and
// TestErrorCodes (internal/httpapi) checks that every code the program makes
// has a kind and is in docs/API.md's table with its status.
package apperr

import (
	"errors"
	"fmt"
	"time"
)

// Codes shared across capabilities. Packages may define their own codes too;
// every code has its kind in the table of kind.go.
const (
	CodeInvalidJSON          = "invalid_json"
	CodeValidation           = "validation_failed"
	CodeNotFound             = "not_found"
	CodeUnauthenticated      = "unauthenticated"
	CodeForbidden            = "forbidden"
	CodeConflict             = "conflict"
	CodeInvalidCredentials   = "invalid_credentials"
	CodeWeakPassword         = "weak_password"
	CodeEmailTaken           = "email_taken"
	CodeSKUTaken             = "sku_taken"
	CodeInsufficientStock    = "insufficient_stock"
	CodeInvalidCursor        = "invalid_cursor"
	CodePayloadTooLarge      = "payload_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeCrossOrigin          = "cross_origin_rejected"
	CodeCannotDemoteSelf     = "cannot_demote_self"
	CodeStaffAccount         = "staff_account"
	CodeNotReady             = "not_ready"
	CodeTooManyAttempts      = "too_many_attempts"
	CodeRateLimited          = "rate_limited"
	// CodeOverloaded refuses work the server has no capacity for right now
	// (503 with Retry-After); the client may retry shortly.
	CodeOverloaded = "overloaded"
	// CodeUnavailable answers a request that met a dependency outage (the
	// database, the disk, the card vault): 503 with Retry-After, never a 500.
	CodeUnavailable = "unavailable"
	CodeInternal    = "internal_error"

	// Pricing (internal/pricing). Invalid and unavailable are 422: the client
	// can change the cart or the choice; exhausted and price_changed are 409:
	// the state moved under the client.
	CodeDiscountInvalid     = "discount_invalid"
	CodeDiscountExhausted   = "discount_exhausted"
	CodeShippingUnavailable = "shipping_unavailable"
	CodeCurrencyNotSold     = "currency_not_sold"
	CodePriceChanged        = "price_changed"
	CodeTaxRateOverlap      = "tax_rate_overlap"
	CodeDiscountCodeTaken   = "discount_code_taken"
)

// FieldError names one invalid field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is an application error that is safe to show to the client.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
	// RetryAfter, when set, tells the client when to try again.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Kind is the kind of e's code: a code has one kind, so that a refusal made
// again from its stored code alone answers as the first one did.
func (e *Error) Kind() Kind { return KindOf(e.Code) }

// New returns an *Error with the given code and safe message. The code must be
// in the table of kind.go (TestErrorCodes fails otherwise).
func New(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// NotFound is the one answer for "does not exist" and "belongs to someone else".
func NotFound(what string) *Error {
	return &Error{Code: CodeNotFound, Message: what + " not found"}
}

// UnavailableRetry is the Retry-After of a dependency outage: long enough not
// to hammer a recovering dependency, short enough for a customer to wait.
const UnavailableRetry = 5 * time.Second

// Unavailable is the answer to a request that met a dependency outage. It
// names no dependency: which one is out belongs in the log and /readyz.
func Unavailable() *Error {
	return &Error{Code: CodeUnavailable, Message: "a service the shop depends on is unavailable; retry after the time in Retry-After",
		RetryAfter: UnavailableRetry}
}

// Code returns the application code of err, or CodeInternal when err is not an *Error.
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Validator collects field errors so a request can report all of them at once.
type Validator struct{ fields []FieldError }

// Check records message for field when ok is false.
func (v *Validator) Check(ok bool, field, message string) {
	if !ok {
		v.fields = append(v.fields, FieldError{Field: field, Message: message})
	}
}

// Err returns a validation_failed *Error listing every failed check, or nil.
func (v *Validator) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &Error{Code: CodeValidation, Message: "the request has invalid fields", Fields: v.fields}
}

// CheckCountry records a problem when c is not shaped as an ISO 3166-1
// alpha-2 code (two capital letters); with optional, "" is accepted.
func (v *Validator) CheckCountry(field, c string, optional bool) {
	if optional && c == "" {
		return
	}
	v.Check(len(c) == 2 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z', field,
		"must be an ISO 3166-1 alpha-2 code such as DE")
}

// CheckText records a problem when s is shorter than min or longer than max
// characters, or holds control characters (tab and newline allowed only when
// multiline). NUL and other control bytes would otherwise reach storage, logs and
// terminals; PostgreSQL refuses NUL in text outright.
func (v *Validator) CheckText(field, s string, min, max int, multiline bool) {
	n := 0
	for _, r := range s {
		n++
		if r == 0x7f || (r < 0x20 && !(multiline && (r == '\n' || r == '\t' || r == '\r'))) || (r >= 0x80 && r < 0xa0) {
			v.Check(false, field, "must not contain control characters")
			return
		}
	}
	switch {
	case n < min && min == 1:
		v.Check(false, field, "is required")
	case n < min:
		v.Check(false, field, fmt.Sprintf("must be at least %d characters", min))
	case n > max:
		v.Check(false, field, fmt.Sprintf("must be at most %d characters", max))
	}
}
