package order

import (
	"context"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/payment"
)

// ActionProcessorEvent is the audit action of an event the card processor
// reported (an authorization it cancelled, a refund or a dispute opened in
// its dashboard): staff see in the trail what happened to an order's money
// outside the shop.
const ActionProcessorEvent = "payment.processor_event"

// EventStore keeps the processor's events.
type EventStore interface {
	// RecordProcessorEvent keeps ev with the order whose payment it names
	// and appends rec (with that order as target) in one transaction;
	// fresh is false, and nothing written, for an event already kept.
	RecordProcessorEvent(ctx context.Context, ev payment.Event, at time.Time, rec audit.Record) (orderID string, fresh bool, err error)
}

// ProcessorEvents takes the events the card processor posts, once their
// signature was checked (payment/stripe.EventVerifier): each is kept and
// audited once however often it is delivered.
type ProcessorEvents struct {
	store EventStore
	now   func() time.Time
}

// NewProcessorEvents returns the handler of the processor's events.
func NewProcessorEvents(store EventStore, now func() time.Time) *ProcessorEvents {
	return &ProcessorEvents{store: store, now: now}
}

// Handle records ev. It reports whether the event was new.
func (p *ProcessorEvents) Handle(ctx context.Context, ev payment.Event) (bool, error) {
	target := ev.AuthorizationID
	if target == "" {
		target = ev.ID
	}
	rec := audit.New(ctx, p.now(), ActionProcessorEvent, target, audit.Success,
		fmt.Sprintf("type=%s event=%s payment=%s", ev.Type, ev.ID, ev.AuthorizationID))
	_, fresh, err := p.store.RecordProcessorEvent(ctx, ev, p.now().UTC(), rec)
	if err != nil {
		return false, fmt.Errorf("processor event %s: %w", ev.ID, err)
	}
	return fresh, nil
}
