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

var _ identity.PasskeyStore = (*DB)(nil)

// PutCeremony stores a WebAuthn ceremony in progress.
func (db *DB) PutCeremony(ctx context.Context, ceremonyID, userID string, session []byte, expires time.Time) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		// Expired ceremonies go on the way, so the table holds only live ones.
		if _, err := tx.ExecContext(ctx, "DELETE FROM webauthn_ceremonies WHERE expires_at < $1", micros(time.Now())); err != nil {
			return fmt.Errorf("sweep ceremonies: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO webauthn_ceremonies (id, user_id, session, expires_at) VALUES ($1, $2, $3, $4)",
			ceremonyID, userID, string(session), micros(expires)); err != nil {
			return fmt.Errorf("store ceremony: %w", err)
		}
		return nil
	})
}

// TakeCeremony returns and deletes a live ceremony of userID.
func (db *DB) TakeCeremony(ctx context.Context, ceremonyID, userID string, now time.Time) ([]byte, error) {
	var session string
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, "DELETE FROM webauthn_ceremonies WHERE id = $1 AND user_id = $2 AND expires_at > $3 RETURNING session",
			ceremonyID, userID, micros(now)).Scan(&session)
		if errors.Is(err, sql.ErrNoRows) {
			return identity.ErrPasskeyFailed
		}
		if err != nil {
			return fmt.Errorf("take ceremony: %w", err)
		}
		return nil
	})
	return []byte(session), err
}

// AddPasskey stores a verified credential.
func (db *DB) AddPasskey(ctx context.Context, userID, credentialID string, credential []byte, at time.Time, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO passkeys (credential_id, user_id, credential, created_at) VALUES ($1, $2, $3, $4)",
			credentialID, userID, string(credential), micros(at)); err != nil {
			if isUniqueViolation(err) {
				return identity.ErrPasskeyFailed
			}
			return fmt.Errorf("store passkey: %w", err)
		}
		return appendAudit(ctx, tx, rec)
	})
}

// Passkeys returns a user's credentials as stored.
func (db *DB) Passkeys(ctx context.Context, userID string) ([][]byte, error) {
	rows, err := db.sql.QueryContext(ctx, "SELECT credential FROM passkeys WHERE user_id = $1 ORDER BY created_at", userID)
	if err != nil {
		return nil, fmt.Errorf("read passkeys: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("scan passkey: %w", err)
		}
		out = append(out, []byte(c))
	}
	return out, rows.Err()
}

// UpdatePasskey replaces a credential (its signature counter changes at each use).
func (db *DB) UpdatePasskey(ctx context.Context, credentialID string, credential []byte) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE passkeys SET credential = $1 WHERE credential_id = $2", string(credential), credentialID); err != nil {
			return fmt.Errorf("update passkey: %w", err)
		}
		return nil
	})
}

// PasskeyList lists a user's passkeys, oldest first.
func (db *DB) PasskeyList(ctx context.Context, userID string) ([]identity.PasskeyInfo, error) {
	rows, err := db.sql.QueryContext(ctx, "SELECT credential_id, created_at FROM passkeys WHERE user_id = $1 ORDER BY created_at, credential_id", userID)
	if err != nil {
		return nil, fmt.Errorf("list passkeys: %w", err)
	}
	defer rows.Close()
	out := []identity.PasskeyInfo{}
	for rows.Next() {
		var k identity.PasskeyInfo
		var created int64
		if err := rows.Scan(&k.ID, &created); err != nil {
			return nil, fmt.Errorf("scan passkey: %w", err)
		}
		k.CreatedAt = fromMicros(created)
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeletePasskey removes one of a user's passkeys.
func (db *DB) DeletePasskey(ctx context.Context, userID, credentialID string, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM passkeys WHERE credential_id = $1 AND user_id = $2", credentialID, userID)
		if err != nil {
			return fmt.Errorf("delete passkey: %w", err)
		}
		if err := mustAffect(res, identity.ErrPasskeyNotFound); err != nil {
			return err
		}
		return appendAudit(ctx, tx, rec)
	})
}
