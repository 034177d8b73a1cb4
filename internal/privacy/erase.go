package privacy

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/identity"
)

// ActionErase is the audit action of an erasure (GDPR article 17).
const ActionErase = "user.erase"

// ErrStaffAccount refuses to erase an account that still holds a staff role:
// its roles are removed first, so no shop loses its last administrator to a
// single request.
var ErrStaffAccount = apperr.New(apperr.CodeStaffAccount, "this account holds a staff role: remove its staff roles first")

// Eraser destroys what is held on a person in the shop's database, in one
// transaction with rec: their data key (so every sealed copy of their
// personal data, anywhere, becomes unreadable), their account's contact data
// and credentials, sessions, second factors, carts, saved cards, saved
// addresses, stored answers and per-customer counts of discount uses. Orders and the audit
// trail stay, under the account's pseudonymous id, and so do the discounts'
// total use counts, which name nobody. It returns the vault tokens of the
// saved cards it deleted.
type Eraser interface {
	Erase(ctx context.Context, userID string, rec audit.Record) (cardTokens []string, err error)
}

// Cards destroys cards in the card vault.
type Cards interface {
	Delete(ctx context.Context, token string) error
}

// Confirmer checks the caller's password and returns their account.
type Confirmer interface {
	ConfirmPassword(ctx context.Context, password string) (identity.User, error)
}

// EraseMine erases the caller's account once they confirm it with their password.
func (s *Service) EraseMine(ctx context.Context, password string) error {
	u, err := s.people.ConfirmPassword(ctx, password)
	if err != nil {
		return err
	}
	return s.erase(ctx, u, "at the person's request")
}

// Erase erases another person's account on their request to staff. It needs
// an admin who logged in within the last five minutes.
func (s *Service) Erase(ctx context.Context, userID string) error {
	p, err := access.RequireRecent(ctx, access.UsersErase, s.now())
	if err != nil {
		return err
	}
	if !id.Valid(id.User, userID) {
		return identity.ErrNotFound
	}
	u, err := s.src.UserByID(ctx, userID)
	if errors.Is(err, identity.ErrNotFound) {
		// A guest (guest checkout) is erased like an account: its key goes,
		// and with it the email and addresses sealed under it.
		u, err = s.src.GuestByID(ctx, userID)
	}
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	return s.erase(ctx, u, "on request, by staff "+p.UserID)
}

func (s *Service) erase(ctx context.Context, u identity.User, why string) error {
	if access.IsStaff(u.Roles) {
		return ErrStaffAccount
	}
	// Cards go first: were the account erased and this failed, nothing would
	// be left to find them by. A retry after a failure here finds them again.
	methods, err := s.src.Methods(ctx, u.ID)
	if err != nil {
		return fmt.Errorf("erase %s: %w", u.ID, err)
	}
	for _, m := range methods {
		if err := s.cards.Delete(ctx, m.Token); err != nil {
			return fmt.Errorf("erase %s: %w", u.ID, err)
		}
	}
	rec := audit.New(ctx, s.now(), ActionErase, u.ID, audit.Success, why)
	tokens, err := s.eraser.Erase(ctx, u.ID, rec)
	if err != nil {
		return fmt.Errorf("erase %s: %w", u.ID, err)
	}
	// A card saved while this ran was not in the list above; its token came
	// back from the erasure. Deleting one already gone is a no-op.
	for _, t := range tokens {
		if err := s.cards.Delete(ctx, t); err != nil {
			return fmt.Errorf("erase %s: delete card: %w", u.ID, err)
		}
	}
	return nil
}
