// Package addressbook owns a customer's saved addresses: the places they ship
// to again and again, kept so that a checkout can name one by id instead of
// sending it whole. It guarantees that a customer sees, uses and deletes only
// their own addresses (another customer's id answers ErrNotFound, exactly as
// an id that does not exist), that an account keeps at most MaxPerCustomer of
// them, and that every saved address is valid as a shipping address
// (order.Address.Validate). Addresses are personal data: the store seals them
// under the owner's data key, the export includes them, and the erasure
// destroys them (package privacy).
package addressbook

import (
	"context"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/order"
)

// Audit actions. Their records name the address by id only: the audit trail
// is not sealed per person, so it must hold nothing of the address itself.
const (
	ActionCreate = "address.create"
	ActionDelete = "address.delete"
)

// MaxPerCustomer bounds the addresses an account keeps: an address book, not
// a place to store data.
const MaxPerCustomer = 20

// CodeFull is the code of ErrFull.
const CodeFull = "address_book_full"

// Errors.
var (
	// ErrNotFound is returned for an address that does not exist or is
	// another customer's.
	ErrNotFound = apperr.NotFound("address")
	// ErrFull refuses a new address to an account that has MaxPerCustomer.
	ErrFull = apperr.New(CodeFull, "an account keeps at most %d addresses; delete one first", MaxPerCustomer)
)

// Entry is a saved address.
type Entry struct {
	ID        string
	OwnerID   string
	Address   order.Address
	CreatedAt time.Time
}

// Store keeps the address book.
type Store interface {
	// CreateAddress stores e and appends rec, unless e's owner already has
	// max addresses (ErrFull) or was erased (ErrNotFound). Concurrent calls
	// for one owner never together pass max.
	CreateAddress(ctx context.Context, e Entry, max int, rec audit.Record) error
	// Addresses returns the owner's addresses, oldest first (at most max).
	Addresses(ctx context.Context, ownerID string) ([]Entry, error)
	// Address returns the owner's address; ErrNotFound for another's.
	Address(ctx context.Context, ownerID, addressID string) (Entry, error)
	// DeleteAddress removes the owner's address and appends rec;
	// ErrNotFound for another's.
	DeleteAddress(ctx context.Context, ownerID, addressID string, rec audit.Record) error
}

// Service is the address book use cases, for the caller in the context.
type Service struct {
	store Store
	now   func() time.Time
}

// NewService returns the address book.
func NewService(store Store, now func() time.Time) *Service {
	return &Service{store: store, now: now}
}

// Create validates a and saves it in the caller's address book. Field
// problems are reported under "address." (the request's field); ErrFull past
// MaxPerCustomer.
func (s *Service) Create(ctx context.Context, a order.Address) (Entry, error) {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return Entry{}, err
	}
	var v apperr.Validator
	a.Validate(&v, "address")
	if err := v.Err(); err != nil {
		return Entry{}, err
	}
	now := s.now().UTC()
	e := Entry{ID: id.New(id.Address), OwnerID: p.UserID, Address: a, CreatedAt: now}
	rec := audit.New(ctx, now, ActionCreate, e.ID, audit.Success, "")
	if err := s.store.CreateAddress(ctx, e, MaxPerCustomer, rec); err != nil {
		return Entry{}, fmt.Errorf("save address: %w", err)
	}
	return e, nil
}

// List returns the caller's addresses, oldest first.
func (s *Service) List(ctx context.Context) ([]Entry, error) {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return nil, err
	}
	es, err := s.store.Addresses(ctx, p.UserID)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	return es, nil
}

// Get returns one of the caller's addresses; ErrNotFound for a malformed id
// and for another customer's.
func (s *Service) Get(ctx context.Context, addressID string) (Entry, error) {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return Entry{}, err
	}
	if !id.Valid(id.Address, addressID) {
		return Entry{}, ErrNotFound
	}
	return s.store.Address(ctx, p.UserID, addressID)
}

// Resolve returns the address a checkout names by id (checkout.Addresses).
func (s *Service) Resolve(ctx context.Context, addressID string) (order.Address, error) {
	e, err := s.Get(ctx, addressID)
	if err != nil {
		return order.Address{}, err
	}
	return e.Address, nil
}

// Delete removes one of the caller's addresses. Orders shipped to it keep
// their own sealed copy.
func (s *Service) Delete(ctx context.Context, addressID string) error {
	p, err := access.Require(ctx, access.Authenticated)
	if err != nil {
		return err
	}
	if !id.Valid(id.Address, addressID) {
		return ErrNotFound
	}
	rec := audit.New(ctx, s.now(), ActionDelete, addressID, audit.Success, "")
	if err := s.store.DeleteAddress(ctx, p.UserID, addressID, rec); err != nil {
		return fmt.Errorf("delete address: %w", err)
	}
	return nil
}
