package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/identity"
)

var _ identity.KeyStore = (*DB)(nil)

const keyColumns = "id, name, key_hash, permissions, created_by, created_at, expires_at, last_used_at, revoked_at"

func scanKey(row rowScanner) (identity.APIKey, error) {
	var k identity.APIKey
	var perms string
	var created, expires, used, revoked int64
	err := row.Scan(&k.ID, &k.Name, &k.KeyHash, &perms, &k.CreatedBy, &created, &expires, &used, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return identity.APIKey{}, identity.ErrKeyNotFound
	}
	if err != nil {
		return identity.APIKey{}, fmt.Errorf("scan API key: %w", err)
	}
	for _, p := range strings.Split(perms, ",") {
		if p != "" {
			k.Permissions = append(k.Permissions, access.Permission(p))
		}
	}
	k.CreatedAt, k.ExpiresAt = fromMicros(created), fromMicros(expires)
	if used > 0 {
		k.LastUsedAt = fromMicros(used)
	}
	if revoked > 0 {
		k.RevokedAt = fromMicros(revoked)
	}
	return k, nil
}

// CreateAPIKey stores a key's hash and permissions.
func (db *DB) CreateAPIKey(ctx context.Context, k identity.APIKey, rec audit.Record) error {
	perms := make([]string, len(k.Permissions))
	for i, p := range k.Permissions {
		perms[i] = string(p)
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, name, key_hash, permissions, created_by, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, k.ID, k.Name, k.KeyHash, strings.Join(perms, ","), k.CreatedBy, micros(k.CreatedAt), micros(k.ExpiresAt)); err != nil {
			return fmt.Errorf("insert API key: %w", err)
		}
		return appendAudit(ctx, tx, rec)
	})
}

// APIKeys lists every key, newest first.
func (db *DB) APIKeys(ctx context.Context) ([]identity.APIKey, error) {
	rows, err := db.sql.QueryContext(ctx, "SELECT "+keyColumns+" FROM api_keys ORDER BY created_at DESC, id")
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	defer rows.Close()
	out := []identity.APIKey{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// APIKeyByHash returns the key with hash.
func (db *DB) APIKeyByHash(ctx context.Context, hash string) (identity.APIKey, error) {
	return scanKey(db.sql.QueryRowContext(ctx, "SELECT "+keyColumns+" FROM api_keys WHERE key_hash = $1", hash))
}

// TouchAPIKey records a key's last use.
func (db *DB) TouchAPIKey(ctx context.Context, keyID string, at time.Time) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE api_keys SET last_used_at = $1 WHERE id = $2", micros(at), keyID)
		if err != nil {
			return fmt.Errorf("touch API key: %w", err)
		}
		return nil
	})
}

// RevokeAPIKey marks a key revoked.
func (db *DB) RevokeAPIKey(ctx context.Context, keyID string, at time.Time, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at = 0", micros(at), keyID)
		if err != nil {
			return fmt.Errorf("revoke API key: %w", err)
		}
		if err := mustAffect(res, identity.ErrKeyNotFound); err != nil {
			return err
		}
		return appendAudit(ctx, tx, rec)
	})
}
