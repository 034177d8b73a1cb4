package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/scoring"
)

var _ scoring.Versions = (*DB)(nil)

// PutVersion implements scoring.Versions.
func (db *DB) PutVersion(ctx context.Context, v scoring.Version, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.lockVersions(ctx, tx, v.Kind); err != nil {
			return err
		}
		var body string
		err := tx.QueryRowContext(ctx, "SELECT body FROM fraud_versions WHERE kind = $1 AND version = $2", v.Kind, v.Version).Scan(&body)
		switch {
		case err == nil && bytes.Equal([]byte(body), v.Body):
			// The same version again: its state is set as asked.
			return setVersionState(ctx, tx, v.Kind, v.Version, v.State, v.CreatedAt, rec)
		case err == nil:
			return scoring.ErrVersionTaken
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("read %s version %s: %w", v.Kind, v.Version, err)
		}
		if err := demote(ctx, tx, v.Kind, v.State, v.CreatedAt); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO fraud_versions (kind, version, state, body, created_at, created_by, changed_at)
			VALUES ($1, $2, $3, $4, $5, $6, $5)`, v.Kind, v.Version, v.State, string(v.Body), micros(v.CreatedAt), v.CreatedBy); err != nil {
			return fmt.Errorf("store %s version %s: %w", v.Kind, v.Version, err)
		}
		return appendAudit(ctx, tx, rec)
	})
}

// lockVersions makes the transactions that change kind's versions take
// turns, so that two at once cannot leave two versions enforced. SQLite's
// write transactions take turns already; on PostgreSQL a transaction-scoped
// advisory lock does (a row lock would miss the first version's insert).
func (db *DB) lockVersions(ctx context.Context, tx *sql.Tx, kind string) error {
	if db.engine != Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "fraud_versions/"+kind); err != nil {
		return fmt.Errorf("lock %s versions: %w", kind, err)
	}
	return nil
}

// demote makes inactive the version of kind that holds state (enforce or
// shadow): one version holds each.
func demote(ctx context.Context, tx *sql.Tx, kind, state string, at time.Time) error {
	if state == scoring.StateInactive {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "UPDATE fraud_versions SET state = $1, changed_at = $2 WHERE kind = $3 AND state = $4",
		scoring.StateInactive, micros(at), kind, state); err != nil {
		return fmt.Errorf("stop the %s version in %s: %w", kind, state, err)
	}
	return nil
}

func setVersionState(ctx context.Context, tx *sql.Tx, kind, version, state string, at time.Time, rec audit.Record) error {
	var current string
	if err := tx.QueryRowContext(ctx, "SELECT state FROM fraud_versions WHERE kind = $1 AND version = $2", kind, version).Scan(&current); errors.Is(err, sql.ErrNoRows) {
		return scoring.ErrNoVersion
	} else if err != nil {
		return fmt.Errorf("read %s version %s: %w", kind, version, err)
	}
	if current == state {
		return nil // as asked already: nothing to change or record
	}
	if err := demote(ctx, tx, kind, state, at); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE fraud_versions SET state = $1, changed_at = $2 WHERE kind = $3 AND version = $4",
		state, micros(at), kind, version); err != nil {
		return fmt.Errorf("set %s version %s to %s: %w", kind, version, state, err)
	}
	return appendAudit(ctx, tx, rec)
}

// ActivateVersion implements scoring.Versions.
func (db *DB) ActivateVersion(ctx context.Context, kind, version, state string, at time.Time, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.lockVersions(ctx, tx, kind); err != nil {
			return err
		}
		return setVersionState(ctx, tx, kind, version, state, at, rec)
	})
}

const versionColumns = "kind, version, state, created_at, created_by, changed_at"

func scanVersion(row rowScanner, body *string) (scoring.Version, error) {
	var v scoring.Version
	var created, changed int64
	dest := []any{&v.Kind, &v.Version, &v.State, &created, &v.CreatedBy, &changed}
	if body != nil {
		dest = append(dest, body)
	}
	if err := row.Scan(dest...); err != nil {
		return v, err
	}
	v.CreatedAt, v.ChangedAt = fromMicros(created), fromMicros(changed)
	return v, nil
}

// RunningVersions implements scoring.Versions.
func (db *DB) RunningVersions(ctx context.Context) ([]scoring.Version, error) {
	rows, err := db.sql.QueryContext(ctx, "SELECT "+versionColumns+", body FROM fraud_versions WHERE state <> $1 ORDER BY kind, state",
		scoring.StateInactive)
	if err != nil {
		return nil, fmt.Errorf("read the running fraud versions: %w", err)
	}
	defer rows.Close()
	var out []scoring.Version
	for rows.Next() {
		var body string
		v, err := scanVersion(rows, &body)
		if err != nil {
			return nil, fmt.Errorf("read the running fraud versions: %w", err)
		}
		v.Body = []byte(body)
		out = append(out, v)
	}
	return out, rows.Err()
}

// ListVersions implements scoring.Versions.
func (db *DB) ListVersions(ctx context.Context, kind string) ([]scoring.Version, error) {
	rows, err := db.sql.QueryContext(ctx, "SELECT "+versionColumns+" FROM fraud_versions WHERE kind = $1 ORDER BY created_at DESC, version LIMIT 1000", kind)
	if err != nil {
		return nil, fmt.Errorf("list %s versions: %w", kind, err)
	}
	defer rows.Close()
	var out []scoring.Version
	for rows.Next() {
		v, err := scanVersion(rows, nil)
		if err != nil {
			return nil, fmt.Errorf("list %s versions: %w", kind, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

var _ scoring.Backtests = (*DB)(nil)

// ScoredOrders implements scoring.Backtests: only what a backtest reads
// (the risk with its features, the label, the shipping country), not the
// orders' lines or sealed addresses.
func (db *DB) ScoredOrders(ctx context.Context, since time.Time, limit int) ([]order.Order, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT id, risk, fraud_label, ship_country FROM orders
		WHERE risk <> '' AND created_at >= $1 ORDER BY created_at DESC LIMIT $2`, micros(since), limit)
	if err != nil {
		return nil, fmt.Errorf("read scored orders: %w", err)
	}
	defer rows.Close()
	var out []order.Order
	for rows.Next() {
		var o order.Order
		var risk string
		if err := rows.Scan(&o.ID, &risk, &o.Label, &o.ShippingAddress.Country); err != nil {
			return nil, fmt.Errorf("read scored orders: %w", err)
		}
		o.Risk = &order.Risk{}
		if err := json.Unmarshal([]byte(risk), o.Risk); err != nil {
			return nil, fmt.Errorf("read the risk of %s: %w", o.ID, err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// VersionBody returns the body of kind's version; scoring.ErrNoVersion for
// an unknown one.
func (db *DB) VersionBody(ctx context.Context, kind, version string) ([]byte, error) {
	var body string
	err := db.sql.QueryRowContext(ctx, "SELECT body FROM fraud_versions WHERE kind = $1 AND version = $2", kind, version).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, scoring.ErrNoVersion
	}
	if err != nil {
		return nil, fmt.Errorf("read %s version %s: %w", kind, version, err)
	}
	return []byte(body), nil
}
