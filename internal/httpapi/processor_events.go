package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/payment"
)

// EventVerifier checks an event the card processor signed.
type EventVerifier interface {
	Verify(payload []byte, header string) (payment.Event, error)
}

// bodyLimitProcessorEvent is the largest event taken: Stripe's events are a
// few kilobytes. A body past anonymousBodyLimit reaches the firewall only
// once its signature verified (verifyStripeBody), so a stranger cannot make
// it read 64 KiB.
const bodyLimitProcessorEvent = 64 << 10

// verifyStripeBody proves a large event's sender before the firewall reads
// it: only Stripe, with the endpoint's secret, can sign it.
func (a *API) verifyStripeBody(r *http.Request) error {
	if a.StripeEvents == nil {
		return errProcessorEventsOff
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return apperr.New(apperr.CodeInvalidJSON, "the body could not be read")
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	_, err = a.StripeEvents.Verify(body, r.Header.Get("Stripe-Signature"))
	return err
}

var errProcessorEventsOff = apperr.NotFound("processor event endpoint (payment-gateway is not stripe, or stripe-webhook-secret is not set)")

// stripeEvent takes an event Stripe posts: 200 once its signature verifies
// (whether it was new or a repeat, so that Stripe stops retrying), 400 for a
// body whose signature does not verify or is too old (a replay).
func (a *API) stripeEvent(w http.ResponseWriter, r *http.Request) error {
	if a.ProcessorEvents == nil || a.StripeEvents == nil {
		return errProcessorEventsOff
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, bodyLimitProcessorEvent))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return apperr.New(apperr.CodePayloadTooLarge, "the body is larger than %d bytes", bodyLimitProcessorEvent)
	}
	if err != nil {
		return apperr.New(apperr.CodeInvalidJSON, "the body could not be read")
	}
	ev, err := a.StripeEvents.Verify(body, r.Header.Get("Stripe-Signature"))
	if err != nil {
		return err
	}
	fresh, err := a.ProcessorEvents.Handle(r.Context(), ev)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"received": true, "duplicate": !fresh})
	return nil
}
