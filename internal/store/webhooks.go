package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/ordermail"
	"github.com/bulwark-shop/bulwark/internal/rekey"
	"github.com/bulwark-shop/bulwark/internal/webhook"
)

var _ webhook.Store = (*DB)(nil)

// outboxEvent is one event a change reports: its type and data.
type outboxEvent struct {
	typ  string
	data any
}

// emitEvent records an event of type typ inside tx (see emitEvents).
func emitEvent(ctx context.Context, tx *sql.Tx, typ string, at time.Time, data any) error {
	return emitEvents(ctx, tx, at, outboxEvent{typ, data})
}

// emitEvents records events inside tx, the transaction of the change they
// report, so that what they set off commits with the change or not at all:
// one row per event in the event outbox, which DispatchEvents later moves
// out — a webhook event with a delivery per endpoint subscribed, and a mail
// job for the types that mail the customer (ordermail.KindFor).
//
// This runs inside checkout's transaction, so it writes as little as it
// can: one insert of appended rows into a table with no index but its key,
// whatever the number of endpoints (issue 13: webhooks must not slow
// checkout). An event that neither mails nor has a subscriber is not
// written at all; the subscribers are read in the transaction, never
// cached, so an endpoint registered a moment ago on another instance counts.
// The webhook body is fixed here, at commit: a delivery sent after a crash
// carries the payload the change committed.
func emitEvents(ctx context.Context, tx *sql.Tx, at time.Time, events ...outboxEvent) error {
	types := make([]any, len(events))
	for i, ev := range events {
		types[i] = ev.typ
	}
	subscribed := map[string]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT s.event_type FROM webhook_subscriptions s
		JOIN webhook_endpoints e ON e.id = s.endpoint_id
		WHERE s.event_type IN (`+placeholders(1, len(types))+`) AND e.deleted_at = 0`, types...)
	if err != nil {
		return fmt.Errorf("find webhook subscribers: %w", err)
	}
	for rows.Next() {
		var typ string
		if err := rows.Scan(&typ); err != nil {
			rows.Close()
			return fmt.Errorf("find webhook subscribers: %w", err)
		}
		subscribed[typ] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find webhook subscribers: %w", err)
	}
	var args []any
	var values []string
	for _, ev := range events {
		payload := ""
		if subscribed[ev.typ] {
			body, err := webhook.Body(ev.typ, at, ev.data)
			if err != nil {
				return fmt.Errorf("encode %s event: %w", ev.typ, err)
			}
			payload = string(body)
		}
		kind, orderID, refID, err := mailFor(ev)
		if err != nil {
			return err
		}
		if payload == "" && kind == "" {
			continue
		}
		values = append(values, "("+placeholders(len(args)+1, 7)+")")
		args = append(args, id.New(id.WebhookEvent), ev.typ, payload, kind, orderID, refID, micros(at))
	}
	if len(values) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO event_outbox (id, type, payload, mail_kind, order_id, ref_id, created_at) VALUES "+
		strings.Join(values, ", "), args...); err != nil {
		return fmt.Errorf("write events to the outbox: %w", err)
	}
	return nil
}

// dispatchBatch is how many events DispatchEvents moves at once: each
// dispatch is one transaction, whatever its size.
const dispatchBatch = 64

// dispatchDeliveries bounds the deliveries one dispatch writes, but for a
// single event with more endpoints than that.
const dispatchDeliveries = 1000

// DispatchEvents moves up to limit events out
// of the outbox, oldest first, in one transaction — for each, a webhook
// event and a pending delivery (due at once) per endpoint subscribed now,
// and its mail job — and deletes them from the outbox, so each is
// dispatched once whatever crashes. On PostgreSQL, SKIP LOCKED lets
// instances dispatch side by side. It returns how many it moved.
//
// Both queues' claims call it (ClaimWebhookDeliveries, ClaimMailJobs), so
// each queue moves on even when the other's worker is held back. The
// endpoints are those subscribed when the event is dispatched, a moment
// after its commit: one registered in between gets it, one deleted in
// between does not.
func (db *DB) DispatchEvents(ctx context.Context, limit int) (int, error) {
	// Most polls find the outbox empty: a read says so without a write
	// transaction.
	waiting, err := db.outboxWaiting(ctx)
	if err != nil || !waiting {
		return 0, err
	}
	var n int
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = db.dispatchIn(ctx, tx, limit)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// outboxWaiting reports whether the event outbox holds an event (a read).
func (db *DB) outboxWaiting(ctx context.Context) (bool, error) {
	var waiting int
	if err := db.sql.QueryRowContext(ctx, "SELECT COUNT(*) FROM (SELECT 1 FROM event_outbox LIMIT 1) o").Scan(&waiting); err != nil {
		return false, fmt.Errorf("look at the event outbox: %w", err)
	}
	return waiting > 0, nil
}

// dispatchIn moves up to limit events out of the outbox inside tx (see
// DispatchEvents) and returns how many it moved.
func (db *DB) dispatchIn(ctx context.Context, tx *sql.Tx, limit int) (int, error) {
	skipLocked := ""
	if db.engine == Postgres {
		skipLocked = " FOR UPDATE SKIP LOCKED"
	}
	type pending struct {
		seq                                    int64
		id, typ, payload, kind, orderID, refID string
		at                                     int64
	}
	var n int
	err := func() error {
		rows, err := tx.QueryContext(ctx, `SELECT seq, id, type, payload, mail_kind, order_id, ref_id, created_at FROM event_outbox
			ORDER BY seq LIMIT $1`+skipLocked, limit)
		if err != nil {
			return fmt.Errorf("read the event outbox: %w", err)
		}
		var evs []pending
		for rows.Next() {
			var p pending
			if err := rows.Scan(&p.seq, &p.id, &p.typ, &p.payload, &p.kind, &p.orderID, &p.refID, &p.at); err != nil {
				rows.Close()
				return fmt.Errorf("read the event outbox: %w", err)
			}
			evs = append(evs, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read the event outbox: %w", err)
		}
		if len(evs) == 0 {
			return nil
		}
		var types []any
		for _, p := range evs {
			types = append(types, p.typ)
		}
		subscribers, err := webhookSubscribers(ctx, tx, types, db.engine == Postgres)
		if err != nil {
			return err
		}
		// The batch stops where its deliveries would pass
		// dispatchDeliveries (one event at least): a transaction holds
		// SQLite's one writer, which checkouts wait for, and its time grows
		// with the rows. The rest stay for the next dispatch.
		deliveries := 0
		for i, p := range evs {
			if p.payload != "" {
				deliveries += len(subscribers[p.typ])
			}
			if i > 0 && deliveries > dispatchDeliveries {
				evs = evs[:i]
				break
			}
		}
		n = len(evs)
		seqs := make([]any, n)
		for i, p := range evs {
			seqs[i] = p.seq
		}
		var evRows, dRows, mRows [][]any
		for _, p := range evs {
			if endpoints := subscribers[p.typ]; p.payload != "" && len(endpoints) > 0 {
				evRows = append(evRows, []any{p.id, p.typ, p.payload, p.at})
				for _, e := range endpoints {
					dRows = append(dRows, []any{id.New(id.WebhookDelivery), p.id, e, webhook.StatusPending, p.at, p.at, p.at})
				}
			}
			if p.kind != "" {
				mRows = append(mRows, []any{id.New(id.MailJob), p.id, p.kind, p.orderID, p.refID, ordermail.StatusPending, p.at, p.at, p.at})
			}
		}
		if err := db.insertRows(ctx, tx, "webhook_events", []string{"id", "type", "payload", "created_at"}, evRows); err != nil {
			return err
		}
		if err := db.insertRows(ctx, tx, "webhook_deliveries", []string{"id", "event_id", "endpoint_id", "status", "next_attempt_at", "created_at", "updated_at"}, dRows); err != nil {
			return err
		}
		if err := db.insertRows(ctx, tx, "mail_jobs", []string{"id", "event_id", "kind", "order_id", "ref_id", "status", "next_attempt_at", "created_at", "updated_at"}, mRows); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM event_outbox WHERE seq IN ("+placeholders(1, len(seqs))+")", seqs...); err != nil {
			return fmt.Errorf("empty the event outbox: %w", err)
		}
		return nil
	}()
	return n, err
}

// claimAfterDispatch runs a queue's claim in one write transaction with
// the dispatch of the outbox's first batch, so that a busy shop pays one
// commit (one fsync and one turn of SQLite's one writer, which checkouts
// wait for) where it paid two (issue 13: delivery must not slow checkout).
// Most polls find neither an event waiting nor anything due, which reads
// say (dueQuery counts the queue's due rows) without a write transaction.
// After an outage, the outbox's further batches drain at once, each in a
// transaction of its own.
//
// first, when set, runs in the transaction before the dispatch: the writes a
// queue's worker owes from its last batch (the attempts it made), which
// then share the commit too; with first set the transaction runs even when
// nothing is due.
func (db *DB) claimAfterDispatch(ctx context.Context, dueQuery string, dueArgs []any, first, claim func(*sql.Tx) error) error {
	waiting, err := db.outboxWaiting(ctx)
	if err != nil {
		return err
	}
	if !waiting && first == nil {
		var due int
		if err := db.sql.QueryRowContext(ctx, dueQuery, dueArgs...).Scan(&due); err != nil {
			return fmt.Errorf("look for due work: %w", err)
		}
		if due == 0 {
			return nil
		}
	}
	full := false
	if err := db.inTx(ctx, func(tx *sql.Tx) error {
		if first != nil {
			if err := first(tx); err != nil {
				return err
			}
		}
		if waiting {
			n, err := db.dispatchIn(ctx, tx, dispatchBatch)
			if err != nil {
				return err
			}
			full = n == dispatchBatch
		}
		return claim(tx)
	}); err != nil {
		return err
	}
	if full {
		return db.dispatchWaiting(ctx)
	}
	return nil
}

// dispatchWaiting dispatches the outbox's events, batch after batch while
// batches are full, up to a bound: after an outage the outbox drains at the
// workers' pace, not at a batch per poll, and no poll runs unbounded.
func (db *DB) dispatchWaiting(ctx context.Context) error {
	for range 16 {
		n, err := db.DispatchEvents(ctx, dispatchBatch)
		if err != nil || n < dispatchBatch {
			return err
		}
	}
	return nil
}

// EventOutboxLength returns how many events wait in the outbox, for
// operators: it should stay near 0, the workers dispatching every second.
func (db *DB) EventOutboxLength(ctx context.Context) (int64, error) {
	var n int64
	if err := db.sql.QueryRowContext(ctx, "SELECT COUNT(*) FROM event_outbox").Scan(&n); err != nil {
		return 0, fmt.Errorf("count the event outbox: %w", err)
	}
	return n, nil
}

// webhookSubscribers returns, by event type, the endpoints (not deleted)
// subscribed to each of types, in id order. share locks the endpoints' rows
// until tx ends (PostgreSQL), so an endpoint being deleted meanwhile either
// is gone from the answer or waits for tx to commit and then cancels the
// deliveries tx made: it never keeps pending deliveries it cannot send.
// SQLite's one writer orders the two already.
func webhookSubscribers(ctx context.Context, tx *sql.Tx, types []any, share bool) (map[string][]string, error) {
	lock := ""
	if share {
		lock = " FOR SHARE OF e"
	}
	rows, err := tx.QueryContext(ctx, `SELECT s.event_type, s.endpoint_id FROM webhook_subscriptions s
		JOIN webhook_endpoints e ON e.id = s.endpoint_id
		WHERE s.event_type IN (`+placeholders(1, len(types))+`) AND e.deleted_at = 0 ORDER BY s.endpoint_id`+lock, types...)
	if err != nil {
		return nil, fmt.Errorf("find webhook subscribers: %w", err)
	}
	defer rows.Close()
	subscribers := map[string][]string{}
	for rows.Next() {
		var typ, e string
		if err := rows.Scan(&typ, &e); err != nil {
			return nil, fmt.Errorf("find webhook subscribers: %w", err)
		}
		subscribers[typ] = append(subscribers[typ], e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find webhook subscribers: %w", err)
	}
	return subscribers, nil
}

// CreateWebhook registers an endpoint with its first secret.
func (db *DB) CreateWebhook(ctx context.Context, e webhook.Endpoint, s webhook.SealedSecret, rec audit.Record) error {
	events, err := json.Marshal(e.Events)
	if err != nil {
		return fmt.Errorf("encode webhook events: %w", err)
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO webhook_endpoints (id, url, events_json, created_at) VALUES ($1, $2, $3, $4)",
			e.ID, e.URL, string(events), micros(e.CreatedAt)); err != nil {
			return fmt.Errorf("insert webhook: %w", err)
		}
		for _, ev := range e.Events {
			if _, err := tx.ExecContext(ctx, "INSERT INTO webhook_subscriptions (event_type, endpoint_id) VALUES ($1, $2)", ev, e.ID); err != nil {
				return fmt.Errorf("insert webhook subscription: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO webhook_secrets (id, endpoint_id, secret_ct, created_at) VALUES ($1, $2, $3, $4)",
			s.ID, e.ID, s.Ciphertext, micros(e.CreatedAt)); err != nil {
			return fmt.Errorf("insert webhook secret: %w", err)
		}
		return appendAudit(ctx, tx, rec)
	})
}

// Webhooks lists the endpoints that are not deleted, oldest first.
func (db *DB) Webhooks(ctx context.Context) ([]webhook.Endpoint, error) {
	rows, err := db.sql.QueryContext(ctx, "SELECT id, url, events_json, created_at FROM webhook_endpoints WHERE deleted_at = 0 ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	defer rows.Close()
	out := []webhook.Endpoint{}
	for rows.Next() {
		var e webhook.Endpoint
		var events string
		var created int64
		if err := rows.Scan(&e.ID, &e.URL, &events, &created); err != nil {
			return nil, fmt.Errorf("scan webhook: %w", err)
		}
		if err := json.Unmarshal([]byte(events), &e.Events); err != nil {
			return nil, fmt.Errorf("read events of webhook %s: %w", e.ID, err)
		}
		e.CreatedAt = fromMicros(created)
		out = append(out, e)
	}
	return out, rows.Err()
}

// DeleteWebhook implements webhook.Store: the secrets are deleted at once.
func (db *DB) DeleteWebhook(ctx context.Context, endpointID string, at time.Time, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE webhook_endpoints SET deleted_at = $1 WHERE id = $2 AND deleted_at = 0", micros(at), endpointID)
		if err != nil {
			return fmt.Errorf("delete webhook: %w", err)
		}
		if err := mustAffect(res, webhook.ErrNotFound); err != nil {
			return err
		}
		for _, q := range []string{"DELETE FROM webhook_subscriptions WHERE endpoint_id = $1", "DELETE FROM webhook_secrets WHERE endpoint_id = $1"} {
			if _, err := tx.ExecContext(ctx, q, endpointID); err != nil {
				return fmt.Errorf("delete webhook: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE webhook_deliveries SET status = $1, updated_at = $2 WHERE endpoint_id = $3 AND status = $4",
			webhook.StatusCancelled, micros(at), endpointID, webhook.StatusPending); err != nil {
			return fmt.Errorf("cancel webhook deliveries: %w", err)
		}
		return appendAudit(ctx, tx, rec)
	})
}

// RotateWebhookSecret implements webhook.Store. Secrets whose grace ended
// are deleted on the way.
func (db *DB) RotateWebhookSecret(ctx context.Context, endpointID string, s webhook.SealedSecret, at, graceUntil time.Time, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		// Touching the endpoint's row locks it: two rotations run one after the other.
		res, err := tx.ExecContext(ctx, "UPDATE webhook_endpoints SET deleted_at = 0 WHERE id = $1 AND deleted_at = 0", endpointID)
		if err != nil {
			return fmt.Errorf("rotate webhook secret: %w", err)
		}
		if err := mustAffect(res, webhook.ErrNotFound); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM webhook_secrets WHERE endpoint_id = $1 AND signs_until <> 0 AND signs_until <= $2",
			endpointID, micros(at)); err != nil {
			return fmt.Errorf("delete expired webhook secrets: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE webhook_secrets SET signs_until = $1 WHERE endpoint_id = $2 AND signs_until = 0",
			micros(graceUntil), endpointID); err != nil {
			return fmt.Errorf("retire webhook secret: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO webhook_secrets (id, endpoint_id, secret_ct, created_at) VALUES ($1, $2, $3, $4)",
			s.ID, endpointID, s.Ciphertext, micros(at)); err != nil {
			return fmt.Errorf("insert webhook secret: %w", err)
		}
		return appendAudit(ctx, tx, rec)
	})
}

const deliveryColumns = `d.id, d.event_id, ev.type, d.endpoint_id, d.status, d.attempts, d.next_attempt_at,
	d.last_status, d.last_error, d.created_at, d.updated_at`

func scanDelivery(row rowScanner) (webhook.Delivery, error) {
	var d webhook.Delivery
	var next, created, updated int64
	err := row.Scan(&d.ID, &d.EventID, &d.EventType, &d.EndpointID, &d.Status, &d.Attempts, &next, &d.LastStatus, &d.LastError, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return d, webhook.ErrDeliveryNotFound
	}
	if err != nil {
		return d, fmt.Errorf("scan webhook delivery: %w", err)
	}
	if d.Status == webhook.StatusPending {
		d.NextAttemptAt = fromMicros(next)
	}
	d.CreatedAt, d.UpdatedAt = fromMicros(created), fromMicros(updated)
	return d, nil
}

func readDelivery(ctx context.Context, q queryer, deliveryID string) (webhook.Delivery, error) {
	return scanDelivery(q.QueryRowContext(ctx, "SELECT "+deliveryColumns+` FROM webhook_deliveries d
		JOIN webhook_events ev ON ev.id = d.event_id WHERE d.id = $1`, deliveryID))
}

func readAttempts(ctx context.Context, q queryer, d *webhook.Delivery) error {
	rows, err := q.QueryContext(ctx, "SELECT n, at, status_code, duration_us, error FROM webhook_attempts WHERE delivery_id = $1 ORDER BY n", d.ID)
	if err != nil {
		return fmt.Errorf("read webhook attempts: %w", err)
	}
	defer rows.Close()
	d.History = []webhook.Attempt{}
	for rows.Next() {
		var a webhook.Attempt
		var at, dur int64
		if err := rows.Scan(&a.N, &at, &a.StatusCode, &dur, &a.Error); err != nil {
			return fmt.Errorf("scan webhook attempt: %w", err)
		}
		a.At, a.Duration = fromMicros(at), time.Duration(dur)*time.Microsecond
		d.History = append(d.History, a)
	}
	return rows.Err()
}

// WebhookDeliveries implements webhook.Store; a deleted endpoint's
// deliveries are listed too, and endpointID "" lists every endpoint's.
func (db *DB) WebhookDeliveries(ctx context.Context, endpointID, status string, limit int) ([]webhook.Delivery, error) {
	var out []webhook.Delivery
	err := db.inSnapshot(ctx, func(tx *sql.Tx) error {
		if endpointID != "" {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM webhook_endpoints WHERE id = $1", endpointID).Scan(&n); err != nil {
				return fmt.Errorf("find webhook: %w", err)
			}
			if n == 0 {
				return webhook.ErrNotFound
			}
		}
		rows, err := tx.QueryContext(ctx, "SELECT "+deliveryColumns+` FROM webhook_deliveries d
			JOIN webhook_events ev ON ev.id = d.event_id
			WHERE ($1 = '' OR d.endpoint_id = $1) AND ($2 = '' OR d.status = $2) ORDER BY d.created_at DESC, d.id DESC LIMIT $3`, endpointID, status, limit)
		if err != nil {
			return fmt.Errorf("list webhook deliveries: %w", err)
		}
		out = []webhook.Delivery{}
		for rows.Next() {
			d, err := scanDelivery(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list webhook deliveries: %w", err)
		}
		for i := range out {
			if err := readAttempts(ctx, tx, &out[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// RetryWebhookDelivery implements webhook.Store.
func (db *DB) RetryWebhookDelivery(ctx context.Context, deliveryID string, at time.Time, rec audit.Record) (webhook.Delivery, error) {
	var d webhook.Delivery
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, lease_owner = '', lease_until = 0, updated_at = $2
			WHERE id = $3 AND status IN ($4, $5)
			AND endpoint_id IN (SELECT id FROM webhook_endpoints WHERE deleted_at = 0)`,
			webhook.StatusPending, micros(at), deliveryID, webhook.StatusDead, webhook.StatusSucceeded)
		if err != nil {
			return fmt.Errorf("retry webhook delivery: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("retry webhook delivery: %w", err)
		} else if n == 0 {
			d, err := readDelivery(ctx, tx, deliveryID)
			switch {
			case err != nil:
				return err
			case d.Status == webhook.StatusPending:
				return webhook.ErrDeliveryPending
			default: // cancelled: its endpoint is deleted
				return webhook.ErrNotFound
			}
		}
		if d, err = readDelivery(ctx, tx, deliveryID); err != nil {
			return err
		}
		return appendAudit(ctx, tx, rec)
	})
	return d, err
}

// ClaimWebhookDeliveries implements webhook.Store. It first moves the
// event outbox's waiting events to their queues (DispatchEvents), so the
// deliveries of a change are found by the first look after its commit. On PostgreSQL, SKIP
// LOCKED lets instances claim side by side without waiting on each other
// (the conditions are repeated outside the subquery, so a row another
// instance claimed first is not claimed again); SQLite has one writer.
func (db *DB) ClaimWebhookDeliveries(ctx context.Context, owner string, now, until time.Time, limit int) ([]webhook.Claim, error) {
	return db.FinishAndClaimWebhookDeliveries(ctx, nil, owner, now, until, limit)
}

// FinishAndClaimWebhookDeliveries implements webhook.Store: the attempts of
// the worker's last batch recorded (as FinishWebhookAttempts records them)
// in the transaction of its next claim — one commit where there were two,
// beside the checkouts that share SQLite's one writer (issue 13).
func (db *DB) FinishAndClaimWebhookDeliveries(ctx context.Context, finished []webhook.AttemptResult, owner string, now, until time.Time, limit int) ([]webhook.Claim, error) {
	var first func(*sql.Tx) error
	if len(finished) > 0 {
		first = func(tx *sql.Tx) error { return db.finishAttempts(ctx, tx, finished) }
	}
	skipLocked := ""
	if db.engine == Postgres {
		skipLocked = " FOR UPDATE SKIP LOCKED"
	}
	var claims []webhook.Claim
	err := db.claimAfterDispatch(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM webhook_deliveries
		WHERE status = $1 AND next_attempt_at <= $2 AND lease_until < $2 LIMIT 1) d`, []any{webhook.StatusPending, micros(now)}, first, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2
			WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = $3 AND next_attempt_at <= $4 AND lease_until < $4
				ORDER BY next_attempt_at LIMIT $5`+skipLocked+`)
			AND status = $3 AND next_attempt_at <= $4 AND lease_until < $4 RETURNING id`,
			owner, micros(until), webhook.StatusPending, micros(now), limit)
		if err != nil {
			return fmt.Errorf("claim webhook deliveries: %w", err)
		}
		var ids []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return fmt.Errorf("claim webhook deliveries: %w", err)
			}
			ids = append(ids, s)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("claim webhook deliveries: %w", err)
		}
		claims, err = readClaims(ctx, tx, ids, now)
		return err
	})
	return claims, err
}

// readClaims reads what sending the claimed deliveries ids needs, in two
// queries whatever their number (the deliveries with their events and
// endpoints, then the endpoints' secrets), in the order of ids.
func readClaims(ctx context.Context, tx *sql.Tx, ids []string, now time.Time) ([]webhook.Claim, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, s := range ids {
		args[i] = s
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+deliveryColumns+`, ev.payload, ev.created_at, e.url FROM webhook_deliveries d
		JOIN webhook_events ev ON ev.id = d.event_id JOIN webhook_endpoints e ON e.id = d.endpoint_id
		WHERE d.id IN (`+placeholders(1, len(ids))+")", args...)
	if err != nil {
		return nil, fmt.Errorf("read webhook claims: %w", err)
	}
	byID := make(map[string]*webhook.Claim, len(ids))
	var endpoints []any
	seen := map[string]bool{}
	for rows.Next() {
		var c webhook.Claim
		var next, created, updated, at int64
		var payload string
		d := &c.Delivery
		if err := rows.Scan(&d.ID, &d.EventID, &d.EventType, &d.EndpointID, &d.Status, &d.Attempts, &next, &d.LastStatus, &d.LastError,
			&created, &updated, &payload, &at, &c.URL); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read webhook claims: %w", err)
		}
		if d.Status == webhook.StatusPending {
			d.NextAttemptAt = fromMicros(next)
		}
		d.CreatedAt, d.UpdatedAt = fromMicros(created), fromMicros(updated)
		c.Event = webhook.Event{ID: d.EventID, Type: d.EventType, At: fromMicros(at), Payload: []byte(payload)}
		byID[d.ID] = &c
		if !seen[d.EndpointID] {
			seen[d.EndpointID] = true
			endpoints = append(endpoints, d.EndpointID)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read webhook claims: %w", err)
	}
	rows, err = tx.QueryContext(ctx, `SELECT endpoint_id, id, secret_ct FROM webhook_secrets
		WHERE endpoint_id IN (`+placeholders(2, len(endpoints))+`) AND (signs_until = 0 OR signs_until > $1)
		ORDER BY endpoint_id, signs_until, id`, append([]any{micros(now)}, endpoints...)...)
	if err != nil {
		return nil, fmt.Errorf("read webhook secrets: %w", err)
	}
	secrets := map[string][]webhook.SealedSecret{}
	for rows.Next() {
		var endpoint string
		var s webhook.SealedSecret
		if err := rows.Scan(&endpoint, &s.ID, &s.Ciphertext); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read webhook secrets: %w", err)
		}
		secrets[endpoint] = append(secrets[endpoint], s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read webhook secrets: %w", err)
	}
	claims := make([]webhook.Claim, 0, len(ids))
	for _, did := range ids {
		c, ok := byID[did]
		if !ok {
			return nil, fmt.Errorf("read webhook claim %s: its event or endpoint is missing", did)
		}
		c.Secrets = secrets[c.Delivery.EndpointID]
		claims = append(claims, *c)
	}
	return claims, nil
}

// FinishWebhookAttempt records one attempt (see FinishWebhookAttempts).
func (db *DB) FinishWebhookAttempt(ctx context.Context, r webhook.AttemptResult) error {
	return db.FinishWebhookAttempts(ctx, []webhook.AttemptResult{r})
}

// FinishWebhookAttempts implements webhook.Store: a batch's attempts in one
// transaction, so one commit (one fsync on SQLite's one writer, one WAL
// flush on PostgreSQL) however many deliveries the batch sent. An attempt
// whose lease was lost (its delivery cancelled, or claimed again after the
// lease ran out) is not recorded; the others are.
func (db *DB) FinishWebhookAttempts(ctx context.Context, rs []webhook.AttemptResult) error {
	if len(rs) == 0 {
		return nil
	}
	return db.inTx(ctx, func(tx *sql.Tx) error { return db.finishAttempts(ctx, tx, rs) })
}

// finishAttempts records rs in tx (see FinishWebhookAttempts).
func (db *DB) finishAttempts(ctx context.Context, tx *sql.Tx, rs []webhook.AttemptResult) error {
	held, err := db.finishDeliveries(ctx, tx, rs)
	if err != nil {
		return fmt.Errorf("finish webhook attempts: %w", err)
	}
	var attempts [][]any
	for _, r := range held {
		attempts = append(attempts, []any{r.DeliveryID, r.Attempt.N, micros(r.Attempt.At), r.Attempt.StatusCode, r.Attempt.Duration.Microseconds(), r.Attempt.Error})
	}
	return db.insertRows(ctx, tx, "webhook_attempts", []string{"delivery_id", "n", "at", "status_code", "duration_us", "error"}, attempts)
}

// finishDeliveries sets each delivery of rs as its attempt left it, if its
// lease is still held, and returns those whose lease was: the cheapest way
// for the engine (see insertRows): on SQLite one prepared UPDATE run per
// delivery, on PostgreSQL one UPDATE for the batch from a VALUES list.
func (db *DB) finishDeliveries(ctx context.Context, tx *sql.Tx, rs []webhook.AttemptResult) ([]webhook.AttemptResult, error) {
	next := func(r webhook.AttemptResult) int64 {
		if r.Status == webhook.StatusPending {
			return micros(r.NextAttemptAt)
		}
		return 0
	}
	var held []webhook.AttemptResult
	if db.engine != Postgres {
		stmt, err := tx.PrepareContext(ctx, `UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_at = $3,
			last_status = $4, last_error = $5, lease_owner = '', lease_until = 0, updated_at = $6
			WHERE id = $7 AND lease_owner = $8 AND status = $9`)
		if err != nil {
			return nil, err
		}
		defer stmt.Close()
		for _, r := range rs {
			res, err := stmt.ExecContext(ctx, r.Status, r.Attempt.N, next(r), r.Attempt.StatusCode, r.Attempt.Error, micros(r.Attempt.At),
				r.DeliveryID, r.Owner, webhook.StatusPending)
			if err != nil {
				return nil, err
			}
			if n, err := res.RowsAffected(); err != nil {
				return nil, err
			} else if n == 1 {
				held = append(held, r)
			}
		}
		return held, nil
	}
	// Both engines name a VALUES list's columns column1, column2, ...; the
	// casts give PostgreSQL the parameters' types.
	var values []string
	var args []any
	for _, r := range rs {
		n := len(args)
		values = append(values, fmt.Sprintf("(CAST($%d AS TEXT), CAST($%d AS TEXT), CAST($%d AS TEXT), CAST($%d AS BIGINT), CAST($%d AS BIGINT), CAST($%d AS BIGINT), CAST($%d AS TEXT), CAST($%d AS BIGINT))",
			n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8))
		args = append(args, r.DeliveryID, r.Owner, r.Status, r.Attempt.N, next(r), r.Attempt.StatusCode, r.Attempt.Error, micros(r.Attempt.At))
	}
	args = append(args, webhook.StatusPending)
	byID := make(map[string]webhook.AttemptResult, len(rs))
	for _, r := range rs {
		byID[r.DeliveryID] = r
	}
	rows, err := tx.QueryContext(ctx, `UPDATE webhook_deliveries SET status = v.column3, attempts = v.column4, next_attempt_at = v.column5,
		last_status = v.column6, last_error = v.column7, lease_owner = '', lease_until = 0, updated_at = v.column8
		FROM (VALUES `+strings.Join(values, ", ")+`) AS v
		WHERE webhook_deliveries.id = v.column1 AND webhook_deliveries.lease_owner = v.column2 AND webhook_deliveries.status = $`+
		fmt.Sprint(len(args))+` RETURNING webhook_deliveries.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		held = append(held, byID[s])
	}
	return held, rows.Err()
}

// WebhookSecretCiphertexts returns up to limit webhook signing secrets whose
// id is after after, for re-encryption after a key rotation.
func (db *DB) WebhookSecretCiphertexts(ctx context.Context, after string, limit int) ([]rekey.Ciphertext, error) {
	var out []rekey.Ciphertext
	err := db.inSnapshot(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = listCiphertexts(ctx, tx, "SELECT id, secret_ct FROM webhook_secrets WHERE id > $1 ORDER BY id LIMIT $2", after, limit)
		return err
	})
	return out, err
}

// SwapWebhookSecretCiphertexts replaces secrets that still hold their old
// ciphertext, and returns how many did.
func (db *DB) SwapWebhookSecretCiphertexts(ctx context.Context, swaps []rekey.Swap) (int, error) {
	var n int
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = swapCiphertexts(ctx, tx, "UPDATE webhook_secrets SET secret_ct = $1 WHERE id = $2 AND secret_ct = $3", swaps)
		return err
	})
	return n, err
}
