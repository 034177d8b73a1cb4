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

var _ identity.OIDCStore = (*DB)(nil)

// PutOIDCLogin stores a login in progress.
func (db *DB) PutOIDCLogin(ctx context.Context, l identity.OIDCLogin) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM oidc_logins WHERE expires_at < $1", micros(time.Now())); err != nil {
			return fmt.Errorf("sweep OIDC logins: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO oidc_logins (state, nonce, verifier, binding_hash, expires_at) VALUES ($1, $2, $3, $4, $5)",
			l.State, l.Nonce, l.Verifier, l.BindingHash, micros(l.ExpiresAt)); err != nil {
			return fmt.Errorf("store OIDC login: %w", err)
		}
		return nil
	})
}

// TakeOIDCLogin returns and deletes a live login.
func (db *DB) TakeOIDCLogin(ctx context.Context, state string, now time.Time) (identity.OIDCLogin, error) {
	l := identity.OIDCLogin{State: state}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var expires int64
		err := tx.QueryRowContext(ctx, "DELETE FROM oidc_logins WHERE state = $1 AND expires_at > $2 RETURNING nonce, verifier, binding_hash, expires_at",
			state, micros(now)).Scan(&l.Nonce, &l.Verifier, &l.BindingHash, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return identity.ErrOIDCFailed
		}
		if err != nil {
			return fmt.Errorf("take OIDC login: %w", err)
		}
		l.ExpiresAt = fromMicros(expires)
		return nil
	})
	return l, err
}

// OIDCIdentity returns the user linked to an external identity.
func (db *DB) OIDCIdentity(ctx context.Context, issuer, subject string) (string, error) {
	var userID string
	err := db.sql.QueryRowContext(ctx, "SELECT user_id FROM oidc_identities WHERE issuer = $1 AND subject = $2", issuer, subject).Scan(&userID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", identity.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("read OIDC identity: %w", err)
	}
	return userID, nil
}

// LinkOIDCIdentity links an external identity to an account.
func (db *DB) LinkOIDCIdentity(ctx context.Context, issuer, subject, userID string, at time.Time, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO oidc_identities (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)",
			issuer, subject, userID, micros(at)); err != nil {
			return fmt.Errorf("link OIDC identity: %w", err)
		}
		return appendAudit(ctx, tx, rec)
	})
}
