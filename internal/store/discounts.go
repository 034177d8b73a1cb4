package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/pricing"
)

// discountRules is the rules column of discounts.
type discountRules struct {
	Amounts     []moneyRecord `json:"amounts,omitempty"`
	MinSubtotal []moneyRecord `json:"min_subtotal,omitempty"`
	ProductIDs  []string      `json:"product_ids,omitempty"`
	CategoryIDs []string      `json:"category_ids,omitempty"`
}

const discountColumns = "id, code, kind, basis_points, rules, starts_at, ends_at, max_uses, max_uses_per_customer, uses, active, created_at, updated_at"

func discountArgs(d pricing.Discount) (rules string, starts, ends sql.NullInt64, err error) {
	b, err := json.Marshal(discountRules{Amounts: toMoneyRecords(d.Amounts), MinSubtotal: toMoneyRecords(d.MinSubtotal), ProductIDs: d.ProductIDs, CategoryIDs: d.CategoryIDs})
	if err != nil {
		return "", starts, ends, fmt.Errorf("encode discount rules: %w", err)
	}
	if !d.StartsAt.IsZero() {
		starts = sql.NullInt64{Int64: micros(d.StartsAt), Valid: true}
	}
	if !d.EndsAt.IsZero() {
		ends = sql.NullInt64{Int64: micros(d.EndsAt), Valid: true}
	}
	return string(b), starts, ends, nil
}

func scanDiscount(row rowScanner) (pricing.Discount, error) {
	var d pricing.Discount
	var rules string
	var starts, ends sql.NullInt64
	var created, updated int64
	err := row.Scan(&d.ID, &d.Code, &d.Kind, &d.BasisPoints, &rules, &starts, &ends, &d.MaxUses, &d.MaxUsesPerCustomer, &d.Uses, &d.Active, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return pricing.Discount{}, pricing.ErrDiscountNotFound
	}
	if err != nil {
		return pricing.Discount{}, fmt.Errorf("scan discount: %w", err)
	}
	var r discountRules
	if err := json.Unmarshal([]byte(rules), &r); err != nil {
		return pricing.Discount{}, fmt.Errorf("decode rules of discount %s: %w", d.ID, err)
	}
	d.Amounts, d.MinSubtotal, d.ProductIDs, d.CategoryIDs = fromMoneyRecords(r.Amounts), fromMoneyRecords(r.MinSubtotal), r.ProductIDs, r.CategoryIDs
	if starts.Valid {
		d.StartsAt = fromMicros(starts.Int64)
	}
	if ends.Valid {
		d.EndsAt = fromMicros(ends.Int64)
	}
	d.CreatedAt, d.UpdatedAt = fromMicros(created), fromMicros(updated)
	return d, nil
}

// CreateDiscount inserts d; pricing.ErrDiscountCodeTaken when its code is in use.
func (db *DB) CreateDiscount(ctx context.Context, d pricing.Discount, rec audit.Record) error {
	rules, starts, ends, err := discountArgs(d)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO discounts ("+discountColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
			d.ID, d.Code, string(d.Kind), d.BasisPoints, rules, starts, ends, d.MaxUses, d.MaxUsesPerCustomer, d.Uses, d.Active, micros(d.CreatedAt), micros(d.UpdatedAt))
		if isUniqueViolation(err) {
			return pricing.ErrDiscountCodeTaken
		}
		if err != nil {
			return fmt.Errorf("insert discount: %w", err)
		}
		return appendAudit(ctx, tx, rec)
	})
}

// ReplaceDiscount writes d over the stored discount while its updated_at is
// prev. The use count is not written: only RedeemDiscount changes it.
func (db *DB) ReplaceDiscount(ctx context.Context, d pricing.Discount, prev time.Time, rec audit.Record) error {
	rules, starts, ends, err := discountArgs(d)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE discounts SET code = $1, kind = $2, basis_points = $3, rules = $4, starts_at = $5, ends_at = $6,
			max_uses = $7, max_uses_per_customer = $8, active = $9, updated_at = $10 WHERE id = $11 AND updated_at = $12`,
			d.Code, string(d.Kind), d.BasisPoints, rules, starts, ends, d.MaxUses, d.MaxUsesPerCustomer, d.Active, micros(d.UpdatedAt), d.ID, micros(prev))
		if isUniqueViolation(err) {
			return pricing.ErrDiscountCodeTaken
		}
		if err != nil {
			return fmt.Errorf("update discount: %w", err)
		}
		if err := replaced(ctx, tx, res, "discounts", d.ID, pricing.ErrDiscountNotFound); err != nil {
			return err
		}
		return appendAudit(ctx, tx, rec)
	})
}

// DeleteDiscount deletes a discount and its per-customer counts.
func (db *DB) DeleteDiscount(ctx context.Context, id string, rec audit.Record) error {
	return db.deleteRow(ctx, "discounts", id, pricing.ErrDiscountNotFound, rec)
}

// Discount returns the discount id, with its use count.
func (db *DB) Discount(ctx context.Context, id string) (pricing.Discount, error) {
	return scanDiscount(db.sql.QueryRowContext(ctx, "SELECT "+discountColumns+" FROM discounts WHERE id = $1", id))
}

// DiscountByCode returns the discount with the normalized code;
// pricing.ErrDiscountNotFound when there is none (the caller answers
// pricing.ErrDiscountUnknown to the customer).
func (db *DB) DiscountByCode(ctx context.Context, code string) (pricing.Discount, error) {
	return scanDiscount(db.sql.QueryRowContext(ctx, "SELECT "+discountColumns+" FROM discounts WHERE code = $1", code))
}

// ListDiscounts returns up to limit discounts ordered by id, after after.
func (db *DB) ListDiscounts(ctx context.Context, after string, limit int) ([]pricing.Discount, error) {
	return queryAll(ctx, db.sql, scanDiscount, "SELECT "+discountColumns+" FROM discounts WHERE id > $1 ORDER BY id LIMIT $2", after, limit)
}

// DiscountUses returns how often customerID has used the discount.
func (db *DB) DiscountUses(ctx context.Context, discountID, customerID string) (int64, error) {
	var n int64
	err := db.sql.QueryRowContext(ctx, "SELECT uses FROM discount_uses WHERE discount_id = $1 AND user_id = $2", discountID, customerID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("discount uses: %w", err)
	}
	return n, nil
}

// DiscountUsesOf returns every discount customerID has used, with their
// counts, ordered by discount id: for the person's export. Erase deletes them.
func (db *DB) DiscountUsesOf(ctx context.Context, customerID string) ([]pricing.CustomerUse, error) {
	uses, err := queryAll(ctx, db.sql, func(row rowScanner) (pricing.CustomerUse, error) {
		var u pricing.CustomerUse
		if err := row.Scan(&u.DiscountID, &u.Uses); err != nil {
			return u, fmt.Errorf("scan discount use: %w", err)
		}
		return u, nil
	}, "SELECT discount_id, uses FROM discount_uses WHERE user_id = $1 ORDER BY discount_id", customerID)
	if err != nil {
		return nil, fmt.Errorf("discount uses of %s: %w", customerID, err)
	}
	return uses, nil
}

// RedeemDiscount counts one use of a discount by customerID in a
// transaction of its own; see redeemDiscount.
func (db *DB) RedeemDiscount(ctx context.Context, discountID, customerID string) error {
	return db.inTx(ctx, func(tx *sql.Tx) error { return redeemDiscount(ctx, tx, discountID, customerID) })
}

// redeemDiscount counts one use of a discount by customerID inside the
// caller's transaction (the order's): pricing.ErrDiscountExhausted when the
// total or the customer's limit is reached, pricing.ErrDiscountNotFound when
// the discount is gone. Each count is one conditional statement, so racing
// checkouts for the last use make exactly one order on either engine: on
// PostgreSQL the second UPDATE waits for the first's row lock and re-reads
// the row; on SQLite writers take turns. A refusal leaves the caller's
// transaction to roll back, so no count stays behind.
func redeemDiscount(ctx context.Context, tx *sql.Tx, discountID, customerID string) error {
	var perCustomer int64
	err := tx.QueryRowContext(ctx, `UPDATE discounts SET uses = uses + 1
		WHERE id = $1 AND (max_uses = 0 OR uses < max_uses) RETURNING max_uses_per_customer`, discountID).Scan(&perCustomer)
	if errors.Is(err, sql.ErrNoRows) {
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM discounts WHERE id = $1", discountID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return pricing.ErrDiscountNotFound
		}
		if err != nil {
			return fmt.Errorf("find discount: %w", err)
		}
		return pricing.ErrDiscountExhausted
	}
	if err != nil {
		return fmt.Errorf("count discount use: %w", err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO discount_uses (discount_id, user_id, uses) VALUES ($1, $2, 1)
		ON CONFLICT (discount_id, user_id) DO UPDATE SET uses = discount_uses.uses + 1
		WHERE $3 = 0 OR discount_uses.uses < $3`, discountID, customerID, perCustomer)
	if err != nil {
		return fmt.Errorf("count customer's discount use: %w", err)
	}
	return mustAffect(res, pricing.ErrDiscountExhausted)
}

// returnDiscountUse takes back one use of a discount by customerID inside the
// caller's transaction (a pending order's release): the reverse of
// redeemDiscount. A discount deleted meanwhile has nothing to give back.
func returnDiscountUse(ctx context.Context, tx *sql.Tx, discountID, customerID string) error {
	if _, err := tx.ExecContext(ctx, "UPDATE discounts SET uses = uses - 1 WHERE id = $1 AND uses > 0", discountID); err != nil {
		return fmt.Errorf("discount use: %w", err)
	}
	// A customer's count is at least 1 (CHECK on SQLite): the last use goes
	// with its row.
	if _, err := tx.ExecContext(ctx, "DELETE FROM discount_uses WHERE discount_id = $1 AND user_id = $2 AND uses <= 1",
		discountID, customerID); err != nil {
		return fmt.Errorf("customer's discount use: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE discount_uses SET uses = uses - 1 WHERE discount_id = $1 AND user_id = $2",
		discountID, customerID); err != nil {
		return fmt.Errorf("customer's discount use: %w", err)
	}
	return nil
}
