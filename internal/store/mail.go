package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/ordermail"
)

var _ ordermail.Store = (*DB)(nil)

// mailFor returns the mail an event asks for — its kind (ordermail.KindFor),
// the order it is about and the other thing it names — with kind "" when it
// mails no one. Ids only: the address and the name are read, and opened,
// when the mail is sent.
func mailFor(ev outboxEvent) (kind, orderID, refID string, err error) {
	if kind = ordermail.KindFor(ev.typ); kind == "" {
		return "", "", "", nil
	}
	b, err := json.Marshal(ev.data)
	if err != nil {
		return "", "", "", fmt.Errorf("encode %s event: %w", ev.typ, err)
	}
	orderID, refID, ok := ordermail.Refs(b)
	if !ok {
		// A bug: a mailing event whose data names no order. Failing the
		// change rather than losing the mail shows it in the first test.
		return "", "", "", fmt.Errorf("%s event names no order to mail about", ev.typ)
	}
	return kind, orderID, refID, nil
}

// ClaimMailJobs implements ordermail.Store, as ClaimWebhookDeliveries does
// (the event outbox dispatched first).
func (db *DB) ClaimMailJobs(ctx context.Context, owner string, now, until time.Time, limit int) ([]ordermail.Job, error) {
	skipLocked := ""
	if db.engine == Postgres {
		skipLocked = " FOR UPDATE SKIP LOCKED"
	}
	var jobs []ordermail.Job
	err := db.claimAfterDispatch(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM mail_jobs
		WHERE status = $1 AND next_attempt_at <= $2 AND lease_until < $2 LIMIT 1) j`, []any{ordermail.StatusPending, micros(now)}, nil, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE mail_jobs SET lease_owner = $1, lease_until = $2
			WHERE id IN (SELECT id FROM mail_jobs WHERE status = $3 AND next_attempt_at <= $4 AND lease_until < $4
				ORDER BY next_attempt_at LIMIT $5`+skipLocked+`)
			AND status = $3 AND next_attempt_at <= $4 AND lease_until < $4
			RETURNING id, event_id, kind, order_id, ref_id, attempts`,
			owner, micros(until), ordermail.StatusPending, micros(now), limit)
		if err != nil {
			return fmt.Errorf("claim mail jobs: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var j ordermail.Job
			if err := rows.Scan(&j.ID, &j.EventID, &j.Kind, &j.OrderID, &j.RefID, &j.Attempts); err != nil {
				return fmt.Errorf("claim mail jobs: %w", err)
			}
			jobs = append(jobs, j)
		}
		return rows.Err()
	})
	return jobs, err
}

// MailContent implements ordermail.Store: the order with its customer's
// contact data opened (none once erased), and the refund's amount.
func (db *DB) MailContent(ctx context.Context, j ordermail.Job) (ordermail.Content, error) {
	var c ordermail.Content
	err := db.inSnapshot(ctx, func(tx *sql.Tx) error {
		var err error
		if c.Order, err = db.readOrder(ctx, tx, "", j.OrderID); err != nil {
			return err
		}
		if j.Kind == ordermail.Refund && j.RefID != "" {
			var amount int64
			err := tx.QueryRowContext(ctx, "SELECT amount FROM refunds WHERE id = $1 AND order_id = $2", j.RefID, j.OrderID).Scan(&amount)
			if errors.Is(err, sql.ErrNoRows) {
				return order.ErrNotFound
			}
			if err != nil {
				return fmt.Errorf("read refund %s: %w", j.RefID, err)
			}
			c.RefundAmount = money.Money{Amount: amount, Currency: c.Order.Total.Currency}
		}
		if j.Kind == ordermail.Shipment && j.RefID != "" {
			// The fulfilment (the fulfillments table of the order lifecycle,
			// migration 0023) names the carrier and the tracking number.
			err := tx.QueryRowContext(ctx, "SELECT carrier, tracking_number FROM fulfillments WHERE id = $1 AND order_id = $2",
				j.RefID, j.OrderID).Scan(&c.Carrier, &c.TrackingNumber)
			if errors.Is(err, sql.ErrNoRows) {
				return order.ErrNotFound
			}
			if err != nil {
				return fmt.Errorf("read fulfilment %s: %w", j.RefID, err)
			}
		}
		return nil
	})
	return c, err
}

// FinishMailJob implements ordermail.Store. An attempt whose lease was lost
// (claimed again after the lease ran out) is not recorded.
func (db *DB) FinishMailJob(ctx context.Context, r ordermail.Result) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		next := int64(0)
		if r.Status == ordermail.StatusPending {
			next = micros(r.NextAttemptAt)
		}
		res, err := tx.ExecContext(ctx, `UPDATE mail_jobs SET status = $1, attempts = $2, next_attempt_at = $3, last_error = $4,
			lease_owner = '', lease_until = 0, updated_at = $5
			WHERE id = $6 AND lease_owner = $7 AND status = $8`,
			r.Status, r.Attempts, next, r.Error, micros(r.At), r.JobID, r.Owner, ordermail.StatusPending)
		if err != nil {
			return fmt.Errorf("finish mail job: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		if r.Audit != nil {
			return appendAudit(ctx, tx, *r.Audit)
		}
		return nil
	})
}

// MailBacklog returns how many jobs wait (pending) and how many were given up
// (failed), for operators: both read the status index, never the sent jobs.
func (db *DB) MailBacklog(ctx context.Context) (pending, failed int64, err error) {
	if err := db.sql.QueryRowContext(ctx, "SELECT COUNT(*) FROM mail_jobs WHERE status = $1", ordermail.StatusPending).Scan(&pending); err != nil {
		return 0, 0, fmt.Errorf("count waiting mail: %w", err)
	}
	if err := db.sql.QueryRowContext(ctx, "SELECT COUNT(*) FROM mail_jobs WHERE status = $1", ordermail.StatusFailed).Scan(&failed); err != nil {
		return 0, 0, fmt.Errorf("count failed mail: %w", err)
	}
	return pending, failed, nil
}

// MailTemplates implements ordermail.Store.
func (db *DB) MailTemplates(ctx context.Context) ([]ordermail.Stored, error) {
	rows, err := db.sql.QueryContext(ctx, "SELECT name, subject, body, updated_at FROM mail_templates ORDER BY name LIMIT 100")
	if err != nil {
		return nil, fmt.Errorf("read mail templates: %w", err)
	}
	defer rows.Close()
	var out []ordermail.Stored
	for rows.Next() {
		var t ordermail.Stored
		var at int64
		if err := rows.Scan(&t.Name, &t.Subject, &t.Body, &at); err != nil {
			return nil, fmt.Errorf("read mail templates: %w", err)
		}
		t.UpdatedAt = fromMicros(at)
		out = append(out, t)
	}
	return out, rows.Err()
}

// PutMailTemplate implements ordermail.Store.
func (db *DB) PutMailTemplate(ctx context.Context, t ordermail.Stored, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO mail_templates (name, subject, body, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (name) DO UPDATE SET subject = excluded.subject, body = excluded.body, updated_at = excluded.updated_at`,
			t.Name, t.Subject, t.Body, micros(t.UpdatedAt)); err != nil {
			return fmt.Errorf("store mail template: %w", err)
		}
		return appendAudit(ctx, tx, rec)
	})
}

// DeleteMailTemplate implements ordermail.Store.
func (db *DB) DeleteMailTemplate(ctx context.Context, name string, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM mail_templates WHERE name = $1", name); err != nil {
			return fmt.Errorf("delete mail template: %w", err)
		}
		return appendAudit(ctx, tx, rec)
	})
}
