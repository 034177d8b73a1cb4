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
