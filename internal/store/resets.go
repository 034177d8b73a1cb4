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

var _ identity.ResetStore = (*DB)(nil)

// CreateReset stores a reset token's hash.
func (db *DB) CreateReset(ctx context.Context, tokenHash, userID string, at, expires time.Time, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
			tokenHash, userID, micros(at), micros(expires)); err != nil {
			return fmt.Errorf("insert reset token: %w", err)
		}
		return appendAudit(ctx, tx, rec)
	})
}

// UseReset consumes a token, sets the password and ends the user's sessions.
func (db *DB) UseReset(ctx context.Context, tokenHash, newHash string, at time.Time, rec func(userID string) audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var userID string
		err := tx.QueryRowContext(ctx, `UPDATE password_resets SET used_at = $1
			WHERE token_hash = $2 AND used_at = 0 AND expires_at > $1 RETURNING user_id`, micros(at), tokenHash).Scan(&userID)
		if errors.Is(err, sql.ErrNoRows) {
			return identity.ErrInvalidResetToken
		}
		if err != nil {
			return fmt.Errorf("use reset token: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3", newHash, micros(at), userID); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = $1", userID); err != nil {
			return fmt.Errorf("end sessions: %w", err)
		}
		// Any other outstanding link for the account stops working too.
		if _, err := tx.ExecContext(ctx, "UPDATE password_resets SET used_at = $1 WHERE user_id = $2 AND used_at = 0", micros(at), userID); err != nil {
			return fmt.Errorf("retire other reset tokens: %w", err)
		}
		return appendAudit(ctx, tx, rec(userID))
	})
}
