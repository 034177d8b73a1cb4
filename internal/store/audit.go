package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/bulwark-shop/bulwark/internal/audit"
)

var _ audit.Store = (*DB)(nil)

// appendAudit records r inside tx. On PostgreSQL it queues r for the sealer
// (auditseal.go). On SQLite it seals r onto the chain here: advancing the
// head row first orders concurrent appenders, and callers append after their
// own writes, so locks are always taken in the same order (data rows, then
// the head) and cannot deadlock.
func appendAudit(ctx context.Context, tx *sql.Tx, r audit.Record) error {
	if w, ok := pgWrites.Load(tx); ok {
		w.(*pgWrite).audited = true
		return queueAudit(ctx, tx, r)
	}
	var prevSeq int64
	var prevHash string
	err := tx.QueryRowContext(ctx, "UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq - 1, hash").Scan(&prevSeq, &prevHash)
	if err != nil {
		return fmt.Errorf("advance audit head: %w", err)
	}
	r = audit.Seal(r, prevSeq, prevHash)
	if err := insertAuditRecord(ctx, tx, r); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE audit_head SET hash = $1 WHERE id = 1", r.Hash); err != nil {
		return fmt.Errorf("set audit head: %w", err)
	}
	return nil
}

// insertAuditRecord inserts the sealed record r.
func insertAuditRecord(ctx context.Context, tx *sql.Tx, r audit.Record) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_records
		(seq, at, actor, action, target, outcome, ip, request_id, detail, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		r.Seq, micros(r.Time), r.Actor, r.Action, r.Target, r.Outcome, r.IP, r.RequestID, r.Detail, r.PrevHash, r.Hash); err != nil {
		return fmt.Errorf("insert audit record: %w", err)
	}
	return nil
}

// AppendAudit appends a standalone record.
func (db *DB) AppendAudit(ctx context.Context, r audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error { return appendAudit(ctx, tx, r) })
}

// ScanAudit calls fn for each record in sequence order and returns the head. It
// reads one snapshot, so the head matches the records read even while the
// server goes on appending.
func (db *DB) ScanAudit(ctx context.Context, fn func(audit.Record) error) (audit.Head, error) {
	var head audit.Head
	if err := db.sealFirst(ctx); err != nil {
		return head, err
	}
	err := db.inSnapshot(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, "SELECT seq, hash FROM audit_head WHERE id = 1").Scan(&head.Seq, &head.Hash); err != nil {
			return fmt.Errorf("read audit head: %w", err)
		}
		rows, err := tx.QueryContext(ctx, "SELECT "+auditColumns+" FROM audit_records ORDER BY seq")
		if err != nil {
			return fmt.Errorf("read audit records: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanAudit(rows)
			if err != nil {
				return err
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	return head, err
}

// AuditAbout returns the records whose actor or target is userID, in order.
func (db *DB) AuditAbout(ctx context.Context, userID string) ([]audit.Record, error) {
	if err := db.sealFirst(ctx); err != nil {
		return nil, err
	}
	rows, err := db.sql.QueryContext(ctx, "SELECT "+auditColumns+" FROM audit_records WHERE actor = $1 OR target = $1 ORDER BY seq", userID)
	if err != nil {
		return nil, fmt.Errorf("read audit records: %w", err)
	}
	defer rows.Close()
	out := []audit.Record{}
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

const auditColumns = "seq, at, actor, action, target, outcome, ip, request_id, detail, prev_hash, hash"

func scanAudit(row rowScanner) (audit.Record, error) {
	var r audit.Record
	var at int64
	if err := row.Scan(&r.Seq, &at, &r.Actor, &r.Action, &r.Target, &r.Outcome, &r.IP, &r.RequestID, &r.Detail, &r.PrevHash, &r.Hash); err != nil {
		return audit.Record{}, fmt.Errorf("scan audit record: %w", err)
	}
	r.Time = fromMicros(at)
	return r, nil
}

// LastAuditRecord returns the latest record of action (audit.ErrNoRecord).
func (db *DB) LastAuditRecord(ctx context.Context, action string) (audit.Record, error) {
	if err := db.sealFirst(ctx); err != nil {
		return audit.Record{}, err
	}
	r, err := scanAudit(db.sql.QueryRowContext(ctx, "SELECT "+auditColumns+" FROM audit_records WHERE action = $1 ORDER BY seq DESC LIMIT 1", action))
	if errors.Is(err, sql.ErrNoRows) {
		return audit.Record{}, audit.ErrNoRecord
	}
	return r, err
}
