package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/identity"
)

var _ identity.GateStore = (*DB)(nil)

// PutMFATicket stores a login whose second factor is still owed, sweeping
// expired ones.
func (db *DB) PutMFATicket(ctx context.Context, t identity.MFATicket) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM mfa_tickets WHERE expires_at < $1", micros(time.Now())); err != nil {
			return fmt.Errorf("sweep MFA tickets: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO mfa_tickets (ticket_hash, user_id, method, expires_at) VALUES ($1, $2, $3, $4)",
			t.Hash, t.UserID, t.Method, micros(t.ExpiresAt)); err != nil {
			return fmt.Errorf("store MFA ticket: %w", err)
		}
		return nil
	})
}

// TakeMFATicket returns and deletes a live ticket: a ticket works once,
// whatever the outcome of the code presented with it.
func (db *DB) TakeMFATicket(ctx context.Context, hash string, now time.Time) (identity.MFATicket, error) {
	var t identity.MFATicket
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		t, err = scanMFATicket(hash, tx.QueryRowContext(ctx, "DELETE FROM mfa_tickets WHERE ticket_hash = $1 AND expires_at > $2 RETURNING "+mfaTicketColumns,
			hash, micros(now)))
		return err
	})
	return t, err
}

const mfaTicketColumns = "user_id, method, expires_at, passkey_session"

func scanMFATicket(hash string, row rowScanner) (identity.MFATicket, error) {
	t := identity.MFATicket{Hash: hash}
	var expires int64
	var passkey string
	err := row.Scan(&t.UserID, &t.Method, &expires, &passkey)
	if errors.Is(err, sql.ErrNoRows) {
		return identity.MFATicket{}, identity.ErrInvalidTicket
	}
	if err != nil {
		return identity.MFATicket{}, fmt.Errorf("read MFA ticket: %w", err)
	}
	t.ExpiresAt = fromMicros(expires)
	if passkey != "" {
		t.Passkey = []byte(passkey)
	}
	return t, nil
}

// MFATicket returns a live ticket without spending it.
func (db *DB) MFATicket(ctx context.Context, hash string, now time.Time) (identity.MFATicket, error) {
	return scanMFATicket(hash, db.sql.QueryRowContext(ctx, "SELECT "+mfaTicketColumns+" FROM mfa_tickets WHERE ticket_hash = $1 AND expires_at > $2",
		hash, micros(now)))
}

// SetMFATicketPasskey keeps session as the live ticket's passkey challenge.
func (db *DB) SetMFATicketPasskey(ctx context.Context, hash string, session []byte, now time.Time) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE mfa_tickets SET passkey_session = $1 WHERE ticket_hash = $2 AND expires_at > $3",
			string(session), hash, micros(now))
		if err != nil {
			return fmt.Errorf("keep the MFA ticket's passkey challenge: %w", err)
		}
		return mustAffect(res, identity.ErrInvalidTicket)
	})
}

// PutEnrollmentCode stores an account's enrolment code, replacing an older
// one, with rec.
func (db *DB) PutEnrollmentCode(ctx context.Context, c identity.EnrollmentCode, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM enrollment_codes WHERE user_id = $1", c.UserID); err != nil {
			return fmt.Errorf("replace enrolment code: %w", err)
		}
		// Enrolments begun before this code were begun without it: void them.
		for _, q := range []string{
			"DELETE FROM mfa_totp WHERE user_id = $1 AND confirmed = FALSE",
			"DELETE FROM webauthn_ceremonies WHERE user_id = $1",
		} {
			if _, err := tx.ExecContext(ctx, q, c.UserID); err != nil {
				return fmt.Errorf("void earlier enrolments: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO enrollment_codes (user_id, code_hash, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
			c.UserID, c.Hash, c.CreatedBy, micros(c.CreatedAt), micros(c.ExpiresAt)); err != nil {
			return fmt.Errorf("store enrolment code: %w", err)
		}
		return appendAudit(ctx, tx, rec)
	})
}

// TakeEnrollmentCode deletes the account's code if hash is it and it is live,
// appending rec; false when it is not.
func (db *DB) TakeEnrollmentCode(ctx context.Context, userID, hash string, now time.Time, rec audit.Record) (bool, error) {
	taken := false
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM enrollment_codes WHERE user_id = $1 AND code_hash = $2 AND expires_at > $3",
			userID, hash, micros(now))
		if err != nil {
			return fmt.Errorf("use enrolment code: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("use enrolment code: %w", err)
		}
		if n == 0 {
			return nil
		}
		taken = true
		return appendAudit(ctx, tx, rec)
	})
	return taken, err
}
