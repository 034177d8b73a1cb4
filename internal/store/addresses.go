package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/bulwark-shop/bulwark/internal/addressbook"
	"github.com/bulwark-shop/bulwark/internal/audit"
)

var _ addressbook.Store = (*DB)(nil)

// addressAt is where a saved address is sealed: its row.
func addressAt(addressID string) string { return "addresses/" + addressID }

// CreateAddress seals e's address under its owner's data key and stores it,
// unless the owner has max addresses already (addressbook.ErrFull) or no
// data key (erased: addressbook.ErrNotFound). The owner's key row is read
// FOR UPDATE on PostgreSQL, so concurrent saves for one owner take turns
// and never count past max together (SQLite's single writer does the same),
// and a save that races an erasure either lands before it, and is erased
// with the rest, or finds the key gone.
func (db *DB) CreateAddress(ctx context.Context, e addressbook.Entry, max int, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		lock := ""
		if db.engine == Postgres {
			lock = " FOR UPDATE"
		}
		var wrapped []byte
		err := tx.QueryRowContext(ctx, "SELECT wrapped FROM subject_keys WHERE subject_id = $1"+lock, e.OwnerID).Scan(&wrapped)
		if errors.Is(err, sql.ErrNoRows) {
			return addressbook.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("read key of %s: %w", e.OwnerID, err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM addresses WHERE owner_id = $1", e.OwnerID).Scan(&n); err != nil {
			return fmt.Errorf("count addresses: %w", err)
		}
		if n >= max {
			return addressbook.ErrFull
		}
		sealed, err := db.seal(e.OwnerID, wrapped, addressAt(e.ID), e.Address)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO addresses (id, owner_id, sealed, created_at) VALUES ($1, $2, $3, $4)",
			e.ID, e.OwnerID, sealed, micros(e.CreatedAt)); err != nil {
			return fmt.Errorf("insert address: %w", err)
		}
		return appendAudit(ctx, tx, rec)
	})
}

// Addresses returns the owner's addresses, oldest first: at most
// addressbook.MaxPerCustomer are ever stored, and no more are read.
func (db *DB) Addresses(ctx context.Context, ownerID string) ([]addressbook.Entry, error) {
	var out []addressbook.Entry
	err := db.inSnapshot(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = db.addressesOf(ctx, tx, ownerID)
		return err
	})
	return out, err
}

func (db *DB) addressesOf(ctx context.Context, q queryer, ownerID string) ([]addressbook.Entry, error) {
	wrapped, err := subjectKey(ctx, q, ownerID)
	if err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, "SELECT id, sealed, created_at FROM addresses WHERE owner_id = $1 ORDER BY created_at, id LIMIT $2",
		ownerID, addressbook.MaxPerCustomer)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	defer rows.Close()
	out := []addressbook.Entry{}
	for rows.Next() {
		e, err := db.scanAddress(rows, ownerID, wrapped)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	return out, nil
}

func (db *DB) scanAddress(row rowScanner, ownerID string, wrapped []byte) (addressbook.Entry, error) {
	e := addressbook.Entry{OwnerID: ownerID}
	var sealed []byte
	var created int64
	err := row.Scan(&e.ID, &sealed, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return addressbook.Entry{}, addressbook.ErrNotFound
	}
	if err != nil {
		return addressbook.Entry{}, fmt.Errorf("scan address: %w", err)
	}
	if wrapped == nil {
		// The owner was erased (the erasure deletes the rows in the same
		// transaction, so only a snapshot from before it could see one).
		return addressbook.Entry{}, addressbook.ErrNotFound
	}
	if err := db.open(ownerID, wrapped, addressAt(e.ID), sealed, &e.Address); err != nil {
		return addressbook.Entry{}, fmt.Errorf("address %s: %w", e.ID, err)
	}
	e.CreatedAt = fromMicros(created)
	return e, nil
}

// Address returns the owner's address; addressbook.ErrNotFound for another's.
func (db *DB) Address(ctx context.Context, ownerID, addressID string) (addressbook.Entry, error) {
	var e addressbook.Entry
	err := db.inSnapshot(ctx, func(tx *sql.Tx) error {
		wrapped, err := subjectKey(ctx, tx, ownerID)
		if err != nil {
			return err
		}
		e, err = db.scanAddress(tx.QueryRowContext(ctx, "SELECT id, sealed, created_at FROM addresses WHERE id = $1 AND owner_id = $2",
			addressID, ownerID), ownerID, wrapped)
		return err
	})
	return e, err
}

// DeleteAddress removes the owner's address; addressbook.ErrNotFound for another's.
func (db *DB) DeleteAddress(ctx context.Context, ownerID, addressID string, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM addresses WHERE id = $1 AND owner_id = $2", addressID, ownerID)
		if err != nil {
			return fmt.Errorf("delete address: %w", err)
		}
		if err := mustAffect(res, addressbook.ErrNotFound); err != nil {
			return err
		}
		return appendAudit(ctx, tx, rec)
	})
}
