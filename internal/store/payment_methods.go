package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/payment"
)

var _ payment.MethodStore = (*DB)(nil)

const methodColumns = "id, owner_id, token, brand, last4, exp_month, exp_year, created_at, billing_country"

func scanMethod(row rowScanner) (payment.Method, error) {
	var m payment.Method
	var created int64
	err := row.Scan(&m.ID, &m.OwnerID, &m.Token, &m.Brand, &m.Last4, &m.ExpMonth, &m.ExpYear, &created, &m.BillingCountry)
	if errors.Is(err, sql.ErrNoRows) {
		return payment.Method{}, payment.ErrMethodNotFound
	}
	if err != nil {
		return payment.Method{}, fmt.Errorf("scan payment method: %w", err)
	}
	m.CreatedAt = fromMicros(created)
	return m, nil
}

// CreateMethod stores m unless its owner already has max methods.
func (db *DB) CreateMethod(ctx context.Context, m payment.Method, max int, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		// Concurrent saves for one owner take turns on the owner's row
		// (SQLite's single writer does the same), so they never count past
		// max together: read committed alone would let each count 19.
		if db.engine == Postgres {
			var owner string
			if err := tx.QueryRowContext(ctx, "SELECT id FROM users WHERE id = $1 FOR UPDATE", m.OwnerID).Scan(&owner); err != nil {
				return fmt.Errorf("lock the owner of a payment method: %w", err)
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM payment_methods WHERE owner_id = $1", m.OwnerID).Scan(&n); err != nil {
			return fmt.Errorf("count payment methods: %w", err)
		}
		if n >= max {
			return apperr.New(apperr.CodeValidation, "an account keeps at most %d payment methods; delete one first", max)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO payment_methods ("+methodColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
			m.ID, m.OwnerID, m.Token, string(m.Brand), m.Last4, m.ExpMonth, m.ExpYear, micros(m.CreatedAt), m.BillingCountry); err != nil {
			return fmt.Errorf("insert payment method: %w", err)
		}
		return appendAudit(ctx, tx, rec)
	})
}

// Methods returns the owner's payment methods, oldest first.
func (db *DB) Methods(ctx context.Context, ownerID string) ([]payment.Method, error) {
	rows, err := db.sql.QueryContext(ctx, "SELECT "+methodColumns+" FROM payment_methods WHERE owner_id = $1 ORDER BY created_at, id", ownerID)
	if err != nil {
		return nil, fmt.Errorf("list payment methods: %w", err)
	}
	defer rows.Close()
	ms := []payment.Method{}
	for rows.Next() {
		m, err := scanMethod(rows)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, rows.Err()
}

// Method returns the owner's payment method.
func (db *DB) Method(ctx context.Context, ownerID, methodID string) (payment.Method, error) {
	return scanMethod(db.sql.QueryRowContext(ctx, "SELECT "+methodColumns+" FROM payment_methods WHERE id = $1 AND owner_id = $2", methodID, ownerID))
}

// DeleteMethod removes the owner's payment method.
func (db *DB) DeleteMethod(ctx context.Context, ownerID, methodID string, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM payment_methods WHERE id = $1 AND owner_id = $2", methodID, ownerID)
		if err != nil {
			return fmt.Errorf("delete payment method: %w", err)
		}
		if err := mustAffect(res, payment.ErrMethodNotFound); err != nil {
			return err
		}
		return appendAudit(ctx, tx, rec)
	})
}
