package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/vault"
)

// VaultDB is the card vault's own database. It is a type of its own so that no
// shop code can reach vault tables through the shop's DB, and the reverse.
type VaultDB struct{ db *DB }

var _ vault.Store = (*VaultDB)(nil)

// OpenVault connects to the vault database of opts (vault.db in the data
// directory when opts.DatabaseURL is empty) and migrates it.
func OpenVault(ctx context.Context, opts Options) (*VaultDB, error) {
	db, err := open(ctx, opts, vaultSchema)
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate vault: %w", err)
	}
	return &VaultDB{db: db}, nil
}

// Close closes the connections.
func (v *VaultDB) Close() error { return v.db.Close() }

// Engine names the vault database's engine.
func (v *VaultDB) Engine() Engine { return v.db.Engine() }

// Ping checks that the vault database answers.
func (v *VaultDB) Ping(ctx context.Context) error { return v.db.Ping(ctx) }

// PutCard stores a card's ciphertext under its token.
func (v *VaultDB) PutCard(ctx context.Context, token string, ciphertext []byte, at time.Time) error {
	return v.db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO vault_cards (token, ciphertext, created_at) VALUES ($1, $2, $3)",
			token, ciphertext, micros(at)); err != nil {
			return fmt.Errorf("insert vault card: %w", err)
		}
		return nil
	})
}

// Card returns the ciphertext stored under token.
func (v *VaultDB) Card(ctx context.Context, token string) ([]byte, error) {
	var ct []byte
	err := v.db.sql.QueryRowContext(ctx, "SELECT ciphertext FROM vault_cards WHERE token = $1", token).Scan(&ct)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, vault.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read vault card: %w", err)
	}
	return ct, nil
}

// DeleteCard removes the ciphertext stored under token.
func (v *VaultDB) DeleteCard(ctx context.Context, token string) error {
	return v.db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM vault_cards WHERE token = $1", token); err != nil {
			return fmt.Errorf("delete vault card: %w", err)
		}
		return nil
	})
}

// CommitStats reports the vault database's commits (see DB.CommitStats).
func (v *VaultDB) CommitStats() CommitStats { return v.db.CommitStats() }
