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

// Returns (internal/order/returns.go decides; this file records).

// Audit actions of returns.
const (
	actionReturnRequest = "return.request"
	actionReturnPrefix  = "return."
)

// completeRefund marks a reserved refund done and moves the order by the
// refund the lifecycle names for what has succeeded so far, in tx (the
// order is locked by it). A refund no longer pending (completed by
// recovery, or by the request it belonged to) is left as it is: done is
// false and nothing is recorded.
func completeRefund(ctx context.Context, tx *sql.Tx, db *DB, orderID, refundID, gatewayRefundID string, actor order.Actor, at time.Time) (done bool, err error) {
	cur, _, err := db.lockOrder(ctx, tx, orderID)
	if err != nil {
		return false, err
	}
	res, err := tx.ExecContext(ctx, "UPDATE refunds SET status = 'succeeded', gateway_refund_id = $1 WHERE id = $2 AND order_id = $3 AND status = 'pending'",
		gatewayRefundID, refundID, orderID)
	if err != nil {
		return false, fmt.Errorf("complete refund: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	if cur.Status == order.StatusCancelled {
		// A staff refund that was running when the order was cancelled: the
		// cancellation refunded only what this one had not reserved, and
		// the order is final; the refund is done, with no transition.
		return true, nil
	}
	// The succeeded refunds, not the reserved total: of two refunds
	// running at once, the first to complete is partial, the second the
	// last, whichever reserved first.
	var succeeded int64
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(SUM(amount), 0) FROM refunds WHERE order_id = $1 AND status = 'succeeded'",
		orderID).Scan(&succeeded); err != nil {
		return false, fmt.Errorf("sum refunds of %s: %w", orderID, err)
	}
	_, err = recordTransition(ctx, tx, orderID, cur.Status, order.RefundAction(cur.Captured.Amount, succeeded), actor, at)
	return err == nil, err
}

// CreateReturn records a customer's return request under the order's lock.
func (db *DB) CreateReturn(ctx context.Context, customerID string, ret order.Return, plan func(order.Order) error) (order.Return, error) {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		// The customer's own order, or not found (another's is not told apart).
		if _, err := db.readOrder(ctx, tx, customerID, ret.OrderID); err != nil {
			return err
		}
		if _, _, err := db.lockOrder(ctx, tx, ret.OrderID); err != nil {
			return err
		}
		o, err := db.readOrderFull(ctx, tx, customerID, ret.OrderID)
		if err != nil {
			return err
		}
		if err := plan(o); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO returns (id, order_id, status, reason, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
			ret.ID, ret.OrderID, ret.Status, ret.Reason, micros(ret.CreatedAt)); err != nil {
			return fmt.Errorf("insert return: %w", err)
		}
		for _, l := range ret.Lines {
			if _, err := tx.ExecContext(ctx, "INSERT INTO return_lines (return_id, line_id, quantity) VALUES ($1, $2, $3)",
				ret.ID, l.LineID, l.Quantity); err != nil {
				return fmt.Errorf("insert return line: %w", err)
			}
			res, err := tx.ExecContext(ctx, "UPDATE order_lines SET returned = returned + $1 WHERE order_id = $2 AND line_id = $3 AND returned + $1 <= fulfilled",
				l.Quantity, ret.OrderID, l.LineID)
			if err != nil {
				return fmt.Errorf("record returned quantity: %w", err)
			}
			if err := mustAffect(res, order.ErrReturnExceedsShipped); err != nil {
				return err
			}
		}
		if err := emitEvent(ctx, tx, webhook.ReturnRequested, ret.CreatedAt, webhook.ReturnEvent(ret)); err != nil {
			return err
		}
		return appendAudit(ctx, tx, audit.New(ctx, ret.CreatedAt, actionReturnRequest, ret.ID, audit.Success, "order "+ret.OrderID))
	})
	if err != nil {
		return order.Return{}, err
	}
	return ret, nil
}

// lockReturn locks a return's row for tx and reads it.
func lockReturn(ctx context.Context, tx *sql.Tx, returnID string) (order.Return, error) {
	var r order.Return
	var created, updated int64
	err := tx.QueryRowContext(ctx, `UPDATE returns SET updated_at = updated_at WHERE id = $1
		RETURNING order_id, status, reason, refund_id, created_at, updated_at`, returnID).Scan(&r.OrderID, &r.Status, &r.Reason, &r.RefundID, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return r, order.ErrReturnNotFound
	}
	if err != nil {
		return r, fmt.Errorf("lock return %s: %w", returnID, err)
	}
	r.ID, r.CreatedAt, r.UpdatedAt = returnID, fromMicros(created), fromMicros(updated)
	return r, readReturnLines(ctx, tx, &r)
}

func readReturnLines(ctx context.Context, q queryer, r *order.Return) error {
	rows, err := q.QueryContext(ctx, "SELECT line_id, quantity, restock FROM return_lines WHERE return_id = $1 ORDER BY line_id LIMIT 1000", r.ID)
	if err != nil {
		return fmt.Errorf("read return lines: %w", err)
	}
	defer rows.Close()
	r.Lines = []order.ReturnLine{}
	for rows.Next() {
		var l order.ReturnLine
		var restock int64
		if err := rows.Scan(&l.LineID, &l.Quantity, &restock); err != nil {
			return fmt.Errorf("scan return line: %w", err)
		}
		l.Restock = restock != 0
		r.Lines = append(r.Lines, l)
	}
	return rows.Err()
}

// readReturns reads an order's returns, oldest first.
func readReturns(ctx context.Context, q queryer, o *order.Order) error {
	rows, err := q.QueryContext(ctx, "SELECT id, status, reason, refund_id, created_at, updated_at FROM returns WHERE order_id = $1 ORDER BY created_at, id LIMIT 1000", o.ID)
	if err != nil {
		return fmt.Errorf("read returns of %s: %w", o.ID, err)
	}
	var rs []order.Return
	for rows.Next() {
		r := order.Return{OrderID: o.ID}
		var created, updated int64
		if err := rows.Scan(&r.ID, &r.Status, &r.Reason, &r.RefundID, &created, &updated); err != nil {
			rows.Close()
			return fmt.Errorf("scan return: %w", err)
		}
		r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
		rs = append(rs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read returns of %s: %w", o.ID, err)
	}
	o.Returns = make([]order.Return, 0, len(rs))
	for _, r := range rs {
		if err := readReturnLines(ctx, q, &r); err != nil {
			return err
		}
		o.Returns = append(o.Returns, r)
	}
	return nil
}

// MoveReturn accepts or rejects a return; a rejection frees its quantities.
func (db *DB) MoveReturn(ctx context.Context, returnID string, a order.Action, at time.Time) (order.Return, error) {
	var r order.Return
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if r, err = lockReturn(ctx, tx, returnID); err != nil {
			return err
		}
		to, err := order.NextReturn(r.Status, a)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE returns SET status = $1, updated_at = $2 WHERE id = $3", to, micros(at), returnID); err != nil {
			return fmt.Errorf("move return %s: %w", returnID, err)
		}
		if to == order.ReturnRejected {
			for _, l := range r.Lines {
				if _, err := tx.ExecContext(ctx, "UPDATE order_lines SET returned = returned - $1 WHERE order_id = $2 AND line_id = $3",
					l.Quantity, r.OrderID, l.LineID); err != nil {
					return fmt.Errorf("free returned quantity: %w", err)
				}
			}
		}
		r.Status, r.UpdatedAt = to, at.UTC().Truncate(time.Microsecond)
		return appendAudit(ctx, tx, audit.New(ctx, at, actionReturnPrefix+string(a), returnID, audit.Success, "order "+r.OrderID))
	})
	return r, err
}

// ClaimReturn holds an accepted return (or one whose hold lapsed) while
// its refund is at the processor.
func (db *DB) ClaimReturn(ctx context.Context, returnID string, at time.Time, lease time.Duration) (order.Return, error) {
	var r order.Return
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if r, err = lockReturn(ctx, tx, returnID); err != nil {
			return err
		}
		if r.Status == order.ReturnReceiving {
			if at.Sub(r.UpdatedAt) <= lease {
				return order.ErrInProgress
			}
			r.Status = order.ReturnAccepted // left by a stopped instance
		}
		if _, err := order.NextReturn(r.Status, order.RetReceive); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE returns SET status = $1, updated_at = $2 WHERE id = $3", order.ReturnReceiving, micros(at), returnID); err != nil {
			return fmt.Errorf("claim return %s: %w", returnID, err)
		}
		return nil
	})
	return r, err
}

// ReleaseReturn gives a held return back to accepted.
func (db *DB) ReleaseReturn(ctx context.Context, returnID string) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE returns SET status = $1 WHERE id = $2 AND status = $3",
			order.ReturnAccepted, returnID, order.ReturnReceiving); err != nil {
			return fmt.Errorf("release return %s: %w", returnID, err)
		}
		return nil
	})
}

// FinishReturn records a held return as received: restocks, the refund and
// the order's transition, in one transaction.
func (db *DB) FinishReturn(ctx context.Context, rc order.ReturnReceipt) (order.Return, error) {
	var r order.Return
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if r, err = lockReturn(ctx, tx, rc.ReturnID); err != nil {
			return err
		}
		if r.Status != order.ReturnReceiving {
			return fmt.Errorf("return %s is %s, not held for its receipt", rc.ReturnID, r.Status)
		}
		for i, l := range r.Lines {
			if !rc.Restock[l.LineID] {
				continue
			}
			if _, err := tx.ExecContext(ctx, "UPDATE return_lines SET restock = 1 WHERE return_id = $1 AND line_id = $2", rc.ReturnID, l.LineID); err != nil {
				return fmt.Errorf("mark restock: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE variants SET stock = stock + $1
				WHERE id = (SELECT variant_id FROM order_lines WHERE order_id = $2 AND line_id = $3)`, l.Quantity, r.OrderID, l.LineID); err != nil {
				return fmt.Errorf("restock return line: %w", err)
			}
			r.Lines[i].Restock = true
		}
		if rc.RefundID != "" {
			if _, err := completeRefund(ctx, tx, db, r.OrderID, rc.RefundID, rc.GatewayRefundID, rc.Actor, rc.At); err != nil {
				return err
			}
			o, err := db.readOrder(ctx, tx, "", r.OrderID)
			if err != nil {
				return err
			}
			var amount int64
			if err := tx.QueryRowContext(ctx, "SELECT amount FROM refunds WHERE id = $1", rc.RefundID).Scan(&amount); err != nil {
				return fmt.Errorf("read refund %s: %w", rc.RefundID, err)
			}
			if err := emitEvent(ctx, tx, webhook.RefundCreated, rc.At, webhook.RefundData{ID: rc.RefundID,
				Amount: money.Money{Amount: amount, Currency: o.Total.Currency}, Order: webhook.OrderEvent(o)}); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE returns SET status = $1, refund_id = $2, updated_at = $3 WHERE id = $4",
			order.ReturnReceived, rc.RefundID, micros(rc.At), rc.ReturnID); err != nil {
			return fmt.Errorf("receive return %s: %w", rc.ReturnID, err)
		}
		r.Status, r.RefundID, r.UpdatedAt = order.ReturnReceived, rc.RefundID, rc.At.UTC().Truncate(time.Microsecond)
		return appendAudit(ctx, tx, audit.New(ctx, rc.At, actionReturnPrefix+string(order.RetReceive), rc.ReturnID, audit.Success,
			fmt.Sprintf("order %s refund %q", r.OrderID, rc.RefundID)))
	})
	return r, err
}
