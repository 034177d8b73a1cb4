package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/catalog"
)

var _ catalog.Store = (*DB)(nil)

const productColumns = "id, sku, name, description, price_amount, currency, stock, active, created_at, updated_at"

type rowScanner interface{ Scan(dest ...any) error }

func scanProduct(row rowScanner) (catalog.Product, error) {
	var p catalog.Product
	var created, updated int64
	err := row.Scan(&p.ID, &p.SKU, &p.Name, &p.Description, &p.Price.Amount, &p.Price.Currency, &p.Stock, &p.Active, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return catalog.Product{}, catalog.ErrNotFound
	}
	if err != nil {
		return catalog.Product{}, fmt.Errorf("scan product: %w", err)
	}
	p.CreatedAt, p.UpdatedAt = fromMicros(created), fromMicros(updated)
	return p, nil
}

// CreateProduct inserts p.
func (db *DB) CreateProduct(ctx context.Context, p catalog.Product, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO products ("+productColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
			p.ID, p.SKU, p.Name, p.Description, p.Price.Amount, p.Price.Currency, p.Stock, p.Active, micros(p.CreatedAt), micros(p.UpdatedAt))
		if isUniqueViolation(err) {
			return catalog.ErrSKUTaken
		}
		if err != nil {
			return fmt.Errorf("insert product: %w", err)
		}
		return appendAudit(ctx, tx, rec)
	})
}

// UpdateProduct applies patch. Each field is one fixed statement: no SQL is
// assembled from what the client sent.
func (db *DB) UpdateProduct(ctx context.Context, id string, patch catalog.Patch, at time.Time, rec audit.Record) (catalog.Product, error) {
	var p catalog.Product
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE products SET updated_at = $1 WHERE id = $2", micros(at), id)
		if err != nil {
			return fmt.Errorf("touch product: %w", err)
		}
		if err := mustAffect(res, catalog.ErrNotFound); err != nil {
			return err
		}
		set := func(query string, args ...any) error {
			if _, err := tx.ExecContext(ctx, query, args...); err != nil {
				return fmt.Errorf("update product: %w", err)
			}
			return nil
		}
		if patch.Name != nil {
			if err := set("UPDATE products SET name = $1 WHERE id = $2", *patch.Name, id); err != nil {
				return err
			}
		}
		if patch.Description != nil {
			if err := set("UPDATE products SET description = $1 WHERE id = $2", *patch.Description, id); err != nil {
				return err
			}
		}
		if patch.Price != nil {
			if err := set("UPDATE products SET price_amount = $1, currency = $2 WHERE id = $3", patch.Price.Amount, patch.Price.Currency, id); err != nil {
				return err
			}
		}
		if patch.Active != nil {
			if err := set("UPDATE products SET active = $1 WHERE id = $2", *patch.Active, id); err != nil {
				return err
			}
		}
		if err := appendAudit(ctx, tx, rec); err != nil {
			return err
		}
		p, err = scanProduct(tx.QueryRowContext(ctx, "SELECT "+productColumns+" FROM products WHERE id = $1", id))
		return err
	})
	return p, err
}

// AdjustStock adds delta to the stock in one conditional statement, so
// concurrent adjustments can never take it below zero on either engine.
func (db *DB) AdjustStock(ctx context.Context, id string, delta int64, at time.Time, rec audit.Record) (catalog.Product, error) {
	var p catalog.Product
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, "UPDATE products SET stock = stock + $1, updated_at = $2 WHERE id = $3 AND stock + $1 >= 0 AND stock + $1 <= $4 RETURNING "+productColumns,
			delta, micros(at), id, int64(catalog.MaxStock))
		var err error
		p, err = scanProduct(row)
		if errors.Is(err, catalog.ErrNotFound) {
			// No row changed: either there is no such product or the stock would go out of range.
			if _, err := scanProduct(tx.QueryRowContext(ctx, "SELECT "+productColumns+" FROM products WHERE id = $1", id)); err != nil {
				return err
			}
			return catalog.ErrInsufficientStock
		}
		if err != nil {
			return err
		}
		return appendAudit(ctx, tx, rec)
	})
	return p, err
}

// Product returns the product with id.
func (db *DB) Product(ctx context.Context, id string) (catalog.Product, error) {
	return scanProduct(db.sql.QueryRowContext(ctx, "SELECT "+productColumns+" FROM products WHERE id = $1", id))
}

// likePattern escapes LIKE's wildcards in s so the search is for s literally.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

// ListProducts returns products ordered by id after q.After.
func (db *DB) ListProducts(ctx context.Context, q catalog.ListQuery) ([]catalog.Product, error) {
	rows, err := db.sql.QueryContext(ctx, "SELECT "+productColumns+` FROM products
		WHERE id > $1
		  AND ($2 = '' OR lower(name) LIKE $3 ESCAPE '\' OR lower(sku) LIKE $3 ESCAPE '\')
		  AND (active = TRUE OR $4 = FALSE)
		ORDER BY id LIMIT $5`, q.After, q.Search, likePattern(q.Search), q.ActiveOnly, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	defer rows.Close()
	var ps []catalog.Product
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	return ps, nil
}
