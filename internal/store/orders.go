package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/cart"
	"github.com/bulwark-shop/bulwark/internal/catalog"
	"github.com/bulwark-shop/bulwark/internal/checkout"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/pricing"
	"github.com/bulwark-shop/bulwark/internal/scoring"
	"github.com/bulwark-shop/bulwark/internal/webhook"
)

var (
	_ order.Store    = (*DB)(nil)
	_ checkout.Store = (*DB)(nil)
)

// Idempotency record states.
const (
	idemInProgress = "in_progress"
	idemDone       = "done"
)

// BeginIdempotent claims a key with one INSERT ... ON CONFLICT DO NOTHING, which
// both engines make atomic: of concurrent requests with one key, exactly one
// inserts; the others read what it left.
func (db *DB) BeginIdempotent(ctx context.Context, ownerID, scope, key, hash string, at time.Time) (order.Prior, error) {
	var prior order.Prior
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		prior, err = db.claimKey(ctx, tx, ownerID, scope, key, hash, at)
		return err
	})
	return prior, err
}

func (db *DB) claimKey(ctx context.Context, tx *sql.Tx, ownerID, scope, key, hash string, at time.Time) (order.Prior, error) {
	var prior order.Prior
	res, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys (owner_id, scope, idem_key, request_hash, state, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (owner_id, scope, idem_key) DO NOTHING`,
		ownerID, scope, key, hash, idemInProgress, micros(at))
	if err != nil {
		return prior, fmt.Errorf("claim idempotency key: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		prior.Fresh = true
		return prior, err
	}
	prior, err = db.readKey(ctx, tx, ownerID, scope, key, hash)
	if err == nil && prior.Fresh {
		// The key was there for the INSERT and gone for the read: its request
		// released it meanwhile. Not claimed by this one: answer as in progress.
		return order.Prior{InProgress: true}, nil
	}
	return prior, err
}

// PeekIdempotent reports what an earlier request with the key left, without
// claiming it (Fresh when there was none): a checkout answers a key already
// used before it prices a cart that the first request may have emptied.
func (db *DB) PeekIdempotent(ctx context.Context, ownerID, scope, key, hash string) (order.Prior, error) {
	return db.readKey(ctx, db.sql, ownerID, scope, key, hash)
}

// readKey reads the state of a key: Fresh when it is not there.
func (db *DB) readKey(ctx context.Context, q queryer, ownerID, scope, key, hash string) (order.Prior, error) {
	var prior order.Prior
	var storedHash, state, orderJSON, code, sealedFor string
	var sealed, wrapped []byte
	if err := q.QueryRowContext(ctx, `SELECT request_hash, state, order_json, error_code, order_sealed, sealed_for,
		(SELECT k.wrapped FROM subject_keys k WHERE k.subject_id = idempotency_keys.sealed_for) FROM idempotency_keys
		WHERE owner_id = $1 AND scope = $2 AND idem_key = $3`, ownerID, scope, key).Scan(&storedHash, &state, &orderJSON, &code, &sealed, &sealedFor, &wrapped); errors.Is(err, sql.ErrNoRows) {
		return order.Prior{Fresh: true}, nil
	} else if err != nil {
		return prior, fmt.Errorf("read idempotency key: %w", err)
	}
	switch {
	case storedHash != hash:
		prior.Mismatch = true
	case state == idemInProgress:
		prior.InProgress = true
	case sealed != nil:
		var b json.RawMessage
		if err := db.open(sealedFor, wrapped, answerAt(ownerID, scope, key), sealed, &b); err != nil {
			return prior, fmt.Errorf("read stored response: %w", err)
		}
		var o order.Order
		if b != nil { // nil: its subject was erased, and the person with it
			var err error
			if o, err = decodeAnswer(b); err != nil {
				return prior, fmt.Errorf("read stored response: %w", err)
			}
		}
		prior.Order = &o
	case orderJSON != "": // an answer without a person, or one stored before answers were sealed
		o, err := decodeAnswer([]byte(orderJSON))
		if err != nil {
			return prior, fmt.Errorf("read stored response: %w", err)
		}
		prior.Order = &o
	default:
		prior.ErrorCode = code
	}
	return prior, nil
}

// ForgetIdempotent deletes a key that is still in progress.
func (db *DB) ForgetIdempotent(ctx context.Context, ownerID, scope, key string) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		return forgetKey(ctx, tx, ownerID, scope, key)
	})
}

func forgetKey(ctx context.Context, tx *sql.Tx, ownerID, scope, key string) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM idempotency_keys WHERE owner_id = $1 AND scope = $2 AND idem_key = $3 AND state = $4",
		ownerID, scope, key, idemInProgress); err != nil {
		return fmt.Errorf("forget idempotency key: %w", err)
	}
	return nil
}

// finishKey records the answer to a key: a refusal's code, or an order as a
// storedAnswer (answer.go), which is sealed under the key of the order's
// customer (it holds their address).
func (db *DB) finishKey(ctx context.Context, tx *sql.Tx, ownerID, scope, key, code string, o *order.Order) error {
	var sealed []byte
	var sealedFor, plain string
	if o != nil {
		wrapped, err := subjectKey(ctx, tx, o.CustomerID)
		if err != nil {
			return err
		}
		if wrapped == nil {
			// The customer was erased (a refund on their order, for accounting):
			// the order holds no person any more, so it is stored as it is.
			b, err := encodeAnswer(withoutPerson(*o))
			if err != nil {
				return fmt.Errorf("store response: %w", err)
			}
			plain = string(b)
		} else {
			if sealed, err = db.seal(o.CustomerID, wrapped, answerAt(ownerID, scope, key), newStoredAnswer(*o)); err != nil {
				return fmt.Errorf("store response: %w", err)
			}
			sealedFor = o.CustomerID
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET state = $1, order_json = $2, order_sealed = $3, sealed_for = $4, error_code = $5
		WHERE owner_id = $6 AND scope = $7 AND idem_key = $8`, idemDone, plain, sealed, sealedFor, code, ownerID, scope, key); err != nil {
		return fmt.Errorf("finish idempotency key: %w", err)
	}
	return nil
}

// FinishIdempotentError records a refusal as the key's answer, inserting the
// key when no claim exists (a checkout claims it in the transaction that a
// refusal rolls back).
func (db *DB) FinishIdempotentError(ctx context.Context, ownerID, scope, key, hash, code string, at time.Time, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys (owner_id, scope, idem_key, request_hash, state, error_code, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (owner_id, scope, idem_key) DO UPDATE SET state = excluded.state, error_code = excluded.error_code`,
			ownerID, scope, key, hash, idemDone, code, micros(at)); err != nil {
			return fmt.Errorf("record refusal: %w", err)
		}
		return appendAudit(ctx, tx, rec)
	})
}

// Reserve takes the stock of every cart line and creates the pending order.
// Each decrement is conditional (stock >= quantity), so concurrent checkouts on
// any number of instances can never take stock below zero; lines are taken in
// variant-id order, so two checkouts never wait on each other in a cycle.
//
// The stock is taken last, after the order and its lines are written, and
// then the discount code's use: on PostgreSQL a decrement holds its variant's
// row lock until the commit, and every checkout of that variant queues behind
// it, so the lock is held for the decrements and the commit only (a best
// seller's checkouts went from queueing behind each other's sealing, inserts
// and round trips to queueing behind one statement each). Variants before the
// code is the order Release takes them in, so the two never wait on each
// other in a cycle.
//
// The Idempotency-Key is claimed in the same transaction, so the common case
// takes one commit; when the key was used before, nothing is reserved and the
// earlier request's Prior is returned instead.
func (db *DB) Reserve(ctx context.Context, r checkout.Reservation) (order.Order, order.Prior, error) {
	var prior order.Prior
	o := order.Order{ID: r.OrderID, CustomerID: r.CustomerID, Status: order.StatusPending,
		PaymentMethodID: r.Method.ID, Brand: string(r.Method.Brand), Last4: r.Method.Last4,
		ShippingAddress: r.Address, CreatedAt: r.At}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if prior, err = db.claimKey(ctx, tx, r.CustomerID, order.ScopeCheckout, r.Key, r.Hash, r.At); err != nil || !prior.Fresh {
			return err
		}
		// One cart, one order: the cart is claimed by this pending order with a
		// conditional UPDATE, which both engines serialize on the cart's row, so
		// of concurrent checkouts of one cart (whatever their keys, on any
		// instance) exactly one claims it; the others roll back before taking
		// any stock or calling the processor.
		res, err := tx.ExecContext(ctx, "UPDATE carts SET checkout_order_id = $1 WHERE id = $2 AND owner_id = $3 AND checkout_order_id = ''",
			o.ID, r.CartID, r.CustomerID)
		if err != nil {
			return fmt.Errorf("claim cart %s: %w", r.CartID, err)
		}
		if err := mustAffect(res, checkout.ErrCartCheckedOut); err != nil {
			if _, rerr := readCart(ctx, tx, r.CustomerID, r.CartID); rerr != nil {
				return rerr // no such cart, or another customer's
			}
			return err
		}
		// The lines are read only once the cart is claimed. Read before, on
		// PostgreSQL (read committed), they could be those of a checkout that
		// was completing meanwhile: this UPDATE waited on its row lock, then
		// found the cart released and claimed it, and the stale lines would
		// have been paid a second time.
		c, err := readCart(ctx, tx, r.CustomerID, r.CartID)
		if err != nil {
			return err
		}
		if len(c.Lines) == 0 {
			return order.ErrCartEmpty
		}
		// The cart must be the one that was priced, line for line (the
		// customer may have changed it in another tab since).
		if !cart.SameContents(c, r.Cart) || len(r.Priced.Lines) != len(c.Lines) {
			return checkout.ErrPriceChanged
		}
		currency := r.Priced.Total.Currency
		o.Lines = make([]order.Line, 0, len(c.Lines))
		// Lines come in variant-id order (readCart), so two checkouts take
		// their rows in one order and never wait on each other in a cycle.
		for i, l := range c.Lines {
			line, err := readLine(ctx, tx, l, currency, r.At)
			if err != nil {
				return err
			}
			want := r.Priced.Lines[i]
			if line.VariantID != want.VariantID || line.UnitPrice != want.UnitPrice {
				return checkout.ErrPriceChanged // a price changed since the cart was priced
			}
			line.LineTotal, line.Discount, line.Tax = want.LineTotal, want.Discount, want.Tax
			line.ID = id.New(id.OrderLine)
			o.Lines = append(o.Lines, line)
		}
		p := r.Priced
		o.Subtotal, o.Discount, o.DiscountCode, o.Shipping, o.ShippingOption = p.Subtotal, p.Discount, p.DiscountCode, p.Shipping, p.ShippingOption
		o.Tax, o.TaxInclusive, o.Taxes, o.Total = p.Tax, p.TaxInclusive, p.Taxes, p.Total
		zero := money.Money{Currency: currency}
		o.Captured, o.Refunded = zero, zero
		taxes, err := json.Marshal(o.Taxes)
		if err != nil {
			return fmt.Errorf("encode tax lines: %w", err)
		}
		var optionID, optionName string
		if o.ShippingOption != nil {
			optionID, optionName = o.ShippingOption.OptionID, o.ShippingOption.Name
		}
		taxMode := pricing.TaxExclusive
		if o.TaxInclusive {
			taxMode = pricing.TaxInclusive
		}
		sealed, err := db.sealShipping(ctx, tx, o.CustomerID, o.ID, o.ShippingAddress)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO orders (id, customer_id, status, currency, subtotal, shipping, total,
			payment_method_id, brand, last4, ship_name, ship_line1, ship_line2, ship_city, ship_postal_code, ship_country, ship_phone,
			ship_sealed, created_at, updated_at, idem_key, owner_instance, lease_until,
			discount, discount_id, discount_code, shipping_option_id, shipping_option_name, tax, tax_mode, taxes_json, ship_region)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '', '', '', '', '', $11, '', $12, $13, $13, $14, $15, $16,
			$17, $18, $19, $20, $21, $22, $23, $24, $25)`,
			o.ID, o.CustomerID, o.Status, currency, o.Subtotal.Amount, o.Shipping.Amount, o.Total.Amount,
			o.PaymentMethodID, o.Brand, o.Last4, o.ShippingAddress.Country, sealed, micros(o.CreatedAt), r.Key,
			r.Owner, micros(r.LeaseUntil),
			o.Discount.Amount, r.DiscountID, o.DiscountCode, optionID, optionName, o.Tax.Amount, string(taxMode), string(taxes),
			o.ShippingAddress.Region); err != nil {
			return fmt.Errorf("insert order: %w", err)
		}
		for _, l := range o.Lines {
			opts, err := json.Marshal(l.Options)
			if err != nil {
				return fmt.Errorf("encode line options: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO order_lines (order_id, variant_id, product_id, sku, name, options_json, quantity,
				unit_price, line_total, discount, tax, line_id)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, o.ID, l.VariantID, l.ProductID, l.SKU, l.Name, string(opts), l.Quantity,
				l.UnitPrice.Amount, l.LineTotal.Amount, l.Discount.Amount, l.Tax.Amount, l.ID); err != nil {
				return fmt.Errorf("insert order line: %w", err)
			}
		}
		// The contended rows last, in the order every transaction takes
		// them (Release too): the variants, in id order, then the code.
		for _, l := range o.Lines {
			if err := takeStock(ctx, tx, l.VariantID, l.Quantity, r.At); err != nil {
				return err
			}
		}
		if r.DiscountID != "" {
			// Counted in the order's transaction: of checkouts racing for a
			// code's last use, one makes an order and the others roll back.
			if err := redeemDiscount(ctx, tx, r.DiscountID, r.CustomerID, r.At); err != nil {
				return err
			}
		}
		return nil
	})
	return o, prior, err
}

// readLine reads what an order line records of a cart line's variant in
// currency: its product, SKU, options, name and unit price (the caller checks
// it is the price the line was priced at), in one statement that takes no
// lock. A line customers may not buy now — its variant gone, its product
// hidden (catalog.Visible), no price in the currency, or less stock than the
// quantity as last committed — is refused as order.ErrOutOfStock before
// anything is written; takeStock decides the stock for good.
func readLine(ctx context.Context, tx *sql.Tx, l cart.Line, currency string, at time.Time) (order.Line, error) {
	line := order.Line{VariantID: l.VariantID, Quantity: l.Quantity}
	var opts, status string
	var stock, publish int64
	var price sql.NullInt64
	err := tx.QueryRowContext(ctx, `SELECT v.product_id, v.sku, v.options_json, v.stock, p.name, p.status, p.publish_at, vp.amount
		FROM variants v JOIN products p ON p.id = v.product_id
		LEFT JOIN variant_prices vp ON vp.variant_id = v.id AND vp.currency = $2
		WHERE v.id = $1`, l.VariantID, currency).Scan(&line.ProductID, &line.SKU, &opts, &stock, &line.Name, &status, &publish, &price)
	if errors.Is(err, sql.ErrNoRows) {
		return order.Line{}, order.ErrOutOfStock
	}
	if err != nil {
		return order.Line{}, fmt.Errorf("read variant %s: %w", l.VariantID, err)
	}
	var publishAt time.Time
	if publish != 0 {
		publishAt = fromMicros(publish)
	}
	if !price.Valid || stock < int64(l.Quantity) || !catalog.Visible(status, publishAt, at) {
		return order.Line{}, order.ErrOutOfStock
	}
	if err := json.Unmarshal([]byte(opts), &line.Options); err != nil {
		return order.Line{}, fmt.Errorf("read options of %s: %w", l.VariantID, err)
	}
	line.UnitPrice = money.Money{Amount: price.Int64, Currency: currency}
	return line, nil
}

// takeStock takes quantity from a variant's stock with one conditional
// decrement (stock >= quantity), so concurrent checkouts on any number of
// instances never take stock below zero; order.ErrOutOfStock when there is
// not enough, and the caller's transaction rolls back whatever was taken.
func takeStock(ctx context.Context, tx *sql.Tx, variantID string, quantity int, at time.Time) error {
	res, err := tx.ExecContext(ctx, "UPDATE variants SET stock = stock - $1, updated_at = $2 WHERE id = $3 AND stock >= $1",
		quantity, micros(at), variantID)
	if err != nil {
		return fmt.Errorf("take stock of %s: %w", variantID, err)
	}
	return mustAffect(res, order.ErrOutOfStock)
}

// Release gives back a pending order's stock and its use of a discount code,
// and deletes it.
func (db *DB) Release(ctx context.Context, orderID, key, code string, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		// An UPDATE, not a SELECT: it takes the order's row lock, so of two
		// recoveries of one order (start-up and a client's retry, or two
		// instances) the second waits, then finds the order gone and gives
		// back nothing. A plain read let both return the stock on PostgreSQL.
		var customerID, discountID string
		err := tx.QueryRowContext(ctx, "UPDATE orders SET updated_at = updated_at WHERE id = $1 AND status = $2 RETURNING customer_id, discount_id",
			orderID, order.StatusPending).Scan(&customerID, &discountID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // released already, by another recovery
		}
		if err != nil {
			return fmt.Errorf("find pending order %s: %w", orderID, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE variants SET stock = stock + (SELECT quantity FROM order_lines
			WHERE order_lines.order_id = $1 AND order_lines.variant_id = variants.id)
			WHERE id IN (SELECT variant_id FROM order_lines WHERE order_id = $1)`, orderID); err != nil {
			return fmt.Errorf("return stock of %s: %w", orderID, err)
		}
		// The use of the discount code counted with the reservation goes back
		// too: a declined card or a checkout abandoned by a crash kept it
		// before, so a code of N uses made fewer than N orders (issue 12).
		if discountID != "" {
			if err := returnDiscountUse(ctx, tx, discountID, customerID); err != nil {
				return fmt.Errorf("return discount use of %s: %w", orderID, err)
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM order_lines WHERE order_id = $1", orderID); err != nil {
			return fmt.Errorf("delete order lines: %w", err)
		}
		// The cart is free again: the customer may pay it with another card.
		if _, err := tx.ExecContext(ctx, "UPDATE carts SET checkout_order_id = '' WHERE checkout_order_id = $1", orderID); err != nil {
			return fmt.Errorf("release cart of %s: %w", orderID, err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM orders WHERE id = $1", orderID); err != nil {
			return fmt.Errorf("delete pending order: %w", err)
		}
		if code == "" {
			if err := forgetKey(ctx, tx, customerID, order.ScopeCheckout, key); err != nil {
				return err
			}
		} else if err := db.finishKey(ctx, tx, customerID, order.ScopeCheckout, key, code, nil); err != nil {
			return err
		}
		return appendAudit(ctx, tx, rec)
	})
}

// SetAuthorization records a pending order's authorization as soon as the
// processor gives it, so an order abandoned by a crash can have it voided.
func (db *DB) SetAuthorization(ctx context.Context, orderID, authorizationID string) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE orders SET authorization_id = $1 WHERE id = $2 AND status = $3",
			authorizationID, orderID, order.StatusPending)
		if err != nil {
			return fmt.Errorf("record authorization: %w", err)
		}
		return mustAffect(res, order.ErrNotFound)
	})
}

// ExpiredPending lists pending orders whose owner's lease ended before now:
// their instance stopped mid-checkout (a live instance renews its leases).
func (db *DB) ExpiredPending(ctx context.Context, now time.Time) ([]checkout.Abandoned, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT id, authorization_id, idem_key, total, currency FROM orders
		WHERE status = $1 AND lease_until < $2 ORDER BY id`, order.StatusPending, micros(now))
	if err != nil {
		return nil, fmt.Errorf("list pending orders: %w", err)
	}
	defer rows.Close()
	var out []checkout.Abandoned
	for rows.Next() {
		var a checkout.Abandoned
		if err := rows.Scan(&a.OrderID, &a.AuthorizationID, &a.Key, &a.Total.Amount, &a.Total.Currency); err != nil {
			return nil, fmt.Errorf("scan pending order: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// RenewLeases extends to until the lease of each of orderIDs that is pending
// and owned by owner (the checkouts owner is running now; one statement
// each, as an instance runs few at once).
func (db *DB) RenewLeases(ctx context.Context, owner string, orderIDs []string, until time.Time) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		for _, id := range orderIDs {
			if _, err := tx.ExecContext(ctx, "UPDATE orders SET lease_until = $1 WHERE id = $2 AND status = $3 AND owner_instance = $4 AND lease_until < $1",
				micros(until), id, order.StatusPending, owner); err != nil {
				return fmt.Errorf("renew checkout leases: %w", err)
			}
		}
		return nil
	})
}

// Complete marks a pending order paid and records the answer.
func (db *DB) Complete(ctx context.Context, c checkout.Completion, rec audit.Record) (order.Order, error) {
	var o order.Order
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		risk := ""
		if c.Risk != nil {
			b, err := json.Marshal(c.Risk)
			if err != nil {
				return fmt.Errorf("record the risk of %s: %w", c.OrderID, err)
			}
			risk = string(b)
		}
		res, err := tx.ExecContext(ctx, `UPDATE orders SET captured = $1, authorization_id = $2, updated_at = $3, risk = $6
			WHERE id = $4 AND status = $5`, c.Captured.Amount, c.AuthorizationID, micros(c.At), c.OrderID, order.StatusPending, risk)
		if err != nil {
			return fmt.Errorf("record payment: %w", err)
		}
		if err := mustAffect(res, order.ErrNotFound); err != nil {
			return err
		}
		// Paid, or only authorized (payment-capture=fulfilment): the
		// checkout says which, the lifecycle where that leads.
		action := c.Action
		if action == "" {
			action = order.ActPay
		}
		if _, err := recordTransition(ctx, tx, c.OrderID, order.StatusPending, action, order.Actor{Kind: order.ActorCustomer, ID: c.CustomerID}, c.At); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM cart_lines WHERE cart_id = $1 AND cart_id IN (SELECT id FROM carts WHERE owner_id = $2)",
			c.CartID, c.CustomerID); err != nil {
			return fmt.Errorf("empty cart: %w", err)
		}
		// The cart is empty now: its claim ends with the checkout.
		if _, err := tx.ExecContext(ctx, "UPDATE carts SET checkout_order_id = '' WHERE id = $1 AND checkout_order_id = $2",
			c.CartID, c.OrderID); err != nil {
			return fmt.Errorf("release cart: %w", err)
		}
		if o, err = db.readOrder(ctx, tx, "", c.OrderID); err != nil {
			return err
		}
		if err := db.finishKey(ctx, tx, c.CustomerID, order.ScopeCheckout, c.Key, "", &o); err != nil {
			return err
		}
		// The outbox: order.created (which mails the confirmation) and
		// order.paid (or order.authorized) commit with the payment, or not
		// at all.
		typ := webhook.OrderPaid
		if o.Status == order.StatusAuthorized || o.Status == order.StatusPendingReview {
			typ = webhook.OrderAuthorized
		}
		data := webhook.OrderEvent(o)
		if err := emitEvents(ctx, tx, c.At, outboxEvent{webhook.OrderCreated, data}, outboxEvent{typ, data}); err != nil {
			return err
		}
		return appendAudit(ctx, tx, rec)
	})
	return o, err
}

const orderColumns = `id, customer_id, status, currency, subtotal, shipping, total, captured, refunded,
	payment_method_id, brand, last4, authorization_id, ship_country, ship_sealed, created_at,
	discount, discount_code, shipping_option_id, shipping_option_name, tax, tax_mode, taxes_json, ship_region,
	(SELECT u.contact FROM users u WHERE u.id = orders.customer_id),
	(SELECT k.wrapped FROM subject_keys k WHERE k.subject_id = orders.customer_id),
	(SELECT u.guest FROM users u WHERE u.id = orders.customer_id), risk, fraud_label`

// scanOrder reads a row of orderColumns and opens its personal data. An
// erased customer's order keeps everything but the person: no name, address
// (but the country), email or phone.
func (db *DB) scanOrder(row rowScanner) (order.Order, error) {
	var o order.Order
	var cur string
	var created int64
	var shipping, customer, wrapped []byte
	var optionID, optionName, taxMode, taxes, region, risk string
	err := row.Scan(&o.ID, &o.CustomerID, &o.Status, &cur, &o.Subtotal.Amount, &o.Shipping.Amount, &o.Total.Amount,
		&o.Captured.Amount, &o.Refunded.Amount, &o.PaymentMethodID, &o.Brand, &o.Last4, &o.AuthorizationID,
		&o.ShippingAddress.Country, &shipping, &created,
		&o.Discount.Amount, &o.DiscountCode, &optionID, &optionName, &o.Tax.Amount, &taxMode, &taxes, &region,
		&customer, &wrapped, &o.CustomerGuest, &risk, &o.Label)
	if errors.Is(err, sql.ErrNoRows) {
		return order.Order{}, order.ErrNotFound
	}
	if err != nil {
		return order.Order{}, fmt.Errorf("scan order: %w", err)
	}
	country := o.ShippingAddress.Country
	if err := db.open(o.CustomerID, wrapped, shippingAt(o.ID), shipping, &o.ShippingAddress); err != nil {
		return order.Order{}, err
	}
	o.ShippingAddress.Country, o.ShippingAddress.Region = country, region
	if optionID != "" {
		o.ShippingOption = &order.ShippingChoice{OptionID: optionID, Name: optionName}
	}
	o.TaxInclusive = taxMode == string(pricing.TaxInclusive)
	if err := json.Unmarshal([]byte(taxes), &o.Taxes); err != nil {
		return order.Order{}, fmt.Errorf("read tax lines of %s: %w", o.ID, err)
	}
	for i := range o.Taxes {
		o.Taxes[i].Base.Currency, o.Taxes[i].Amount.Currency = cur, cur
	}
	var c contact
	if err := db.open(o.CustomerID, wrapped, contactAt(o.CustomerID), customer, &c); err != nil {
		return order.Order{}, err
	}
	o.CustomerEmail, o.CustomerName = c.Email, c.Name
	for _, m := range []*money.Money{&o.Subtotal, &o.Discount, &o.Shipping, &o.Tax, &o.Total, &o.Captured, &o.Refunded} {
		m.Currency = cur
	}
	o.CreatedAt = fromMicros(created)
	if risk != "" {
		o.Risk = new(order.Risk)
		if err := json.Unmarshal([]byte(risk), o.Risk); err != nil {
			return order.Order{}, fmt.Errorf("read the risk of %s: %w", o.ID, err)
		}
	}
	return o, nil
}

// sealShipping seals an order's address (but the country) under its customer's key.
func (db *DB) sealShipping(ctx context.Context, tx *sql.Tx, customerID, orderID string, a order.Address) ([]byte, error) {
	wrapped, err := subjectKey(ctx, tx, customerID)
	if err != nil {
		return nil, err
	}
	if wrapped == nil {
		return nil, fmt.Errorf("order %s: customer %s has no data key", orderID, customerID)
	}
	a.Country, a.Region = "", "" // kept in the clear, for tax accounting
	return db.seal(customerID, wrapped, shippingAt(orderID), a)
}

func readLines(ctx context.Context, q queryer, o *order.Order) error {
	rows, err := q.QueryContext(ctx, `SELECT line_id, fulfilled, returned, variant_id, product_id, sku, name, options_json, quantity, unit_price, line_total, discount, tax
		FROM order_lines WHERE order_id = $1 ORDER BY variant_id`, o.ID)
	if err != nil {
		return fmt.Errorf("read order lines: %w", err)
	}
	defer rows.Close()
	o.Lines = []order.Line{}
	for rows.Next() {
		cur := o.Total.Currency
		l := order.Line{UnitPrice: money.Money{Currency: cur}, LineTotal: money.Money{Currency: cur}, Discount: money.Money{Currency: cur}, Tax: money.Money{Currency: cur}}
		var opts string
		if err := rows.Scan(&l.ID, &l.Fulfilled, &l.Returned, &l.VariantID, &l.ProductID, &l.SKU, &l.Name, &opts, &l.Quantity, &l.UnitPrice.Amount, &l.LineTotal.Amount,
			&l.Discount.Amount, &l.Tax.Amount); err != nil {
			return fmt.Errorf("scan order line: %w", err)
		}
		if err := json.Unmarshal([]byte(opts), &l.Options); err != nil {
			return fmt.Errorf("read order line options: %w", err)
		}
		o.Lines = append(o.Lines, l)
	}
	return rows.Err()
}

// readOrder reads a non-pending order; customerID "" means any customer's.
func (db *DB) readOrder(ctx context.Context, q queryer, customerID, orderID string) (order.Order, error) {
	o, err := db.scanOrder(q.QueryRowContext(ctx, "SELECT "+orderColumns+` FROM orders
		WHERE id = $1 AND ($2 = '' OR customer_id = $2) AND status <> $3`, orderID, customerID, order.StatusPending))
	if err != nil {
		return order.Order{}, err
	}
	return o, readLines(ctx, q, &o)
}

// Order returns an order (the customer's own when customerID is set).
func (db *DB) Order(ctx context.Context, customerID, orderID string) (order.Order, error) {
	var o order.Order
	// One snapshot, so the history agrees with the order's totals.
	err := db.inSnapshot(ctx, func(tx *sql.Tx) error {
		var err error
		o, err = db.readOrderFull(ctx, tx, customerID, orderID)
		return err
	})
	return o, err
}

// Orders returns a page of orders ordered by id.
func (db *DB) Orders(ctx context.Context, q order.ListQuery) ([]order.Order, error) {
	byEmail, args := "", []any{q.After, q.CustomerID, order.StatusPending, q.Limit}
	if q.CustomerEmail != "" {
		indexes, err := db.emailIndexes(q.CustomerEmail, false)
		if err != nil {
			return nil, err
		}
		cond, more := indexIn("u.email_index", indexes, len(args)+1)
		byEmail, args = " AND customer_id IN (SELECT u.id FROM users u WHERE "+cond+")", append(args, more...)
	}
	byStatus := ""
	if q.Status != "" {
		// A condition of its own, not ($n = '' OR ...), so the review
		// queue is read through the status index.
		byStatus, args = fmt.Sprintf(" AND status = $%d", len(args)+1), append(args, q.Status)
	}
	rows, err := db.sql.QueryContext(ctx, "SELECT "+orderColumns+` FROM orders
		WHERE id > $1 AND ($2 = '' OR customer_id = $2) AND status <> $3`+byEmail+byStatus+` ORDER BY id LIMIT $4`, args...)
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	var os []order.Order
	for rows.Next() {
		o, err := db.scanOrder(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		os = append(os, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	for i := range os {
		if err := readLines(ctx, db.sql, &os[i]); err != nil {
			return nil, err
		}
	}
	return os, nil
}

// ReserveRefund raises the refunded total in one conditional statement, so
// concurrent refunds can never together exceed the capture. Whether the
// order's status allows a refund is the lifecycle's decision (order.Next),
// taken under the order's lock. A refund with an Idempotency-Key claims it
// in the same transaction, so a server stopping after it leaves a pending
// refund for recovery rather than a key in progress with nothing to finish.
func (db *DB) ReserveRefund(ctx context.Context, r order.RefundReservation) (order.Order, order.Prior, error) {
	var o order.Order
	var prior order.Prior
	orderID, amount, at := r.OrderID, r.Amount, r.At
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		prior.Fresh = true
		if r.Key != "" {
			var err error
			if prior, err = db.claimKey(ctx, tx, r.ActorID, order.ScopeRefund, r.Key, r.Hash, at); err != nil || !prior.Fresh {
				return err
			}
		}
		cur, claimed, err := db.lockOrder(ctx, tx, orderID)
		if err != nil {
			return err
		}
		if cur.Refunded.Amount+amount.Amount > cur.Captured.Amount || amount.Currency != cur.Captured.Currency {
			return order.ErrRefundExceedsCapture
		}
		if _, err := order.Next(cur.Status, order.RefundAction(cur.Captured.Amount, cur.Refunded.Amount+amount.Amount)); err != nil {
			return err
		}
		if r.Claim == "" && claimed.Holds(at, r.ClaimLease) || r.Claim != "" && claimed.Op != r.Claim {
			return order.ErrInProgress // a capture, void or cancel is running
		}
		res, err := tx.ExecContext(ctx, `UPDATE orders SET refunded = refunded + $1, updated_at = $2
			WHERE id = $3 AND refunded + $1 <= captured AND currency = $4`,
			amount.Amount, micros(at), orderID, amount.Currency)
		if err != nil {
			return fmt.Errorf("reserve refund: %w", err)
		}
		if err := mustAffect(res, order.ErrRefundExceedsCapture); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO refunds (id, order_id, amount, status, created_at, actor_id, idem_key, lease_until, purpose)
			VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8)`,
			r.RefundID, orderID, amount.Amount, micros(at), r.ActorID, r.Key, micros(r.LeaseUntil), r.Purpose); err != nil {
			return fmt.Errorf("insert refund: %w", err)
		}
		o, err = db.readOrder(ctx, tx, "", orderID)
		return err
	})
	return o, prior, err
}

// CompleteRefund marks a refund done and moves the order by the refund the
// lifecycle names for what has succeeded so far (partial, or the last).
func (db *DB) CompleteRefund(ctx context.Context, r order.RefundCompletion, rec audit.Record) (order.Order, error) {
	var o order.Order
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		done, err := completeRefund(ctx, tx, db, r.OrderID, r.RefundID, r.GatewayRefundID, r.Actor, r.At)
		if err != nil {
			return err
		}
		if !done {
			// Completed by another instance's recovery (or cancelled): the
			// order is as that left it, and nothing is recorded twice.
			o, err = db.readOrderFull(ctx, tx, "", r.OrderID)
			return err
		}
		if o, err = db.readOrderFull(ctx, tx, "", r.OrderID); err != nil {
			return err
		}
		if r.Key != "" {
			if err := db.finishKey(ctx, tx, r.ActorID, order.ScopeRefund, r.Key, "", &o); err != nil {
				return err
			}
		}
		var amount int64
		if err := tx.QueryRowContext(ctx, "SELECT amount FROM refunds WHERE id = $1", r.RefundID).Scan(&amount); err != nil {
			return fmt.Errorf("read refund %s: %w", r.RefundID, err)
		}
		if err := emitEvent(ctx, tx, webhook.RefundCreated, r.At, webhook.RefundData{ID: r.RefundID,
			Amount: money.Money{Amount: amount, Currency: o.Total.Currency}, Order: webhook.OrderEvent(o)}); err != nil {
			return err
		}
		return appendAudit(ctx, tx, rec)
	})
	return o, err
}

// CancelRefund undoes a reserved refund the processor refused. The order's
// total goes down only with the pending row, so two cancellations of one
// refund (a request and recovery) give it back once.
func (db *DB) CancelRefund(ctx context.Context, orderID, refundID string, amount money.Money) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM refunds WHERE id = $1 AND status = 'pending'", refundID)
		if err != nil {
			return fmt.Errorf("cancel refund: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE orders SET refunded = refunded - $1 WHERE id = $2", amount.Amount, orderID); err != nil {
			return fmt.Errorf("cancel refund: %w", err)
		}
		return nil
	})
}

// PendingRefund finds the order's pending refund reserved for purpose.
func (db *DB) PendingRefund(ctx context.Context, orderID, purpose string) (string, money.Money, bool, error) {
	var refundID string
	var m money.Money
	err := db.sql.QueryRowContext(ctx, `SELECT r.id, r.amount, o.currency FROM refunds r JOIN orders o ON o.id = r.order_id
		WHERE r.order_id = $1 AND r.purpose = $2 AND r.status = 'pending' ORDER BY r.created_at LIMIT 1`, orderID, purpose).Scan(&refundID, &m.Amount, &m.Currency)
	if errors.Is(err, sql.ErrNoRows) {
		return "", money.Money{}, false, nil
	}
	if err != nil {
		return "", money.Money{}, false, fmt.Errorf("find the pending %s refund of %s: %w", purpose, orderID, err)
	}
	return refundID, m, true, nil
}

// StaleRefunds lists pending staff refunds whose lease ended before now,
// oldest first, at most 100 a pass. The refunds of a cancellation or a
// return are resumed by their operation instead (PendingRefund).
func (db *DB) StaleRefunds(ctx context.Context, now time.Time) ([]order.StaleRefund, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT r.id, r.order_id, o.authorization_id, r.amount, o.currency, r.actor_id, r.idem_key
		FROM refunds r JOIN orders o ON o.id = r.order_id
		WHERE r.status = 'pending' AND r.purpose = '' AND r.lease_until < $1 ORDER BY r.lease_until LIMIT 100`, micros(now))
	if err != nil {
		return nil, fmt.Errorf("list stale refunds: %w", err)
	}
	defer rows.Close()
	var out []order.StaleRefund
	for rows.Next() {
		var r order.StaleRefund
		if err := rows.Scan(&r.RefundID, &r.OrderID, &r.AuthorizationID, &r.Amount.Amount, &r.Amount.Currency, &r.ActorID, &r.Key); err != nil {
			return nil, fmt.Errorf("list stale refunds: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// CheckoutHistory implements scoring.Histories: when the account was made,
// its email's blind index, and how many orders it has had in currency (not pending, not
// excludeOrderID: the one being scored) with their average total; a guest
// or an unknown id has a zero history.
func (db *DB) CheckoutHistory(ctx context.Context, customerID, currency, excludeOrderID string) (scoring.History, error) {
	var h scoring.History
	var since int64
	var avg float64
	// One pass over the customer's orders (its index) for both figures:
	// this runs in every checkout.
	err := db.sql.QueryRowContext(ctx, `SELECT u.created_at, CASE WHEN u.guest THEN '' ELSE u.email_index END, h.n, h.avg FROM users u,
		(SELECT COUNT(*) AS n, COALESCE(AVG(o.total), 0) AS avg FROM orders o
			WHERE o.customer_id = $1 AND o.currency = $2 AND o.status <> $3 AND o.id <> $4) h
		WHERE u.id = $1`, customerID, currency, order.StatusPending, excludeOrderID).Scan(&since, &h.EmailIndex, &h.Orders, &avg)
	if errors.Is(err, sql.ErrNoRows) {
		return scoring.History{}, nil
	}
	if err != nil {
		return h, fmt.Errorf("read the checkout history of %s: %w", customerID, err)
	}
	h.Since, h.Average = fromMicros(since), int64(avg)
	return h, nil
}
