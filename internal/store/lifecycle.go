package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/webhook"
)

// The order lifecycle's storage (internal/order/lifecycle.go decides; this
// file records). Every change of an order's status goes through
// recordTransition, in the transaction of the change: the conditional
// status update, the order_events row and the audit record commit together
// or not at all.

// lockOrder takes the order's row lock for the rest of tx (a no-op UPDATE:
// PostgreSQL then serializes every change of one order; SQLite serializes
// all writes) and reads the order as it is under the lock.
// It returns the payment claim on the order too.
func (db *DB) lockOrder(ctx context.Context, tx *sql.Tx, orderID string) (order.Order, order.Claim, error) {
	var c order.Claim
	var at int64
	err := tx.QueryRowContext(ctx, "UPDATE orders SET updated_at = updated_at WHERE id = $1 AND status <> $2 RETURNING payment_op, payment_op_at",
		orderID, order.StatusPending).Scan(&c.Op, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return order.Order{}, c, order.ErrNotFound
	}
	if err != nil {
		return order.Order{}, c, fmt.Errorf("lock order %s: %w", orderID, err)
	}
	if at != 0 {
		c.At = fromMicros(at)
	}
	o, err := db.readOrder(ctx, tx, "", orderID)
	return o, c, err
}

// recordTransition moves the order from status from by action a, as the
// table allows (order.Next), records the event and its audit record, and
// returns the new status. The update is conditional on from, so a status
// changed meanwhile fails the transaction instead of being overwritten.
func recordTransition(ctx context.Context, tx *sql.Tx, orderID, from string, a order.Action, actor order.Actor, at time.Time) (string, error) {
	to, err := order.Next(from, a)
	if err != nil {
		return "", err
	}
	res, err := tx.ExecContext(ctx, "UPDATE orders SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
		to, micros(at), orderID, from)
	if err != nil {
		return "", fmt.Errorf("set status of %s: %w", orderID, err)
	}
	if err := mustAffect(res, fmt.Errorf("order %s is no longer %s", orderID, from)); err != nil {
		return "", err
	}
	e := order.Event{At: at.UTC().Truncate(time.Microsecond), ActorKind: actor.Kind, ActorID: actor.ID, Action: a, From: from, To: to}
	// Numbered in the same statement: the order's row, updated just before,
	// keeps the order's other writers waiting.
	if _, err := tx.ExecContext(ctx, `INSERT INTO order_events (order_id, seq, at, actor_kind, actor_id, action, from_status, to_status)
		SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6, $7 FROM order_events WHERE order_id = $1`,
		orderID, micros(e.At), e.ActorKind, e.ActorID, string(e.Action), e.From, e.To); err != nil {
		return "", fmt.Errorf("record event of %s: %w", orderID, err)
	}
	return to, appendAudit(ctx, tx, e.Record(ctx, orderID))
}

// readHistory reads an order's events, refunds and fulfilments, oldest first.
// They are bounded by what can happen to one order: a line ships at most its
// quantity (99) in as many fulfilments, a refund takes at least one minor unit.
func readHistory(ctx context.Context, q queryer, o *order.Order) error {
	cur := o.Total.Currency
	o.Events, o.Refunds, o.Fulfillments = []order.Event{}, []order.Refund{}, []order.Fulfillment{}
	rows, err := q.QueryContext(ctx, `SELECT at, actor_kind, actor_id, action, from_status, to_status FROM order_events
		WHERE order_id = $1 ORDER BY seq LIMIT 1000`, o.ID)
	if err != nil {
		return fmt.Errorf("read events of %s: %w", o.ID, err)
	}
	for rows.Next() {
		var e order.Event
		var at int64
		var a string
		if err := rows.Scan(&at, &e.ActorKind, &e.ActorID, &a, &e.From, &e.To); err != nil {
			rows.Close()
			return fmt.Errorf("scan event of %s: %w", o.ID, err)
		}
		e.At, e.Action = fromMicros(at), order.Action(a)
		o.Events = append(o.Events, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read events of %s: %w", o.ID, err)
	}
	rows, err = q.QueryContext(ctx, "SELECT id, amount, status, created_at FROM refunds WHERE order_id = $1 ORDER BY created_at, id LIMIT 1000", o.ID)
	if err != nil {
		return fmt.Errorf("read refunds of %s: %w", o.ID, err)
	}
	for rows.Next() {
		r := order.Refund{Amount: money.Money{Currency: cur}}
		var at int64
		if err := rows.Scan(&r.ID, &r.Amount.Amount, &r.Status, &at); err != nil {
			rows.Close()
			return fmt.Errorf("scan refund of %s: %w", o.ID, err)
		}
		r.CreatedAt = fromMicros(at)
		o.Refunds = append(o.Refunds, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read refunds of %s: %w", o.ID, err)
	}
	rows, err = q.QueryContext(ctx, `SELECT f.id, f.carrier, f.tracking_number, f.created_at, l.line_id, l.quantity
		FROM fulfillments f JOIN fulfillment_lines l ON l.fulfillment_id = f.id
		WHERE f.order_id = $1 ORDER BY f.created_at, f.id, l.line_id LIMIT 10000`, o.ID)
	if err != nil {
		return fmt.Errorf("read fulfilments of %s: %w", o.ID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var f order.Fulfillment
		var l order.FulfillmentLine
		var at int64
		if err := rows.Scan(&f.ID, &f.Carrier, &f.TrackingNumber, &at, &l.LineID, &l.Quantity); err != nil {
			return fmt.Errorf("scan fulfilment of %s: %w", o.ID, err)
		}
		if n := len(o.Fulfillments); n > 0 && o.Fulfillments[n-1].ID == f.ID {
			o.Fulfillments[n-1].Lines = append(o.Fulfillments[n-1].Lines, l)
			continue
		}
		f.CreatedAt, f.Lines = fromMicros(at), []order.FulfillmentLine{l}
		o.Fulfillments = append(o.Fulfillments, f)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read fulfilments of %s: %w", o.ID, err)
	}
	rows.Close()
	return readReturns(ctx, q, o)
}

// readOrderFull is readOrder with the order's history.
func (db *DB) readOrderFull(ctx context.Context, q queryer, customerID, orderID string) (order.Order, error) {
	o, err := db.readOrder(ctx, q, customerID, orderID)
	if err != nil {
		return order.Order{}, err
	}
	return o, readHistory(ctx, q, &o)
}

// ClaimPayment claims the order for op while the processor is called, if
// decide allows it and no other claim younger than lease holds it.
func (db *DB) ClaimPayment(ctx context.Context, orderID, op string, at time.Time, lease time.Duration, decide func(order.Order) error) (order.Order, error) {
	var o order.Order
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var claimed order.Claim
		var err error
		if o, claimed, err = db.lockOrder(ctx, tx, orderID); err != nil {
			return err
		}
		if err := decide(o); err != nil {
			return err
		}
		if claimed.Holds(at, lease) {
			return order.ErrInProgress
		}
		if _, err := tx.ExecContext(ctx, "UPDATE orders SET payment_op = $1, payment_op_at = $2 WHERE id = $3",
			op, micros(at), orderID); err != nil {
			return fmt.Errorf("claim order %s for %s: %w", orderID, op, err)
		}
		return nil
	})
	if err != nil {
		// A refusal (decide's) comes with the order as it was read, so an
		// operation done before can be answered with it.
		return o, err
	}
	return o, nil
}

// ReleaseClaim ends op's claim on the order without a change.
func (db *DB) ReleaseClaim(ctx context.Context, orderID, op string) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE orders SET payment_op = '', payment_op_at = 0 WHERE id = $1 AND payment_op = $2",
			orderID, op); err != nil {
			return fmt.Errorf("release claim on %s: %w", orderID, err)
		}
		return nil
	})
}

// FinishPayment records a capture, void or cancellation the processor made.
func (db *DB) FinishPayment(ctx context.Context, c order.PaymentChange) (order.Order, error) {
	var o order.Order
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		cur, claimed, err := db.lockOrder(ctx, tx, c.OrderID)
		if err != nil {
			return err
		}
		if claimed.Op != c.Op {
			return fmt.Errorf("order %s is not claimed for %s (but %q)", c.OrderID, c.Op, claimed.Op)
		}
		if _, err := recordTransition(ctx, tx, c.OrderID, cur.Status, c.Action, c.Actor, c.At); err != nil {
			return err
		}
		if c.Capture {
			if _, err := tx.ExecContext(ctx, "UPDATE orders SET captured = total WHERE id = $1", c.OrderID); err != nil {
				return fmt.Errorf("record capture of %s: %w", c.OrderID, err)
			}
		}
		if c.Restock {
			// Only what has not shipped goes back on the shelf.
			if _, err := tx.ExecContext(ctx, `UPDATE variants SET stock = stock + (SELECT quantity - fulfilled FROM order_lines
				WHERE order_lines.order_id = $1 AND order_lines.variant_id = variants.id)
				WHERE id IN (SELECT variant_id FROM order_lines WHERE order_id = $1)`, c.OrderID); err != nil {
				return fmt.Errorf("restock %s: %w", c.OrderID, err)
			}
		}
		if c.RefundID != "" {
			if _, err := tx.ExecContext(ctx, "UPDATE refunds SET status = 'succeeded', gateway_refund_id = $1 WHERE id = $2 AND order_id = $3",
				c.GatewayRefundID, c.RefundID, c.OrderID); err != nil {
				return fmt.Errorf("complete refund of %s: %w", c.OrderID, err)
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE orders SET payment_op = '', payment_op_at = 0 WHERE id = $1", c.OrderID); err != nil {
			return fmt.Errorf("end claim on %s: %w", c.OrderID, err)
		}
		if c.Label != "" {
			if err := labelOrder(ctx, tx, c.OrderID, c.Label, c.Actor.ID, c.At); err != nil {
				return err
			}
		}
		if o, err = db.readOrderFull(ctx, tx, "", c.OrderID); err != nil {
			return err
		}
		if c.RefundID != "" {
			var amount int64
			if err := tx.QueryRowContext(ctx, "SELECT amount FROM refunds WHERE id = $1", c.RefundID).Scan(&amount); err != nil {
				return fmt.Errorf("read refund %s: %w", c.RefundID, err)
			}
			if err := emitEvent(ctx, tx, webhook.RefundCreated, c.At, webhook.RefundData{ID: c.RefundID,
				Amount: money.Money{Amount: amount, Currency: o.Total.Currency}, Order: webhook.OrderEvent(o)}); err != nil {
				return err
			}
		}
		typ := webhook.OrderCancelled
		if c.Capture {
			typ = webhook.OrderPaid
		}
		return emitEvent(ctx, tx, typ, c.At, webhook.OrderEvent(o))
	})
	return o, err
}

// LabelOrder implements order.Store.
func (db *DB) LabelOrder(ctx context.Context, orderID, label, by string, at time.Time, rec audit.Record) (order.Order, error) {
	var o order.Order
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if err := labelOrder(ctx, tx, orderID, label, by, at); err != nil {
			return err
		}
		var err error
		if o, err = db.readOrderFull(ctx, tx, "", orderID); err != nil {
			return err
		}
		return appendAudit(ctx, tx, rec)
	})
	return o, err
}

// labelOrder sets an order's training label: ErrNotFound for no order (or
// one still pending: a checkout that never finished has nothing to learn).
func labelOrder(ctx context.Context, tx *sql.Tx, orderID, label, by string, at time.Time) error {
	res, err := tx.ExecContext(ctx, "UPDATE orders SET fraud_label = $1, labelled_by = $2, labelled_at = $3 WHERE id = $4 AND status <> $5",
		label, by, micros(at), orderID, order.StatusPending)
	if err != nil {
		return fmt.Errorf("label %s: %w", orderID, err)
	}
	return mustAffect(res, order.ErrNotFound)
}

// Fulfil records a fulfilment: plan decides under the order's lock, so of
// concurrent fulfilments of an order's last unit exactly one is recorded.
func (db *DB) Fulfil(ctx context.Context, orderID string, f order.Fulfillment, actor order.Actor, lease time.Duration, plan func(order.Order) (order.Action, error)) (order.Order, error) {
	var o order.Order
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		cur, claimed, err := db.lockOrder(ctx, tx, orderID)
		if err != nil {
			return err
		}
		if claimed.Holds(f.CreatedAt, lease) {
			return order.ErrInProgress // a capture, void or cancel is running
		}
		a, err := plan(cur)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO fulfillments (id, order_id, carrier, tracking_number, created_at) VALUES ($1, $2, $3, $4, $5)",
			f.ID, orderID, f.Carrier, f.TrackingNumber, micros(f.CreatedAt)); err != nil {
			return fmt.Errorf("insert fulfilment: %w", err)
		}
		for _, l := range f.Lines {
			if _, err := tx.ExecContext(ctx, "INSERT INTO fulfillment_lines (fulfillment_id, line_id, quantity) VALUES ($1, $2, $3)",
				f.ID, l.LineID, l.Quantity); err != nil {
				return fmt.Errorf("insert fulfilment line: %w", err)
			}
			// Conditional as well as planned: the CHECK and this condition
			// both keep fulfilled within the quantity.
			res, err := tx.ExecContext(ctx, "UPDATE order_lines SET fulfilled = fulfilled + $1 WHERE order_id = $2 AND line_id = $3 AND fulfilled + $1 <= quantity",
				l.Quantity, orderID, l.LineID)
			if err != nil {
				return fmt.Errorf("record shipped quantity: %w", err)
			}
			if err := mustAffect(res, order.ErrFulfillmentExceedsOrder); err != nil {
				return err
			}
		}
		if _, err := recordTransition(ctx, tx, orderID, cur.Status, a, actor, f.CreatedAt); err != nil {
			return err
		}
		if o, err = db.readOrderFull(ctx, tx, "", orderID); err != nil {
			return err
		}
		return emitEvent(ctx, tx, webhook.OrderFulfilled, f.CreatedAt, webhook.FulfillmentEvent(o, f))
	})
	return o, err
}

// AuthorizedBefore lists authorized orders (held for review or not)
// checked out before t, oldest first.
func (db *DB) AuthorizedBefore(ctx context.Context, t time.Time, limit int) ([]string, error) {
	// Held for review or not, an authorization runs out at the processor
	// alike: an order nobody decided about in time is voided too.
	rows, err := db.sql.QueryContext(ctx, "SELECT id FROM orders WHERE status IN ($1, $4) AND created_at < $2 ORDER BY created_at, id LIMIT $3",
		order.StatusAuthorized, micros(t), limit, order.StatusPendingReview)
	if err != nil {
		return nil, fmt.Errorf("list authorized orders: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("scan authorized order: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
