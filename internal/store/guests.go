package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/cart"
	"github.com/bulwark-shop/bulwark/internal/guest"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/order"
)

// Guests (issue 13) are rows of users marked guest: carts, orders,
// idempotency keys and the subject key work for them as for an account, and
// erasure shreds them the same way. A guest row is never an account: its
// email_index is guestIndex (never a blind index, so no lookup by email
// finds it), it has no password hash, and liveUser leaves it out of every
// lookup of an account (sign-in, sessions, roles, the index backfills).

// guestIndex stands in for a guest's email index: unique, and never the
// blind index of an address.
func guestIndex(guestID string) string { return "guest:" + guestID }

var _ guest.Store = (*DB)(nil)

// CreateGuestCart makes the guest (a users row marked guest, with a data key
// of its own) and its cart, whose token's SHA-256 is tokenHash, in one
// transaction.
func (db *DB) CreateGuestCart(ctx context.Context, c cart.Cart, tokenHash string) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		wrapped, err := db.newSubjectKey(ctx, tx, c.OwnerID, c.CreatedAt)
		if err != nil {
			return err
		}
		// Sealed now (empty until checkout gives the address), so the
		// legacy sealing pass never takes the row for an old account.
		sealed, err := db.seal(c.OwnerID, wrapped, contactAt(c.OwnerID), contact{})
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, email_index, name, contact, password_hash, guest, created_at, updated_at)
			VALUES ($1, $2, '', $3, '', TRUE, $4, $4)`, c.OwnerID, guestIndex(c.OwnerID), sealed, micros(c.CreatedAt)); err != nil {
			return fmt.Errorf("insert guest: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO carts (id, owner_id, currency, guest_token_hash, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5)`, c.ID, c.OwnerID, c.Currency, tokenHash, micros(c.CreatedAt)); err != nil {
			return fmt.Errorf("insert guest cart: %w", err)
		}
		return nil
	})
}

// GuestCart returns the guest who owns cartID and the SHA-256 of the cart's
// token; cart.ErrNotFound for a cart that is not a guest's, or none.
func (db *DB) GuestCart(ctx context.Context, cartID string) (ownerID, tokenHash string, err error) {
	err = db.sql.QueryRowContext(ctx, `SELECT c.owner_id, c.guest_token_hash FROM carts c JOIN users u ON u.id = c.owner_id
		WHERE c.id = $1 AND c.guest_token_hash <> '' AND u.guest = TRUE AND u.erased_at IS NULL`, cartID).Scan(&ownerID, &tokenHash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", cart.ErrNotFound
	}
	if err != nil {
		return "", "", fmt.Errorf("read guest cart: %w", err)
	}
	return ownerID, tokenHash, nil
}

// SetGuestEmail seals email (and name) as the guest's contact data, under
// the guest's key.
func (db *DB) SetGuestEmail(ctx context.Context, guestID, email, name string, at time.Time) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		wrapped, err := subjectKey(ctx, tx, guestID)
		if err != nil {
			return err
		}
		if wrapped == nil {
			return identity.ErrNotFound // erased meanwhile
		}
		// Once the guest has an order, its email is the one that order was
		// placed with and is mailed at: a later checkout of the same cart
		// token (refused or not) cannot re-point it (found by review).
		var placed int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM orders WHERE customer_id = $1 AND status <> $2",
			guestID, order.StatusPending).Scan(&placed); err != nil {
			return fmt.Errorf("count guest orders: %w", err)
		}
		if placed > 0 {
			return nil
		}
		sealed, err := db.seal(guestID, wrapped, contactAt(guestID), contact{Email: email, Name: name})
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "UPDATE users SET contact = $1, updated_at = $2 WHERE id = $3 AND guest = TRUE AND erased_at IS NULL",
			sealed, micros(at), guestID)
		if err != nil {
			return fmt.Errorf("set guest email: %w", err)
		}
		return mustAffect(res, identity.ErrNotFound)
	})
}

// GuestByID returns the guest with id as a person (email and name, no
// roles, no password), for staff erasure; identity.ErrNotFound for anyone
// else.
func (db *DB) GuestByID(ctx context.Context, id string) (identity.User, error) {
	return db.scanUser(db.sql.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE id = $1 AND guest = TRUE AND erased_at IS NULL", id))
}

// HoldGuestCard records the vault token of a guest's card while its
// checkout runs.
func (db *DB) HoldGuestCard(ctx context.Context, token string, at time.Time) error {
	if _, err := db.write.ExecContext(ctx, "INSERT INTO guest_cards (token, created_at) VALUES ($1, $2)", token, micros(at)); err != nil {
		return fmt.Errorf("hold guest card: %w", err)
	}
	return nil
}

// DropGuestCard forgets a guest card's token once the vault deleted it.
func (db *DB) DropGuestCard(ctx context.Context, token string) error {
	if _, err := db.write.ExecContext(ctx, "DELETE FROM guest_cards WHERE token = $1", token); err != nil {
		return fmt.Errorf("drop guest card: %w", err)
	}
	return nil
}

// StaleGuestCards lists up to limit tokens of guest cards held since
// before before: their checkout ended without deleting them.
func (db *DB) StaleGuestCards(ctx context.Context, before time.Time, limit int) ([]string, error) {
	return queryAll(ctx, db.sql, func(row rowScanner) (string, error) {
		var t string
		if err := row.Scan(&t); err != nil {
			return "", fmt.Errorf("scan guest card: %w", err)
		}
		return t, nil
	}, "SELECT token FROM guest_cards WHERE created_at < $1 ORDER BY created_at LIMIT $2", micros(before), limit)
}
