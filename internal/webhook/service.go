package webhook

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/id"
)

// Store keeps endpoints, their sealed secrets and the outbox. Events are
// written by the store itself, inside the transactions of the changes they
// report; the methods here serve staff and the Worker.
type Store interface {
	CreateWebhook(ctx context.Context, e Endpoint, s SealedSecret, rec audit.Record) error
	Webhooks(ctx context.Context) ([]Endpoint, error)
	// DeleteWebhook deletes the endpoint (ErrNotFound), its secrets and its
	// subscriptions, and cancels its pending deliveries.
	DeleteWebhook(ctx context.Context, endpointID string, at time.Time, rec audit.Record) error
	// RotateWebhookSecret adds s as the endpoint's current secret; the
	// secrets current until at still sign until graceUntil (ErrNotFound).
	RotateWebhookSecret(ctx context.Context, endpointID string, s SealedSecret, at, graceUntil time.Time, rec audit.Record) error
	// WebhookDeliveries lists an endpoint's deliveries (every endpoint's
	// for endpointID ""), newest first, with their attempts; status "" means any.
	WebhookDeliveries(ctx context.Context, endpointID, status string, limit int) ([]Delivery, error)
	// RetryWebhookDelivery makes a delivery that is not pending due at at
	// (ErrDeliveryNotFound, ErrDeliveryPending).
	RetryWebhookDelivery(ctx context.Context, deliveryID string, at time.Time, rec audit.Record) (Delivery, error)
	// ClaimWebhookDeliveries leases up to limit due deliveries to owner until
	// until; a delivery leased by an instance that stopped is claimed again
	// once its lease has run out.
	ClaimWebhookDeliveries(ctx context.Context, owner string, now, until time.Time, limit int) ([]Claim, error)
	// FinishAndClaimWebhookDeliveries records finished as
	// FinishWebhookAttempts does, then claims as ClaimWebhookDeliveries
	// does, in one transaction.
	FinishAndClaimWebhookDeliveries(ctx context.Context, finished []AttemptResult, owner string, now, until time.Time, limit int) ([]Claim, error)
	// FinishWebhookAttempts records attempts of deliveries their owners
	// hold, with their new statuses, all in one transaction; an attempt
	// whose delivery is no longer held is left out.
	FinishWebhookAttempts(ctx context.Context, rs []AttemptResult) error
}

// SealedSecret is a signing secret encrypted under the webhook keyset, with
// its id as associated data.
type SealedSecret struct {
	ID         string
	Ciphertext []byte
}

// Claim is a leased delivery with what sending it needs.
type Claim struct {
	Delivery Delivery
	URL      string
	Event    Event
	// Secrets sign the delivery: the current one first, then any in their grace.
	Secrets []SealedSecret
}

// AttemptResult is what FinishWebhookAttempts records of one attempt.
type AttemptResult struct {
	DeliveryID, Owner string
	Attempt           Attempt
	// Status is StatusPending (with NextAttemptAt), StatusSucceeded or StatusDead.
	Status        string
	NextAttemptAt time.Time
}

// AEAD seals secrets at rest (the webhook data keyset).
type AEAD interface {
	Encrypt(plaintext, associatedData []byte) ([]byte, error)
	Decrypt(ciphertext, associatedData []byte) ([]byte, error)
}

// URLChecker says whether the shop may call a URL (the egress guard).
type URLChecker interface {
	CheckURL(ctx context.Context, raw string) (*url.URL, error)
}

// Service is the staff administration of webhooks.
type Service struct {
	store Store
	aead  AEAD
	urls  URLChecker
	now   func() time.Time
}

// NewService returns the webhook administration.
func NewService(store Store, aead AEAD, urls URLChecker, now func() time.Time) *Service {
	return &Service{store: store, aead: aead, urls: urls, now: now}
}

// secretAD is a secret's associated data: its id (whs_...), so a sealed
// secret cannot be moved to another row, and re-encryption after a key
// rotation (rekey.Rows) finds it from the row's key.
func secretAD(secretID string) []byte { return []byte(secretID) }

func (s *Service) seal(secret string) (SealedSecret, error) {
	sid := id.New(id.WebhookSecret)
	ct, err := s.aead.Encrypt([]byte(secret), secretAD(sid))
	if err != nil {
		return SealedSecret{}, fmt.Errorf("seal webhook secret: %w", err)
	}
	return SealedSecret{ID: sid, Ciphertext: ct}, nil
}

func (s *Service) begin(ctx context.Context) (time.Time, error) {
	now := s.now()
	if _, err := access.RequireRecent(ctx, access.WebhooksManage, now); err != nil {
		return time.Time{}, err
	}
	return now.UTC().Truncate(time.Microsecond), nil
}

const maxURLLength = 2048

// Create registers an endpoint and returns it with its signing secret, which
// is shown this once: validation_failed for bad events, webhook_url_refused
// for a URL the shop will not call.
func (s *Service) Create(ctx context.Context, rawURL string, events []string) (Endpoint, string, error) {
	now, err := s.begin(ctx)
	if err != nil {
		return Endpoint{}, "", err
	}
	var v apperr.Validator
	evs, evErr := validEvents(events)
	v.Check(evErr == nil, "events", "one or more of "+strings.Join(Types(), ", "))
	v.Check(rawURL != "" && len(rawURL) <= maxURLLength, "url", "an https URL of at most 2048 characters")
	if err := v.Err(); err != nil {
		return Endpoint{}, "", err
	}
	if _, err := s.urls.CheckURL(ctx, rawURL); err != nil {
		return Endpoint{}, "", apperr.New(CodeURLRefused, "the shop will not call this URL: %s", err.Error())
	}
	e := Endpoint{ID: id.New(id.Webhook), URL: rawURL, Events: evs, CreatedAt: now}
	secret := NewSecret()
	sealed, err := s.seal(secret)
	if err != nil {
		return Endpoint{}, "", err
	}
	rec := audit.New(ctx, now, ActionCreate, e.ID, audit.Success, "events="+strings.Join(evs, ","))
	if err := s.store.CreateWebhook(ctx, e, sealed, rec); err != nil {
		return Endpoint{}, "", fmt.Errorf("create webhook: %w", err)
	}
	return e, secret, nil
}

// List returns every endpoint (never a secret).
func (s *Service) List(ctx context.Context) ([]Endpoint, error) {
	if _, err := access.Require(ctx, access.WebhooksManage); err != nil {
		return nil, err
	}
	return s.store.Webhooks(ctx)
}

// Delete deletes an endpoint: ErrNotFound.
func (s *Service) Delete(ctx context.Context, endpointID string) error {
	now, err := s.begin(ctx)
	if err != nil {
		return err
	}
	if !id.Valid(id.Webhook, endpointID) {
		return ErrNotFound
	}
	return s.store.DeleteWebhook(ctx, endpointID, now, audit.New(ctx, now, ActionDelete, endpointID, audit.Success, ""))
}

// RotateSecret gives an endpoint a new secret, returned this once; the old
// one still signs (beside the new) for RotationGrace. ErrNotFound.
func (s *Service) RotateSecret(ctx context.Context, endpointID string) (string, time.Time, error) {
	now, err := s.begin(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	if !id.Valid(id.Webhook, endpointID) {
		return "", time.Time{}, ErrNotFound
	}
	secret := NewSecret()
	sealed, err := s.seal(secret)
	if err != nil {
		return "", time.Time{}, err
	}
	until := now.Add(RotationGrace)
	rec := audit.New(ctx, now, ActionRotate, endpointID, audit.Success, "old secret signs until "+until.Format(time.RFC3339))
	if err := s.store.RotateWebhookSecret(ctx, endpointID, sealed, now, until, rec); err != nil {
		return "", time.Time{}, err
	}
	return secret, until, nil
}

// Deliveries lists an endpoint's deliveries, newest first; status filters
// (dead lists the dead letters). ErrNotFound.
func (s *Service) Deliveries(ctx context.Context, endpointID, status string, limit int) ([]Delivery, error) {
	if _, err := access.Require(ctx, access.WebhooksManage); err != nil {
		return nil, err
	}
	if !id.Valid(id.Webhook, endpointID) {
		return nil, ErrNotFound
	}
	if err := checkStatus(status); err != nil {
		return nil, err
	}
	return s.store.WebhookDeliveries(ctx, endpointID, status, limit)
}

// checkStatus refuses a delivery status filter that is not a status ("" is any).
func checkStatus(status string) error {
	switch status {
	case "", StatusPending, StatusSucceeded, StatusDead, StatusCancelled:
		return nil
	}
	var v apperr.Validator
	v.Check(false, "status", "pending, succeeded, dead or cancelled")
	return v.Err()
}

// Retry sends a delivery again now, with the same event id and body (a dead
// letter, or one that succeeded and the receiver lost). ErrDeliveryNotFound,
// ErrDeliveryPending.
func (s *Service) Retry(ctx context.Context, deliveryID string) (Delivery, error) {
	now, err := s.begin(ctx)
	if err != nil {
		return Delivery{}, err
	}
	return retry(ctx, s.store, deliveryID, now, "")
}

// retry is the one rule of a retry, for staff and operators alike: a
// delivery that is not pending (dead, or succeeded and lost by the
// receiver) of an endpoint that is not deleted is due again at now, with
// the same event id and body, and audited.
func retry(ctx context.Context, store Store, deliveryID string, now time.Time, detail string) (Delivery, error) {
	if !id.Valid(id.WebhookDelivery, deliveryID) {
		return Delivery{}, ErrDeliveryNotFound
	}
	return store.RetryWebhookDelivery(ctx, deliveryID, now, audit.New(ctx, now, ActionRetry, deliveryID, audit.Success, detail))
}
