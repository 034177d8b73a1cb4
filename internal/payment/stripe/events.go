package stripe

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/bulwark-shop/bulwark/internal/payment"
)

// EventTolerance is how old a signature may be: Stripe signs each delivery
// attempt anew, so an older one can only be a recorded delivery replayed.
const EventTolerance = 5 * time.Minute

// EventVerifier checks the events Stripe posts to the shop's endpoint
// against the endpoint's signing secret (whsec_…), with stripe-go's own
// verification (HMAC-SHA256 over the timestamp and body, compared in
// constant time, with a tolerance on the timestamp).
type EventVerifier struct {
	secret string
}

// NewEventVerifier returns a verifier for secret; it refuses an empty one.
func NewEventVerifier(secret string) (*EventVerifier, error) {
	if secret == "" {
		return nil, errors.New("stripe: no webhook signing secret")
	}
	return &EventVerifier{secret: secret}, nil
}

// Verify checks payload against the Stripe-Signature header and returns the
// event: payment.ErrEventUnverified for a missing, malformed or wrong
// signature (or a body that is not an event), payment.ErrEventTooOld for a
// signature past EventTolerance.
func (v *EventVerifier) Verify(payload []byte, header string) (payment.Event, error) {
	ev, err := webhook.ConstructEventWithOptions(payload, header, v.secret,
		webhook.ConstructEventOptions{Tolerance: EventTolerance, IgnoreAPIVersionMismatch: true})
	switch {
	case errors.Is(err, webhook.ErrTooOld):
		return payment.Event{}, payment.ErrEventTooOld
	case err != nil:
		return payment.Event{}, fmt.Errorf("%w: %w", payment.ErrEventUnverified, err)
	case ev.ID == "" || ev.Type == "":
		return payment.Event{}, payment.ErrEventUnverified
	}
	out := payment.Event{ID: ev.ID, Type: string(ev.Type), Created: time.Unix(ev.Created, 0).UTC()}
	if ev.Data != nil && len(ev.Data.Raw) > 0 {
		// The payment an event is about: the object itself for a
		// PaymentIntent's events, its payment_intent field for a charge's,
		// a refund's or a dispute's.
		var obj struct {
			ID            string `json:"id"`
			Object        string `json:"object"`
			PaymentIntent any    `json:"payment_intent"`
		}
		if json.Unmarshal(ev.Data.Raw, &obj) == nil {
			switch pi := obj.PaymentIntent.(type) {
			case string:
				out.AuthorizationID = pi
			case map[string]any: // expanded
				out.AuthorizationID, _ = pi["id"].(string)
			}
			if obj.Object == "payment_intent" {
				out.AuthorizationID = obj.ID
			}
		}
	}
	return out, nil
}
