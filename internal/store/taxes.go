package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/pricing"
)

var _ pricing.Store = (*DB)(nil)

const taxRateColumns = "id, country, region, rate_ppm, name, created_at, updated_at"

func scanTaxRate(row rowScanner) (pricing.TaxRate, error) {
	var r pricing.TaxRate
	var created, updated int64
	err := row.Scan(&r.ID, &r.Place.Country, &r.Place.Region, &r.RatePPM, &r.Name, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return pricing.TaxRate{}, pricing.ErrTaxRateNotFound
	}
	if err != nil {
		return pricing.TaxRate{}, fmt.Errorf("scan tax rate: %w", err)
	}
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	return r, nil
}

// CreateTaxRate inserts r; pricing.ErrTaxRateOverlap when its country and
// region have a rate (the unique index decides, so two at once cannot both win).
func (db *DB) CreateTaxRate(ctx context.Context, r pricing.TaxRate, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO tax_rates ("+taxRateColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7)",
			r.ID, r.Place.Country, r.Place.Region, r.RatePPM, r.Name, micros(r.CreatedAt), micros(r.UpdatedAt))
		if isUniqueViolation(err) {
			return pricing.ErrTaxRateOverlap
		}
		if err != nil {
			return fmt.Errorf("insert tax rate: %w", err)
		}
		return appendAudit(ctx, tx, rec)
	})
}

// ReplaceTaxRate writes r over the stored rate while its updated_at is prev.
func (db *DB) ReplaceTaxRate(ctx context.Context, r pricing.TaxRate, prev time.Time, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tax_rates SET country = $1, region = $2, rate_ppm = $3, name = $4, updated_at = $5
			WHERE id = $6 AND updated_at = $7`,
			r.Place.Country, r.Place.Region, r.RatePPM, r.Name, micros(r.UpdatedAt), r.ID, micros(prev))
		if isUniqueViolation(err) {
			return pricing.ErrTaxRateOverlap
		}
		if err != nil {
			return fmt.Errorf("update tax rate: %w", err)
		}
		if err := replaced(ctx, tx, res, "tax_rates", r.ID, pricing.ErrTaxRateNotFound); err != nil {
			return err
		}
		return appendAudit(ctx, tx, rec)
	})
}

// replaced turns a conditional UPDATE that changed no row into notFound
// (no row with id) or pricing.ErrChangedMeanwhile (the row moved on).
// table comes from the callers' constants, never from input.
func replaced(ctx context.Context, tx *sql.Tx, res sql.Result, table, id string, notFound error) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("rows affected: %w", err)
	}
	if n > 0 {
		return nil
	}
	var one int
	err = tx.QueryRowContext(ctx, "SELECT 1 FROM "+table+" WHERE id = $1", id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound
	}
	if err != nil {
		return fmt.Errorf("find %s: %w", id, err)
	}
	return pricing.ErrChangedMeanwhile
}

// deleteRow deletes the row id of table with its audit record; notFound
// when there was none. table comes from the callers' constants.
func (db *DB) deleteRow(ctx context.Context, table, id string, notFound error, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE id = $1", id)
		if err != nil {
			return fmt.Errorf("delete from %s: %w", table, err)
		}
		if err := mustAffect(res, notFound); err != nil {
			return err
		}
		return appendAudit(ctx, tx, rec)
	})
}

// DeleteTaxRate deletes a rate; pricing.ErrTaxRateNotFound when there is none.
func (db *DB) DeleteTaxRate(ctx context.Context, id string, rec audit.Record) error {
	return db.deleteRow(ctx, "tax_rates", id, pricing.ErrTaxRateNotFound, rec)
}

// TaxRate returns the rate id.
func (db *DB) TaxRate(ctx context.Context, id string) (pricing.TaxRate, error) {
	return scanTaxRate(db.sql.QueryRowContext(ctx, "SELECT "+taxRateColumns+" FROM tax_rates WHERE id = $1", id))
}

// ListTaxRates returns up to limit rates ordered by id, after after.
func (db *DB) ListTaxRates(ctx context.Context, after string, limit int) ([]pricing.TaxRate, error) {
	return queryAll(ctx, db.sql, scanTaxRate, "SELECT "+taxRateColumns+" FROM tax_rates WHERE id > $1 ORDER BY id LIMIT $2", after, limit)
}

// TaxRatesFor returns every rate of country (the country-wide ones and every
// region's), for pricing.ApplicableRates to choose from.
func (db *DB) TaxRatesFor(ctx context.Context, country string) ([]pricing.TaxRate, error) {
	return queryAll(ctx, db.sql, scanTaxRate, "SELECT "+taxRateColumns+" FROM tax_rates WHERE country = $1 ORDER BY region, id", country)
}

// queryAll runs query and scans every row with scan.
func queryAll[T any](ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	return out, nil
}
