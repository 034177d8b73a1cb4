package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/payment"
)

// RecordProcessorEvent keeps an event the processor sent, with the order
// whose payment it names ("" for none), and appends rec with that order as
// its target, in one transaction. An event already kept (a delivery
// repeated) is left as it was: fresh is false and nothing is written.
func (db *DB) RecordProcessorEvent(ctx context.Context, ev payment.Event, at time.Time, rec audit.Record) (orderID string, fresh bool, err error) {
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		if ev.AuthorizationID != "" {
			err := tx.QueryRowContext(ctx, "SELECT id FROM orders WHERE authorization_id = $1", ev.AuthorizationID).Scan(&orderID)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("find the order of %s: %w", ev.AuthorizationID, err)
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO processor_events (id, type, authorization_id, order_id, received_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`, ev.ID, ev.Type, ev.AuthorizationID, orderID, micros(at))
		if err != nil {
			return fmt.Errorf("record processor event: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		fresh = true
		if orderID != "" {
			rec.Target = orderID
		}
		return appendAudit(ctx, tx, rec)
	})
	return orderID, fresh, err
}
