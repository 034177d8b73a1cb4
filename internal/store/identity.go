package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/id"
)

// Identity returns the database's random id, making it on the first call
// after migrating (one row, written once: concurrent first calls agree).
// The keysets that serve the database record it (keys.BindDatabase).
func (db *DB) Identity(ctx context.Context) (string, error) {
	var dbID string
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO database_identity (singleton, id, created_at) VALUES (1, $1, $2)
			ON CONFLICT (singleton) DO NOTHING`, id.New(id.Database), micros(time.Now())); err != nil {
			return fmt.Errorf("make database identity: %w", err)
		}
		if err := tx.QueryRowContext(ctx, "SELECT id FROM database_identity WHERE singleton = 1").Scan(&dbID); err != nil {
			return fmt.Errorf("read database identity: %w", err)
		}
		return nil
	})
	return dbID, err
}

// KnownIdentity returns the database's id, or "" when none was made yet; it
// writes nothing, for the commands that only read.
func (db *DB) KnownIdentity(ctx context.Context) (string, error) {
	var dbID string
	err := db.sql.QueryRowContext(ctx, "SELECT id FROM database_identity WHERE singleton = 1").Scan(&dbID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read database identity: %w", err)
	}
	return dbID, nil
}

// Identity returns the vault database's random id (see DB.Identity).
func (v *VaultDB) Identity(ctx context.Context) (string, error) { return v.db.Identity(ctx) }
