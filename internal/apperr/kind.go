package apperr

// Kind is what sort of refusal an error is, in the closed set that a
// transport maps to its own answers (the HTTP layer to statuses, in one
// function). A code has one kind for good: a refusal replayed from its stored
// code alone must answer as the first one did. So the kind belongs to the
// code, in the table below, not to the place that makes the error: there are
// no constructors per kind, which would let one code be made with two kinds.
type Kind uint8

// The kinds, one per status that Bulwark answers with.
const (
	// KindUnknown is the kind of a code missing from the table below: a bug,
	// which TestErrorCodes (internal/httpapi) finds before the program runs.
	KindUnknown Kind = iota
	KindInternal
	KindMalformed        // the request cannot be read: 400
	KindUnauthenticated  // who is asking is not known, or not proven enough: 401
	KindPaymentDeclined  // the payment was refused: 402
	KindForbidden        // the caller may not do this: 403
	KindNotFound         // no such thing, or someone else's: 404
	KindMethodNotAllowed // 405
	KindConflict         // the state of things does not allow it now: 409
	KindTooLarge         // the body is too large: 413
	KindURITooLong       // 414
	KindUnsupportedMedia // 415
	KindInvalid          // read, but not acceptable: 422
	KindRateLimited      // too many requests or attempts: 429
	KindHeaderTooLarge   // 431
	KindUnavailable      // the server cannot serve it now; try again: 503
)

var kindNames = [...]string{"unknown", "internal", "malformed", "unauthenticated", "payment_declined", "forbidden", "not_found",
	"method_not_allowed", "conflict", "too_large", "uri_too_long", "unsupported_media", "invalid", "rate_limited",
	"header_too_large", "unavailable"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Kinds is every kind but KindUnknown, for tests that check a mapping is whole.
func Kinds() []Kind {
	ks := make([]Kind, 0, len(kindNames)-1)
	for k := KindInternal; int(k) < len(kindNames); k++ {
		ks = append(ks, k)
	}
	return ks
}

// kinds is every error code of the program and its kind, in one table: a
// code's status is decided here once, wherever the code is defined (most
// packages define their own). A code that is not here has KindUnknown and
// fails TestErrorCodes. The table is only read once the program has started.
var kinds = map[string]Kind{
	CodeInternal: KindInternal,

	CodeInvalidJSON:              KindMalformed,
	CodeInvalidCursor:            KindMalformed,
	"idempotency_key_required":   KindMalformed, // order
	"invalid_reset_token":        KindMalformed, // identity
	"invalid_verification_token": KindMalformed, // identity
	"ambiguous_framing":          KindMalformed, // httpapi
	"processor_event_unverified": KindMalformed, // payment
	"processor_event_too_old":    KindMalformed, // payment

	CodeUnauthenticated:         KindUnauthenticated,
	CodeInvalidCredentials:      KindUnauthenticated,
	"mfa_required":              KindUnauthenticated, // identity
	"invalid_otp":               KindUnauthenticated, // identity
	"invalid_mfa_ticket":        KindUnauthenticated, // identity
	"passkey_failed":            KindUnauthenticated, // identity
	"oidc_failed":               KindUnauthenticated, // identity
	"reauthentication_required": KindUnauthenticated, // access

	"payment_declined": KindPaymentDeclined, // order

	CodeForbidden:              KindForbidden,
	CodeCrossOrigin:            KindForbidden,
	"mfa_enrollment_required":  KindForbidden, // access
	"enrollment_code_required": KindForbidden, // identity
	"invalid_enrollment_code":  KindForbidden, // identity
	"request_blocked":          KindForbidden, // edge
	"https_required":           KindForbidden, // httpapi

	CodeNotFound: KindNotFound,

	CodeMethodNotAllowed: KindMethodNotAllowed,

	CodeConflict:             KindConflict,
	CodeEmailTaken:           KindConflict,
	CodeSKUTaken:             KindConflict,
	CodeInsufficientStock:    KindConflict,
	CodeCannotDemoteSelf:     KindConflict,
	CodeStaffAccount:         KindConflict,
	"out_of_stock":           KindConflict, // order
	"request_in_progress":    KindConflict, // order
	"refund_exceeds_capture": KindConflict, // order
	"checkout_in_progress":   KindConflict, // checkout, cart
	CodeDiscountExhausted:    KindConflict,
	CodePriceChanged:         KindConflict,
	CodeTaxRateOverlap:       KindConflict,
	CodeDiscountCodeTaken:    KindConflict,
	"variant_options_taken":  KindConflict, // catalog
	"slug_taken":             KindConflict, // catalog
	"category_cycle":         KindConflict, // catalog
	"category_has_children":  KindConflict, // catalog

	"webhook_delivery_pending": KindConflict, // webhook

	CodePayloadTooLarge: KindTooLarge,

	"uri_too_long": KindURITooLong, // httpapi

	CodeUnsupportedMediaType: KindUnsupportedMedia,

	CodeValidation:           KindInvalid,
	CodeWeakPassword:         KindInvalid,
	"idempotency_key_reused": KindInvalid, // order
	"cart_empty":             KindInvalid, // order
	"oidc_email_unverified":  KindInvalid, // identity
	CodeDiscountInvalid:      KindInvalid,
	CodeShippingUnavailable:  KindInvalid,
	CodeCurrencyNotSold:      KindInvalid,
	"not_priced_in_currency": KindInvalid, // catalog
	"variant_required":       KindInvalid, // catalog
	"too_many_variants":      KindInvalid, // catalog
	"not_single_variant":     KindInvalid, // catalog
	"category_too_deep":      KindInvalid, // catalog
	"shipping_required":      KindInvalid, // cart
	"region_required":        KindInvalid, // pricing

	"webhook_url_refused": KindInvalid, // webhook

	CodeTooManyAttempts: KindRateLimited,
	CodeRateLimited:     KindRateLimited,

	"header_too_large": KindHeaderTooLarge, // httpapi

	CodeNotReady:    KindUnavailable,
	CodeOverloaded:  KindUnavailable,
	CodeUnavailable: KindUnavailable,
}

// KindOf is the kind of code: KindUnknown for a code missing from the table.
func KindOf(code string) Kind { return kinds[code] }

// Codes is every code in the table with its kind (a copy).
func Codes() map[string]Kind {
	m := make(map[string]Kind, len(kinds))
	for c, k := range kinds {
		m[c] = k
	}
	return m
}
