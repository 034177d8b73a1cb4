package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/rekey"
)

var _ rekey.Store = (*DB)(nil)

// StartReencryption returns keyset's pass, starting a new one when the stored
// one is for another primary key or there is none.
func (db *DB) StartReencryption(ctx context.Context, keyset string, primary uint32, at time.Time) (rekey.Progress, error) {
	var p rekey.Progress
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO key_reencryption (keyset, primary_key_id, cursor_key, done, batches, started_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6)
			ON CONFLICT (keyset) DO UPDATE SET primary_key_id = excluded.primary_key_id, cursor_key = excluded.cursor_key,
				done = excluded.done, batches = excluded.batches, started_at = excluded.started_at, updated_at = excluded.updated_at
			WHERE key_reencryption.primary_key_id <> excluded.primary_key_id`,
			keyset, int64(primary), "", false, 0, micros(at)); err != nil {
			return fmt.Errorf("start re-encryption of %s: %w", keyset, err)
		}
		var err error
		p, err = readProgress(ctx, tx, keyset)
		return err
	})
	return p, err
}

// AdvanceReencryption moves keyset's cursor from from to to, as a
// compare-and-set on the pass's primary and cursor.
func (db *DB) AdvanceReencryption(ctx context.Context, keyset string, primary uint32, from, to string, done bool, at time.Time) (bool, error) {
	var ok bool
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE key_reencryption SET cursor_key = $1, done = $2, batches = batches + 1, updated_at = $3
			WHERE keyset = $4 AND primary_key_id = $5 AND cursor_key = $6 AND done = $7`,
			to, done, micros(at), keyset, int64(primary), from, false)
		if err != nil {
			return fmt.Errorf("advance re-encryption of %s: %w", keyset, err)
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	return ok, err
}

// ReencryptionProgress returns keyset's pass, or rekey.ErrNoProgress.
func (db *DB) ReencryptionProgress(ctx context.Context, keyset string) (rekey.Progress, error) {
	var p rekey.Progress
	err := db.inSnapshot(ctx, func(tx *sql.Tx) error {
		var err error
		p, err = readProgress(ctx, tx, keyset)
		return err
	})
	return p, err
}

func readProgress(ctx context.Context, tx *sql.Tx, keyset string) (rekey.Progress, error) {
	p := rekey.Progress{Keyset: keyset}
	var primary, started, updated int64
	err := tx.QueryRowContext(ctx, "SELECT primary_key_id, cursor_key, done, batches, started_at, updated_at FROM key_reencryption WHERE keyset = $1", keyset).
		Scan(&primary, &p.Cursor, &p.Done, &p.Batches, &started, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return p, rekey.ErrNoProgress
	}
	if err != nil {
		return p, fmt.Errorf("read re-encryption of %s: %w", keyset, err)
	}
	p.Primary, p.Started, p.Updated = uint32(primary), fromMicros(started), fromMicros(updated)
	return p, nil
}

// TOTPCiphertexts returns up to limit TOTP secrets of users whose id is after
// after, in id order, with the user id as associated data.
func (db *DB) TOTPCiphertexts(ctx context.Context, after string, limit int) ([]rekey.Ciphertext, error) {
	var out []rekey.Ciphertext
	err := db.inSnapshot(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = listCiphertexts(ctx, tx, "SELECT user_id, secret_ct FROM mfa_totp WHERE user_id > $1 ORDER BY user_id LIMIT $2", after, limit)
		return err
	})
	return out, err
}

// SwapTOTPCiphertexts replaces TOTP secrets that still hold their old
// ciphertext, and returns how many did.
func (db *DB) SwapTOTPCiphertexts(ctx context.Context, swaps []rekey.Swap) (int, error) {
	var n int
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = swapCiphertexts(ctx, tx, "UPDATE mfa_totp SET secret_ct = $1 WHERE user_id = $2 AND secret_ct = $3", swaps)
		return err
	})
	return n, err
}

// CardCiphertexts returns up to limit cards whose token is after after, in
// token order, with the token as associated data.
func (v *VaultDB) CardCiphertexts(ctx context.Context, after string, limit int) ([]rekey.Ciphertext, error) {
	var out []rekey.Ciphertext
	err := v.db.inSnapshot(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = listCiphertexts(ctx, tx, "SELECT token, ciphertext FROM vault_cards WHERE token > $1 ORDER BY token LIMIT $2", after, limit)
		return err
	})
	return out, err
}

// SwapCardCiphertexts replaces card ciphertexts that are still the old ones,
// and returns how many were.
func (v *VaultDB) SwapCardCiphertexts(ctx context.Context, swaps []rekey.Swap) (int, error) {
	var n int
	err := v.db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = swapCiphertexts(ctx, tx, "UPDATE vault_cards SET ciphertext = $1 WHERE token = $2 AND ciphertext = $3", swaps)
		return err
	})
	return n, err
}

// listCiphertexts runs query (a fixed statement selecting key and
// ciphertext, with $1 after and $2 limit); the key is the associated data.
func listCiphertexts(ctx context.Context, tx *sql.Tx, query, after string, limit int) ([]rekey.Ciphertext, error) {
	rows, err := tx.QueryContext(ctx, query, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list ciphertexts: %w", err)
	}
	defer rows.Close()
	var out []rekey.Ciphertext
	for rows.Next() {
		var c rekey.Ciphertext
		if err := rows.Scan(&c.Key, &c.Ciphertext); err != nil {
			return nil, fmt.Errorf("list ciphertexts: %w", err)
		}
		c.AssociatedData = []byte(c.Key)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list ciphertexts: %w", err)
	}
	return out, nil
}

// swapCiphertexts runs update (a fixed statement with $1 new, $2 key, $3 old)
// for every swap.
func swapCiphertexts(ctx context.Context, tx *sql.Tx, update string, swaps []rekey.Swap) (int, error) {
	n := 0
	for _, s := range swaps {
		res, err := tx.ExecContext(ctx, update, s.New, s.Key, s.Old)
		if err != nil {
			return n, fmt.Errorf("swap ciphertext: %w", err)
		}
		k, err := res.RowsAffected()
		if err != nil {
			return n, fmt.Errorf("swap ciphertext: %w", err)
		}
		n += int(k)
	}
	return n, nil
}

// The vault process keeps its own re-encryption passes, in its own database.
var _ rekey.Store = (*VaultDB)(nil)

// StartReencryption implements rekey.Store for the vault's database.
func (v *VaultDB) StartReencryption(ctx context.Context, keyset string, primary uint32, at time.Time) (rekey.Progress, error) {
	return v.db.StartReencryption(ctx, keyset, primary, at)
}

// AdvanceReencryption implements rekey.Store for the vault's database.
func (v *VaultDB) AdvanceReencryption(ctx context.Context, keyset string, primary uint32, from, to string, done bool, at time.Time) (bool, error) {
	return v.db.AdvanceReencryption(ctx, keyset, primary, from, to, done, at)
}

// ReencryptionProgress implements rekey.Store for the vault's database.
func (v *VaultDB) ReencryptionProgress(ctx context.Context, keyset string) (rekey.Progress, error) {
	return v.db.ReencryptionProgress(ctx, keyset)
}
