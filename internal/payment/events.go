package payment

import (
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
)

// Event is a notification the card processor sent the shop about one of its
// payments (Stripe's webhook events), once its signature was checked.
type Event struct {
	// ID is the processor's id of the event: the same event delivered twice
	// (the processor retries) has the same id, and is acted on once.
	ID   string
	Type string
	// AuthorizationID is the payment the event is about (the PaymentIntent),
	// "" when it names none.
	AuthorizationID string
	// Created is when the processor made the event.
	Created time.Time
}

// Codes of the refusals of a processor event.
const (
	CodeEventUnverified = "processor_event_unverified"
	CodeEventTooOld     = "processor_event_too_old"
)

// Refusals of a processor event: its body is not what the processor signed
// with the shop's secret, or it was signed too long ago to be anything but a
// replay of a recorded delivery.
var (
	ErrEventUnverified = apperr.New(CodeEventUnverified, "the event's signature does not verify with this shop's endpoint secret")
	ErrEventTooOld     = apperr.New(CodeEventTooOld, "the event's signature is older than the tolerance: a replayed delivery is refused")
)
