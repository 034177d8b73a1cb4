package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/catalog"
)

// AddVariant inserts v into its product. The product's row is updated first,
// which both engines serialize, so concurrent additions to one product are
// counted one after the other and never pass catalog.MaxVariants.
func (db *DB) AddVariant(ctx context.Context, v catalog.Variant, rec audit.Record) (catalog.Product, error) {
	var p catalog.Product
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE products SET updated_at = $1 WHERE id = $2", micros(v.CreatedAt), v.ProductID)
		if err != nil {
			return fmt.Errorf("touch product: %w", err)
		}
		if err := mustAffect(res, catalog.ErrNotFound); err != nil {
			return err
		}
		var n, last int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(MAX(position), -1) FROM variants WHERE product_id = $1", v.ProductID).Scan(&n, &last); err != nil {
			return fmt.Errorf("count variants: %w", err)
		}
		if n >= catalog.MaxVariants {
			return catalog.ErrTooManyVariants
		}
		v.Position = last + 1
		if err := insertVariant(ctx, tx, v); err != nil {
			return err
		}
		if _, err := db.indexProduct(ctx, tx, v.ProductID, false); err != nil {
			return err
		}
		if err := appendAudit(ctx, tx, rec); err != nil {
			return err
		}
		p, err = readProduct(ctx, tx, v.ProductID)
		return err
	})
	return p, err
}

// UpdateVariant applies patch to a variant.
func (db *DB) UpdateVariant(ctx context.Context, variantID string, patch catalog.VariantPatch, at time.Time, rec audit.Record) (catalog.Product, error) {
	var p catalog.Product
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var productID string
		err := tx.QueryRowContext(ctx, "UPDATE variants SET updated_at = $1 WHERE id = $2 RETURNING product_id", micros(at), variantID).Scan(&productID)
		if errors.Is(err, sql.ErrNoRows) {
			return catalog.ErrVariantNotFound
		}
		if err != nil {
			return fmt.Errorf("touch variant: %w", err)
		}
		if patch.SKU != nil {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM variants WHERE sku = $1 AND id <> $2", *patch.SKU, variantID).Scan(&n); err != nil {
				return fmt.Errorf("find sku: %w", err)
			}
			if n > 0 {
				return catalog.ErrSKUTaken
			}
			_, err := tx.ExecContext(ctx, "UPDATE variants SET sku = $1 WHERE id = $2", *patch.SKU, variantID)
			if isUniqueViolation(err) {
				return catalog.ErrSKUTaken
			}
			if err != nil {
				return fmt.Errorf("update sku: %w", err)
			}
			if _, err := db.indexProduct(ctx, tx, productID, false); err != nil {
				return err
			}
		}
		if patch.WeightGrams != nil {
			if _, err := tx.ExecContext(ctx, "UPDATE variants SET weight_grams = $1 WHERE id = $2", *patch.WeightGrams, variantID); err != nil {
				return fmt.Errorf("update weight: %w", err)
			}
		}
		if patch.Prices != nil {
			if err := setPrices(ctx, tx, variantID, *patch.Prices); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE products SET updated_at = $1 WHERE id = $2", micros(at), productID); err != nil {
			return fmt.Errorf("touch product: %w", err)
		}
		if err := appendAudit(ctx, tx, rec); err != nil {
			return err
		}
		p, err = readProduct(ctx, tx, productID)
		return err
	})
	return p, err
}

// AdjustStock adds delta to a variant's stock in one conditional statement,
// so concurrent adjustments can never take it below zero on either engine.
func (db *DB) AdjustStock(ctx context.Context, variantID string, delta int64, at time.Time, rec audit.Record) (catalog.Product, error) {
	var p catalog.Product
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var productID string
		err := tx.QueryRowContext(ctx, `UPDATE variants SET stock = stock + $1, updated_at = $2
			WHERE id = $3 AND stock + $1 >= 0 AND stock + $1 <= $4 RETURNING product_id`,
			delta, micros(at), variantID, int64(catalog.MaxStock)).Scan(&productID)
		if errors.Is(err, sql.ErrNoRows) {
			// No row changed: either there is no such variant or the stock would go out of range.
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM variants WHERE id = $1", variantID).Scan(&n); err != nil {
				return fmt.Errorf("find variant: %w", err)
			}
			if n == 0 {
				return catalog.ErrVariantNotFound
			}
			return catalog.ErrInsufficientStock
		}
		if err != nil {
			return fmt.Errorf("adjust stock: %w", err)
		}
		if err := appendAudit(ctx, tx, rec); err != nil {
			return err
		}
		p, err = readProduct(ctx, tx, productID)
		return err
	})
	return p, err
}
