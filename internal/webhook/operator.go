package webhook

import (
	"context"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/id"
)

// Operator is the webhook administration of the command line (bulwark
// webhooks ...). Whoever runs it holds the database and its settings
// already, so it asks for no principal; what it changes follows the rules
// of the API's (Service) and is audited like the other commands, with the
// system as actor and "from the command line" as detail.
type Operator struct {
	store Store
	now   func() time.Time
}

// NewOperator returns the command line's webhook administration.
func NewOperator(store Store, now func() time.Time) *Operator {
	return &Operator{store: store, now: now}
}

// MaxOperatorList bounds a delivery listing of the command line.
const MaxOperatorList = 1000

// List returns every endpoint that is not deleted (never a secret).
func (o *Operator) List(ctx context.Context) ([]Endpoint, error) {
	return o.store.Webhooks(ctx)
}

// Deliveries lists deliveries, newest first: of one endpoint, or of every
// endpoint for endpointID ""; status filters as in Service.Deliveries; limit
// is 1 to MaxOperatorList. ErrNotFound for an unknown endpoint.
func (o *Operator) Deliveries(ctx context.Context, endpointID, status string, limit int) ([]Delivery, error) {
	if endpointID != "" && !id.Valid(id.Webhook, endpointID) {
		return nil, ErrNotFound
	}
	if err := checkStatus(status); err != nil {
		return nil, err
	}
	if limit < 1 || limit > MaxOperatorList {
		var v apperr.Validator
		v.Check(false, "limit", "1 to 1000")
		return nil, v.Err()
	}
	return o.store.WebhookDeliveries(ctx, endpointID, status, limit)
}

// Retry sends a delivery again now, as Service.Retry does:
// ErrDeliveryNotFound, ErrDeliveryPending, and ErrNotFound for a delivery
// of a deleted endpoint.
func (o *Operator) Retry(ctx context.Context, deliveryID string) (Delivery, error) {
	return retry(ctx, o.store, deliveryID, o.now().UTC().Truncate(time.Microsecond), "from the command line")
}
