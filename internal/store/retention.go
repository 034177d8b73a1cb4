package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/webhook"
)

// Retention says how long records are kept once they no longer serve.
type Retention struct {
	// Webhooks is how long finished webhook deliveries (succeeded, dead or
	// cancelled) are kept after their last change, and events after they
	// have no delivery left; 0 keeps them (see PurgeWebhooks).
	Webhooks time.Duration

	IdempotencyKeys time.Duration // answers to repeated requests (at least 24 hours)
	AbandonedCarts  time.Duration // carts not touched since
	// SentMail is how long an order mail job is kept once sent or skipped
	// (failed ones stay for the operator).
	SentMail time.Duration
}

// FindingRetention is how long a threat finding is kept after it was last
// seen, whatever its status: its subject (an address, an account id) is
// personal data, and an attacker can make findings by the thousand, so none
// is kept for ever. A quarter covers an investigation; the audit trail
// keeps what staff did about it.
const FindingRetention = 90 * 24 * time.Hour

// ProcessorEventRetention is how long the processor's events are kept: past
// the days it retries a delivery (Stripe: 3), so a repeat is recognised.
const ProcessorEventRetention = 30 * 24 * time.Hour

// Purged counts what a purge removed.
type Purged struct {
	// WebhookDeliveries and WebhookEvents are the outbox rows past
	// Retention.Webhooks (deliveries with their attempts).
	WebhookDeliveries, WebhookEvents int64

	Sessions, IdempotencyKeys, Carts, Tokens int64
	// Guests are guests (guest checkout) left with no cart and no order.
	Guests int64
	// LoginCounters are expired failed-login counts and login locks.
	LoginCounters int64
	// ProcessorEvents are the processor's events kept past their retries.
	ProcessorEvents int64
	// MailJobs are order mails sent or skipped long ago.
	MailJobs int64
	// Findings are threat findings not seen for FindingRetention.
	Findings int64
}

// idleGuest selects the guests made before $1 with no cart and no order left.
const idleGuest = `guest = TRUE AND created_at < $1
	AND NOT EXISTS (SELECT 1 FROM carts c WHERE c.owner_id = users.id)
	AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = users.id)`

// Purge deletes what retention no longer keeps: sessions past their absolute
// limit, old idempotency answers, abandoned carts and the guests left
// without cart or order, used or expired one-time tokens, and the webhook
// outbox's finished rows (PurgeWebhooks). The audit trail is never purged
// here.
func (db *DB) Purge(ctx context.Context, now time.Time, r Retention) (Purged, error) {
	p, err := db.purgeRecords(ctx, now, r)
	if err != nil || r.Webhooks <= 0 {
		return p, err
	}
	p.WebhookDeliveries, p.WebhookEvents, err = db.PurgeWebhooks(ctx, now.Add(-r.Webhooks), WebhookPurgeBatch)
	return p, err
}

func (db *DB) purgeRecords(ctx context.Context, now time.Time, r Retention) (Purged, error) {
	var p Purged
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		steps := []struct {
			n     *int64
			query string
			args  []any
		}{
			{&p.Sessions, "DELETE FROM sessions WHERE expires_at < $1", []any{micros(now)}},
			{&p.IdempotencyKeys, "DELETE FROM idempotency_keys WHERE created_at < $1 AND state = 'done'", []any{micros(now.Add(-r.IdempotencyKeys))}},
			{&p.Carts, "DELETE FROM carts WHERE updated_at < $1", []any{micros(now.Add(-r.AbandonedCarts))}},
			// A guest whose carts expired unpaid is nobody's customer:
			// its key (and so its sealed email) goes, then its row.
			{new(int64), "DELETE FROM subject_keys WHERE subject_id IN (SELECT id FROM users WHERE " + idleGuest + ")", []any{micros(now.Add(-r.AbandonedCarts))}},
			{&p.Guests, "DELETE FROM users WHERE " + idleGuest, []any{micros(now.Add(-r.AbandonedCarts))}},
			{&p.Tokens, "DELETE FROM password_resets WHERE expires_at < $1", []any{micros(now)}},
			{&p.Tokens, "DELETE FROM webauthn_ceremonies WHERE expires_at < $1", []any{micros(now)}},
			{&p.Tokens, "DELETE FROM oidc_logins WHERE expires_at < $1", []any{micros(now)}},
			{&p.LoginCounters, "DELETE FROM login_throttle WHERE expires_at <= $1", []any{micros(now)}},
			{&p.ProcessorEvents, "DELETE FROM processor_events WHERE received_at < $1", []any{micros(now.Add(-ProcessorEventRetention))}},
			{&p.MailJobs, "DELETE FROM mail_jobs WHERE status IN ('sent', 'skipped') AND updated_at < $1", []any{micros(now.Add(-r.SentMail))}},
			{&p.Findings, "DELETE FROM findings WHERE last_seen < $1", []any{micros(now.Add(-FindingRetention))}},
		}
		for _, s := range steps {
			res, err := tx.ExecContext(ctx, s.query, s.args...)
			if err != nil {
				return fmt.Errorf("purge: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("purge: %w", err)
			}
			*s.n += n
		}
		return nil
	})
	return p, err
}

// WebhookPurgeBatch is how many outbox rows one purge transaction deletes at
// most: a purge after a long outage (or with a short retention) never holds
// the write lock for long, and each batch is committed on its own.
const WebhookPurgeBatch = 500

// PurgeWebhooks deletes the webhook outbox's rows that no longer serve:
// deliveries that succeeded, were dead-lettered or were cancelled (their
// endpoint deleted) and have not changed since before, with their attempts;
// then events created before it that have no delivery left (a pending
// delivery keeps its event, however old); then deleted endpoints with no
// delivery left. It works in transactions of at most batch deliveries or
// events each until none is left, and returns how many deliveries and
// events it deleted. A delivery an operator retries meanwhile is pending
// again and is kept: on PostgreSQL the batch's rows are locked (FOR UPDATE
// SKIP LOCKED) before they are deleted, and each delete repeats the
// conditions; SQLite has one writer.
func (db *DB) PurgeWebhooks(ctx context.Context, before time.Time, batch int) (deliveries, events int64, err error) {
	lock := ""
	if db.engine == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	for {
		n, err := db.purgeDeliveries(ctx, micros(before), batch, lock)
		deliveries += n
		if err != nil {
			return deliveries, events, err
		}
		if n < int64(batch) {
			break
		}
	}
	for {
		var n int64
		err := db.inTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM webhook_events WHERE id IN (SELECT ev.id FROM webhook_events ev
				WHERE ev.created_at < $1 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = ev.id)
				ORDER BY ev.created_at LIMIT $2)`, micros(before), batch)
			if err != nil {
				return fmt.Errorf("purge webhook events: %w", err)
			}
			n, err = res.RowsAffected()
			return err
		})
		events += n
		if err != nil {
			return deliveries, events, err
		}
		if n < int64(batch) {
			break
		}
	}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM webhook_endpoints WHERE id IN (SELECT e.id FROM webhook_endpoints e
			WHERE e.deleted_at <> 0 AND e.deleted_at < $1 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.endpoint_id = e.id)
			ORDER BY e.deleted_at LIMIT $2)`, micros(before), batch)
		if err != nil {
			return fmt.Errorf("purge deleted webhooks: %w", err)
		}
		return nil
	})
	return deliveries, events, err
}

// purgeDeliveries deletes one batch of finished deliveries last changed
// before before, with their attempts, in one transaction.
func (db *DB) purgeDeliveries(ctx context.Context, before int64, batch int, lock string) (int64, error) {
	var n int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM webhook_deliveries WHERE status IN ($1, $2, $3) AND updated_at < $4
			ORDER BY updated_at LIMIT $5`+lock, webhook.StatusSucceeded, webhook.StatusDead, webhook.StatusCancelled, before, batch)
		if err != nil {
			return fmt.Errorf("find finished webhook deliveries: %w", err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("find finished webhook deliveries: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("find finished webhook deliveries: %w", err)
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, "DELETE FROM webhook_attempts WHERE delivery_id = $1", id); err != nil {
				return fmt.Errorf("purge webhook attempts: %w", err)
			}
			res, err := tx.ExecContext(ctx, "DELETE FROM webhook_deliveries WHERE id = $1 AND status IN ($2, $3, $4) AND updated_at < $5",
				id, webhook.StatusSucceeded, webhook.StatusDead, webhook.StatusCancelled, before)
			if err != nil {
				return fmt.Errorf("purge webhook delivery: %w", err)
			}
			k, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("purge webhook delivery: %w", err)
			}
			n += k
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
