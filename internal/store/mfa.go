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

var _ identity.MFAStore = (*DB)(nil)

// PutPendingTOTP stores an unconfirmed secret unless a confirmed one exists.
func (db *DB) PutPendingTOTP(ctx context.Context, userID string, secretCiphertext []byte, at time.Time, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var confirmed bool
		err := tx.QueryRowContext(ctx, "SELECT confirmed FROM mfa_totp WHERE user_id = $1", userID).Scan(&confirmed)
		switch {
		case err == nil && confirmed:
			return identity.ErrMFAEnabled
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("read TOTP: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM mfa_totp WHERE user_id = $1", userID); err != nil {
			return fmt.Errorf("replace pending TOTP: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO mfa_totp (user_id, secret_ct, confirmed, created_at) VALUES ($1, $2, $3, $4)",
			userID, secretCiphertext, false, micros(at)); err != nil {
			return fmt.Errorf("store pending TOTP: %w", err)
		}
		return appendAudit(ctx, tx, rec)
	})
}

// TOTP returns the user's second factor.
func (db *DB) TOTP(ctx context.Context, userID string) (identity.TOTPState, error) {
	var st identity.TOTPState
	err := db.sql.QueryRowContext(ctx, "SELECT secret_ct, confirmed, last_counter FROM mfa_totp WHERE user_id = $1", userID).
		Scan(&st.SecretCiphertext, &st.Confirmed, &st.LastCounter)
	if errors.Is(err, sql.ErrNoRows) {
		return st, identity.ErrMFANotPending
	}
	if err != nil {
		return st, fmt.Errorf("read TOTP: %w", err)
	}
	return st, nil
}

// ConfirmTOTP turns the pending secret on and replaces the recovery codes.
func (db *DB) ConfirmTOTP(ctx context.Context, userID string, counter int64, codeHashes []string, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE mfa_totp SET confirmed = $1, last_counter = $2 WHERE user_id = $3 AND confirmed = $4",
			true, counter, userID, false)
		if err != nil {
			return fmt.Errorf("confirm TOTP: %w", err)
		}
		if err := mustAffect(res, identity.ErrMFAEnabled); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM mfa_recovery_codes WHERE user_id = $1", userID); err != nil {
			return fmt.Errorf("replace recovery codes: %w", err)
		}
		for _, h := range codeHashes {
			if _, err := tx.ExecContext(ctx, "INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES ($1, $2)", userID, h); err != nil {
				return fmt.Errorf("store recovery code: %w", err)
			}
		}
		return appendAudit(ctx, tx, rec)
	})
}

// UseTOTPCounter accepts counter if it is newer than the last accepted one.
func (db *DB) UseTOTPCounter(ctx context.Context, userID string, counter int64) (bool, error) {
	var ok bool
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE mfa_totp SET last_counter = $1 WHERE user_id = $2 AND confirmed = $3 AND last_counter < $1",
			counter, userID, true)
		if err != nil {
			return fmt.Errorf("use TOTP code: %w", err)
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	return ok, err
}

// UseRecoveryCode consumes one recovery code.
func (db *DB) UseRecoveryCode(ctx context.Context, userID, codeHash string, rec audit.Record) (bool, error) {
	var ok bool
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM mfa_recovery_codes WHERE user_id = $1 AND code_hash = $2", userID, codeHash)
		if err != nil {
			return fmt.Errorf("use recovery code: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err
		}
		ok = true
		return appendAudit(ctx, tx, rec)
	})
	return ok, err
}

// DisableTOTP removes the second factor and its recovery codes.
func (db *DB) DisableTOTP(ctx context.Context, userID string, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM mfa_recovery_codes WHERE user_id = $1", userID); err != nil {
			return fmt.Errorf("delete recovery codes: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM mfa_totp WHERE user_id = $1", userID); err != nil {
			return fmt.Errorf("delete TOTP: %w", err)
		}
		return appendAudit(ctx, tx, rec)
	})
}

// ReplaceRecoveryCodes replaces the recovery codes of a confirmed TOTP.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, userID string, codeHashes []string, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var on bool
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM mfa_totp WHERE user_id = $1 AND confirmed = $2)", userID, true).Scan(&on); err != nil {
			return fmt.Errorf("read TOTP: %w", err)
		}
		if !on {
			return identity.ErrMFANotEnabled
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM mfa_recovery_codes WHERE user_id = $1", userID); err != nil {
			return fmt.Errorf("retire recovery codes: %w", err)
		}
		for _, h := range codeHashes {
			if _, err := tx.ExecContext(ctx, "INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES ($1, $2)", userID, h); err != nil {
				return fmt.Errorf("store recovery code: %w", err)
			}
		}
		return appendAudit(ctx, tx, rec)
	})
}
