package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrNoBackupRun is a kind of backup run that never happened.
var ErrNoBackupRun = errors.New("no such backup run yet")

// backupRunsKept is how many runs of each kind are kept.
const backupRunsKept = 1000

// SaveBackupRun keeps a backup ("backup") or drill ("drill") run's outcome
// and report, and deletes the oldest of its kind past backupRunsKept.
func (db *DB) SaveBackupRun(ctx context.Context, id, kind string, at time.Time, ok bool, report any) error {
	text, err := json.Marshal(report)
	if err != nil {
		return fmt.Errorf("encode %s report: %w", kind, err)
	}
	okInt := 0
	if ok {
		okInt = 1
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO backup_runs (id, kind, run_at, ok, report) VALUES ($1, $2, $3, $4, $5)`,
			id, kind, micros(at), okInt, string(text)); err != nil {
			return fmt.Errorf("insert %s run: %w", kind, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM backup_runs WHERE kind = $1 AND id NOT IN
			(SELECT id FROM backup_runs WHERE kind = $1 ORDER BY run_at DESC, id DESC LIMIT $2)`, kind, backupRunsKept); err != nil {
			return fmt.Errorf("delete old %s runs: %w", kind, err)
		}
		return nil
	})
}

// LatestBackupRun decodes into report the newest run of kind (the newest
// that succeeded, with okOnly): ErrNoBackupRun when there is none.
func (db *DB) LatestBackupRun(ctx context.Context, kind string, okOnly bool, report any) error {
	q := `SELECT report FROM backup_runs WHERE kind = $1 ORDER BY run_at DESC, id DESC LIMIT 1`
	if okOnly {
		q = `SELECT report FROM backup_runs WHERE kind = $1 AND ok = 1 ORDER BY run_at DESC, id DESC LIMIT 1`
	}
	return db.latestReport(ctx, q, kind+" run", ErrNoBackupRun, report, kind)
}

// Erasure is an entry of the erasure ledger: who (a pseudonymous id) and
// when.
type Erasure struct {
	UserID   string
	ErasedAt time.Time
}

// PendingErasures lists up to limit ledger entries not yet on every backup
// target, oldest first.
func (db *DB) PendingErasures(ctx context.Context, limit int) ([]Erasure, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT user_id, erased_at FROM erasure_ledger WHERE pushed_at IS NULL
		ORDER BY erased_at, user_id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list pending erasures: %w", err)
	}
	defer rows.Close()
	var out []Erasure
	for rows.Next() {
		var e Erasure
		var at int64
		if err := rows.Scan(&e.UserID, &at); err != nil {
			return nil, fmt.Errorf("list pending erasures: %w", err)
		}
		e.ErasedAt = fromMicros(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// MarkErasurePushed records that every backup target holds userID's entry.
func (db *DB) MarkErasurePushed(ctx context.Context, userID string, at time.Time) error {
	if _, err := db.write.ExecContext(ctx, `UPDATE erasure_ledger SET pushed_at = $1 WHERE user_id = $2`, micros(at), userID); err != nil {
		return fmt.Errorf("mark erasure pushed: %w", err)
	}
	return nil
}
