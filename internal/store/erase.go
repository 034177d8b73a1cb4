package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/privacy"
)

var _ privacy.Eraser = (*DB)(nil)

// erasedIndex stands in for an erased account's email index: unique, and
// derived from nothing personal.
func erasedIndex(userID string) string { return "erased:" + userID }

// Erase destroys userID's data key and everything personal held on the
// account, with rec, in one transaction (see privacy.Eraser). The account row
// stays as a tombstone with its id, so orders keep their customer.
//
// On SQLite the write-ahead log is then checkpointed and truncated: with
// secure_delete, the deleted key is zeroed in the database file and the log
// holds no older copy of its page. On PostgreSQL older copies can survive in
// dead tuples and the log until vacuumed and recycled; so, on both engines,
// the lasting guarantee is the wrapping key's: a copy of the destroyed key
// found anywhere (log, dead tuple, backup) is still wrapped under the pii
// keyset, and rotating that keyset and retiring its old keys makes it
// unreadable too (docs/SECURITY.md).
func (db *DB) Erase(ctx context.Context, userID string, rec audit.Record) (cardTokens []string, err error) {
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET email_index = $1, name = '', contact = NULL, password_hash = '',
			erased_at = $2, updated_at = $2 WHERE id = $3 AND erased_at IS NULL`, erasedIndex(userID), micros(rec.Time), userID)
		if err != nil {
			return fmt.Errorf("erase account: %w", err)
		}
		if err := mustAffect(res, identity.ErrNotFound); err != nil {
			return err
		}
		// The cards saved up to this moment, for the caller to delete from the
		// vault: one saved since the caller listed them would otherwise be left
		// there with nothing pointing at it.
		if cardTokens, err = ownerCardTokens(ctx, tx, userID); err != nil {
			return err
		}
		wrapped, err := subjectKey(ctx, tx, userID)
		if err != nil {
			return err
		}
		if err := db.unsealAnswersOf(ctx, tx, userID, wrapped); err != nil {
			return err
		}
		for _, q := range []string{
			"DELETE FROM subject_keys WHERE subject_id = $1",
			"DELETE FROM user_roles WHERE user_id = $1",
			"DELETE FROM sessions WHERE user_id = $1",
			"DELETE FROM mfa_totp WHERE user_id = $1",
			"DELETE FROM mfa_recovery_codes WHERE user_id = $1",
			"DELETE FROM passkeys WHERE user_id = $1",
			"DELETE FROM webauthn_ceremonies WHERE user_id = $1",
			"DELETE FROM oidc_identities WHERE user_id = $1",
			"DELETE FROM password_resets WHERE user_id = $1",
			"DELETE FROM mfa_tickets WHERE user_id = $1",
			"DELETE FROM enrollment_codes WHERE user_id = $1",
			"DELETE FROM email_verifications WHERE user_id = $1",
			"DELETE FROM carts WHERE owner_id = $1",
			"DELETE FROM payment_methods WHERE owner_id = $1",
			"DELETE FROM addresses WHERE owner_id = $1",
			"DELETE FROM idempotency_keys WHERE owner_id = $1",
			// The per-customer counts of discount codes: they tie the
			// person to the codes they used, and an erased account orders
			// no more. The totals on discounts stay, for accounting.
			"DELETE FROM discount_uses WHERE user_id = $1",
			// The same tie on the orders: the amounts stay, for accounting,
			// but not which code the pseudonymous id used.
			"UPDATE orders SET discount_code = '', discount_id = '' WHERE customer_id = $1",
			// A return's reason is the customer's own words, which may name
			// them: it goes; the return's lines and status stay.
			"UPDATE returns SET reason = '' WHERE order_id IN (SELECT id FROM orders WHERE customer_id = $1)",
		} {
			if _, err := tx.ExecContext(ctx, q, userID); err != nil {
				return fmt.Errorf("erase account: %w", err)
			}
		}
		if wrapped != nil && db.pii != nil {
			db.pii.Forget(userID, wrapped)
		}
		// The ledger entry outlives this database in the backup targets
		// (ErasureLedger): a restore of an older backup replays it.
		if _, err := tx.ExecContext(ctx, `INSERT INTO erasure_ledger (user_id, erased_at) VALUES ($1, $2)
			ON CONFLICT (user_id) DO NOTHING`, userID, micros(rec.Time)); err != nil {
			return fmt.Errorf("erase account: the ledger: %w", err)
		}
		return appendAudit(ctx, tx, rec)
	})
	if err != nil {
		return nil, err
	}
	return cardTokens, db.TruncateLog(ctx)
}

func ownerCardTokens(ctx context.Context, tx *sql.Tx, ownerID string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, "SELECT token FROM payment_methods WHERE owner_id = $1 ORDER BY token", ownerID)
	if err != nil {
		return nil, fmt.Errorf("list saved cards: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("scan saved card: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// unsealAnswersOf keeps the answers that others' requests stored about the
// person's orders (a refund by staff, whose retry must get the same answer
// and never a second refund) without the person in them: opened with the key
// about to be destroyed, stripped of every personal field, and stored as the
// plain order that remains for accounting.
func (db *DB) unsealAnswersOf(ctx context.Context, tx *sql.Tx, userID string, wrapped []byte) error {
	type answer struct {
		owner, scope, key string
		sealed            []byte
	}
	rows, err := tx.QueryContext(ctx, `SELECT owner_id, scope, idem_key, order_sealed FROM idempotency_keys
		WHERE sealed_for = $1 AND owner_id <> $1 AND order_sealed IS NOT NULL`, userID)
	if err != nil {
		return fmt.Errorf("find answers about %s: %w", userID, err)
	}
	var todo []answer
	for rows.Next() {
		var a answer
		if err := rows.Scan(&a.owner, &a.scope, &a.key, &a.sealed); err != nil {
			rows.Close()
			return fmt.Errorf("scan answer: %w", err)
		}
		todo = append(todo, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find answers about %s: %w", userID, err)
	}
	for _, a := range todo {
		var b json.RawMessage
		if err := db.open(userID, wrapped, answerAt(a.owner, a.scope, a.key), a.sealed, &b); err != nil {
			return err
		}
		o, err := decodeAnswer(b)
		if err != nil {
			return err
		}
		plain, err := encodeAnswer(withoutPerson(o))
		if err != nil {
			return fmt.Errorf("store answer: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET order_json = $1, order_sealed = NULL, sealed_for = ''
			WHERE owner_id = $2 AND scope = $3 AND idem_key = $4`, string(plain), a.owner, a.scope, a.key); err != nil {
			return fmt.Errorf("store answer: %w", err)
		}
	}
	return nil
}

// withoutPerson is o as it reads once its customer is erased.
func withoutPerson(o order.Order) order.Order {
	o.ShippingAddress = order.Address{Country: o.ShippingAddress.Country, Region: o.ShippingAddress.Region}
	o.CustomerEmail, o.CustomerName, o.DiscountCode = "", "", ""
	return o
}

// TruncateLog checkpoints SQLite's write-ahead log into the database file and
// truncates it, retrying for a second while readers hold older snapshots. Past
// that it gives up quietly: the erasure is committed, and the hourly
// retention purge truncates the log again. It does nothing on PostgreSQL.
func (db *DB) TruncateLog(ctx context.Context) error {
	if db.engine != SQLite {
		return nil
	}
	for attempt := 0; ; attempt++ {
		var busy, frames, done int
		if err := db.write.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &frames, &done); err != nil {
			return fmt.Errorf("truncate write-ahead log: %w", err)
		}
		if busy == 0 {
			return nil
		}
		if attempt == 50 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
