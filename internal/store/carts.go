package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/cart"
	"github.com/bulwark-shop/bulwark/internal/pricing"
)

var _ cart.Store = (*DB)(nil)

// CreateCart inserts an empty cart.
func (db *DB) CreateCart(ctx context.Context, c cart.Cart) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO carts (id, owner_id, currency, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
			c.ID, c.OwnerID, c.Currency, micros(c.CreatedAt)); err != nil {
			return fmt.Errorf("insert cart: %w", err)
		}
		return nil
	})
}

// Cart returns the owner's cart with its lines.
func (db *DB) Cart(ctx context.Context, ownerID, cartID string) (cart.Cart, error) {
	return readCart(ctx, db.sql, ownerID, cartID)
}

// readCart reads the cart and its lines in one statement: one snapshot on
// either engine, and one round trip on PostgreSQL. The lines come joined by
// commas in variant order, as variant:quantity (ids and numbers hold no
// comma or colon).
func readCart(ctx context.Context, q queryer, ownerID, cartID string) (cart.Cart, error) {
	c := cart.Cart{ID: cartID, OwnerID: ownerID}
	var created int64
	var country, region string
	var lines sql.NullString
	err := q.QueryRowContext(ctx, `SELECT c.currency, c.discount_code, c.ship_country, c.ship_region, c.shipping_option_id, c.created_at,
		(SELECT string_agg(l.variant_id || ':' || CAST(l.quantity AS TEXT), ',' ORDER BY l.variant_id) FROM cart_lines l WHERE l.cart_id = c.id)
		FROM carts c WHERE c.id = $1 AND c.owner_id = $2`, cartID, ownerID).
		Scan(&c.Currency, &c.DiscountCode, &country, &region, &c.ShippingOptionID, &created, &lines)
	if errors.Is(err, sql.ErrNoRows) {
		return cart.Cart{}, cart.ErrNotFound
	}
	if err != nil {
		return cart.Cart{}, fmt.Errorf("read cart: %w", err)
	}
	c.CreatedAt = fromMicros(created)
	if country != "" {
		c.Destination = &pricing.Destination{Country: country, Region: region}
	}
	if lines.String == "" {
		return c, nil
	}
	for _, line := range strings.Split(lines.String, ",") {
		variant, quantity, ok := strings.Cut(line, ":")
		n, err := strconv.Atoi(quantity)
		if !ok || err != nil {
			return cart.Cart{}, fmt.Errorf("read cart lines of %s: %q is not variant:quantity", cartID, line)
		}
		c.Lines = append(c.Lines, cart.Line{VariantID: variant, Quantity: n})
	}
	return c, nil
}

// CartsOf returns every cart of ownerID with its lines and choices, ordered
// by id: for the person's export (erasure deletes them).
func (db *DB) CartsOf(ctx context.Context, ownerID string) ([]cart.Cart, error) {
	ids, err := queryAll(ctx, db.sql, func(row rowScanner) (string, error) {
		var id string
		if err := row.Scan(&id); err != nil {
			return "", fmt.Errorf("scan cart id: %w", err)
		}
		return id, nil
	}, "SELECT id FROM carts WHERE owner_id = $1 ORDER BY id", ownerID)
	if err != nil {
		return nil, fmt.Errorf("carts of %s: %w", ownerID, err)
	}
	cs := make([]cart.Cart, 0, len(ids))
	for _, id := range ids {
		c, err := readCart(ctx, db.sql, ownerID, id)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// touchCart marks the owner's cart changed at at, in the caller's
// transaction: cart.ErrNotFound for no such cart (or someone else's),
// cart.ErrCheckingOut while a checkout holds it. A cart a checkout holds does
// not change under it: the order would miss a line the customer sees, or
// completion would delete one unpaid. The UPDATE waits for a checkout's claim
// to commit, on both engines.
func touchCart(ctx context.Context, tx *sql.Tx, ownerID, cartID string, at time.Time) error {
	res, err := tx.ExecContext(ctx, "UPDATE carts SET updated_at = $1 WHERE id = $2 AND owner_id = $3 AND checkout_order_id = ''", micros(at), cartID, ownerID)
	if err != nil {
		return fmt.Errorf("touch cart: %w", err)
	}
	if err := mustAffect(res, cart.ErrCheckingOut); err != nil {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM carts WHERE id = $1 AND owner_id = $2", cartID, ownerID).Scan(&n); err != nil {
			return fmt.Errorf("find cart: %w", err)
		}
		if n == 0 {
			return cart.ErrNotFound
		}
		return err
	}
	return nil
}

// SetDiscountCode sets the cart's discount code ("" removes it).
func (db *DB) SetDiscountCode(ctx context.Context, ownerID, cartID, code string, at time.Time) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := touchCart(ctx, tx, ownerID, cartID, at); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE carts SET discount_code = $1 WHERE id = $2", code, cartID); err != nil {
			return fmt.Errorf("set discount code: %w", err)
		}
		return nil
	})
}

// SetShipping sets where the cart ships to (country and region only) and
// the shipping option chosen.
func (db *DB) SetShipping(ctx context.Context, ownerID, cartID string, d pricing.Destination, optionID string, at time.Time) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := touchCart(ctx, tx, ownerID, cartID, at); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE carts SET ship_country = $1, ship_region = $2, shipping_option_id = $3 WHERE id = $4",
			d.Country, d.Region, optionID, cartID); err != nil {
			return fmt.Errorf("set cart shipping: %w", err)
		}
		return nil
	})
}

// SetLine sets one line of the owner's cart, or removes the lines of a
// variant or of every variant of a product.
func (db *DB) SetLine(ctx context.Context, ownerID, cartID, itemID string, quantity int, at time.Time) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := touchCart(ctx, tx, ownerID, cartID, at); err != nil {
			return err
		}
		if quantity == 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM cart_lines WHERE cart_id = $1
				AND (variant_id = $2 OR variant_id IN (SELECT id FROM variants WHERE product_id = $2))`, cartID, itemID); err != nil {
				return fmt.Errorf("remove cart line: %w", err)
			}
			return nil
		}
		// One statement, whether the line is new or not: a new line only
		// while the cart holds fewer than cart.MaxLines. The cart's row,
		// updated just before, keeps other writers of this cart waiting.
		res, err := tx.ExecContext(ctx, `INSERT INTO cart_lines (cart_id, variant_id, quantity) SELECT $1, $2, $3
			WHERE (SELECT COUNT(*) FROM cart_lines WHERE cart_id = $1) < $4
			   OR EXISTS (SELECT 1 FROM cart_lines WHERE cart_id = $1 AND variant_id = $2)
			ON CONFLICT (cart_id, variant_id) DO UPDATE SET quantity = excluded.quantity`, cartID, itemID, quantity, cart.MaxLines)
		if err != nil {
			return fmt.Errorf("set cart line: %w", err)
		}
		return mustAffect(res, cart.ErrFull)
	})
}
