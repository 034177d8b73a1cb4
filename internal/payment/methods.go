package payment

import (
	"context"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/detect"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/reqinfo"
	"github.com/bulwark-shop/bulwark/internal/vault"
)

// Audit actions of payment methods.
const (
	ActionMethodCreate = "payment_method.create"
	ActionMethodDelete = "payment_method.delete"
)

// ErrMethodNotFound is returned for a payment method that does not exist or
// belongs to someone else.
var ErrMethodNotFound = apperr.NotFound("payment method")

// MaxMethods bounds the saved cards per customer.
const MaxMethods = 20

// Method is a saved card as the shop keeps it.
type Method struct {
	ID        string
	OwnerID   string
	Token     string // the vault's token
	Brand     vault.Brand
	Last4     string
	ExpMonth  int
	ExpYear   int
	CreatedAt time.Time
	// BillingCountry is the country of the card's billing address (ISO
	// 3166-1 alpha-2), "" when not given: fraud rules compare it with the
	// shipping address's.
	BillingCountry string
}

// MethodStore keeps payment methods in the shop database.
type MethodStore interface {
	// CreateMethod stores m unless its owner already has MaxMethods.
	CreateMethod(ctx context.Context, m Method, max int, rec audit.Record) error
	Methods(ctx context.Context, ownerID string) ([]Method, error)
	// Method returns the owner's method; ErrMethodNotFound for another's.
	Method(ctx context.Context, ownerID, methodID string) (Method, error)
	DeleteMethod(ctx context.Context, ownerID, methodID string, rec audit.Record) error
}

// Vault keeps the cards behind saved payment methods: the embedded
// *vault.Vault, or a client of a vault in a process of its own.
type Vault interface {
	// Tokenize validates and stores a card; a validation_failed *apperr.Error
	// names the invalid fields without repeating the number.
	Tokenize(ctx context.Context, c vault.Card) (vault.Token, error)
	// Delete destroys the card behind token; an unknown token is not an error.
	Delete(ctx context.Context, token string) error
}

var _ Vault = (*vault.Vault)(nil)

// Methods is the saved-card use cases.
type Methods struct {
	store   MethodStore
	vault   Vault
	now     func() time.Time
	signals Signals
}

// NewMethods returns the payment-method service.
func NewMethods(store MethodStore, v Vault, now func() time.Time) *Methods {
	return &Methods{store: store, vault: v, now: now}
}

// Create checks the card, sends it to the vault and keeps the token, brand,
// last four digits, expiry and billing country ("" or ISO 3166-1 alpha-2)
// for the caller.
func (s *Methods) Create(ctx context.Context, c vault.Card, billingCountry string) (Method, error) {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return Method{}, err
	}
	var v apperr.Validator
	v.CheckCountry("billing_country", billingCountry, true)
	if err := v.Err(); err != nil {
		return Method{}, err
	}
	tok, err := s.vault.Tokenize(ctx, c)
	if err != nil {
		return Method{}, err
	}
	now := s.now().UTC()
	m := Method{ID: id.New(id.PaymentMethod), OwnerID: p.UserID, Token: tok.ID, Brand: tok.Brand, Last4: tok.Last4,
		ExpMonth: tok.ExpMonth, ExpYear: tok.ExpYear, CreatedAt: now, BillingCountry: billingCountry}
	rec := audit.New(ctx, now, ActionMethodCreate, m.ID, audit.Success, fmt.Sprintf("%s ending %s", m.Brand, m.Last4))
	if err := s.store.CreateMethod(ctx, m, MaxMethods, rec); err != nil {
		// The shop never kept the token: remove the card from the vault again.
		_ = s.vault.Delete(context.WithoutCancel(ctx), tok.ID)
		return Method{}, fmt.Errorf("save payment method: %w", err)
	}
	if s.signals != nil {
		// A card added right after a sign-in from a new network is how a
		// thief spends a taken account: a signal to takeover detection.
		s.signals.Report(ctx, detect.Signal{Kind: detect.AccountChanged, At: now, Account: p.UserID,
			IP: reqinfo.AddressKey(reqinfo.From(ctx).IP), Detail: map[string]string{"change": "card"}})
	}
	return m, nil
}

// Signals takes the security signals payment methods report (threat.Intake).
type Signals interface {
	Report(ctx context.Context, s detect.Signal)
}

// UseSignals makes Create report each card added to threat detection.
func (s *Methods) UseSignals(r Signals) { s.signals = r }

// List returns the caller's payment methods.
func (s *Methods) List(ctx context.Context) ([]Method, error) {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return nil, err
	}
	ms, err := s.store.Methods(ctx, p.UserID)
	if err != nil {
		return nil, fmt.Errorf("list payment methods: %w", err)
	}
	return ms, nil
}

// Get returns one of the caller's payment methods.
func (s *Methods) Get(ctx context.Context, methodID string) (Method, error) {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return Method{}, err
	}
	if !id.Valid(id.PaymentMethod, methodID) {
		return Method{}, ErrMethodNotFound
	}
	return s.store.Method(ctx, p.UserID, methodID)
}

// Delete removes one of the caller's payment methods and destroys the card in the vault.
func (s *Methods) Delete(ctx context.Context, methodID string) error {
	m, err := s.Get(ctx, methodID)
	if err != nil {
		return err
	}
	rec := audit.New(ctx, s.now(), ActionMethodDelete, m.ID, audit.Success, fmt.Sprintf("%s ending %s", m.Brand, m.Last4))
	if err := s.store.DeleteMethod(ctx, m.OwnerID, m.ID, rec); err != nil {
		return fmt.Errorf("delete payment method: %w", err)
	}
	if err := s.vault.Delete(ctx, m.Token); err != nil {
		return fmt.Errorf("delete payment method %s: %w", m.ID, err)
	}
	return nil
}
