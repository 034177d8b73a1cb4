package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Retention says how long records are kept once they no longer serve.
type Retention struct {
	IdempotencyKeys time.Duration // answers to repeated requests (at least 24 hours)
	AbandonedCarts  time.Duration // carts not touched since
}

// ProcessorEventRetention is how long the processor's events are kept: past
// the days it retries a delivery (Stripe: 3), so a repeat is recognised.
const ProcessorEventRetention = 30 * 24 * time.Hour

// Purged counts what a purge removed.
type Purged struct {
	Sessions, IdempotencyKeys, Carts, Tokens int64
	// Guests are guests (guest checkout) left with no cart and no order.
	Guests int64
	// LoginCounters are expired failed-login counts and login locks.
	LoginCounters int64
	// ProcessorEvents are the processor's events kept past their retries.
	ProcessorEvents int64
}

// idleGuest selects the guests made before $1 with no cart and no order left.
const idleGuest = `guest = TRUE AND created_at < $1
	AND NOT EXISTS (SELECT 1 FROM carts c WHERE c.owner_id = users.id)
	AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = users.id)`

// Purge deletes what retention no longer keeps: sessions past their absolute
// limit, old idempotency answers, abandoned carts and the guests left without cart or order, and used or expired
// one-time tokens. The audit trail is never purged here.
func (db *DB) Purge(ctx context.Context, now time.Time, r Retention) (Purged, error) {
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
