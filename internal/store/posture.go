package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/posture"
)

// ErrNoPostureRun is a history without runs.
var ErrNoPostureRun = errors.New("no posture run yet")

// SavePostureRun keeps run id of r, made by instance, and deletes the
// runs older than keep.
func (db *DB) SavePostureRun(ctx context.Context, id, instance string, r posture.Report, keep time.Duration) error {
	summary, err := json.Marshal(r.Summarize())
	if err != nil {
		return fmt.Errorf("encode posture summary: %w", err)
	}
	report, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode posture report: %w", err)
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO posture_runs (id, run_at, instance, summary, report) VALUES ($1, $2, $3, $4, $5)`,
			id, micros(r.RunAt), instance, string(summary), string(report)); err != nil {
			return fmt.Errorf("insert posture run: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM posture_runs WHERE run_at < $1`, micros(r.RunAt.Add(-keep))); err != nil {
			return fmt.Errorf("delete old posture runs: %w", err)
		}
		return nil
	})
}

// LatestPostureRun returns the newest run's report: ErrNoPostureRun.
func (db *DB) LatestPostureRun(ctx context.Context) (posture.Report, error) {
	var r posture.Report
	err := db.latestReport(ctx, `SELECT report FROM posture_runs ORDER BY run_at DESC, id DESC LIMIT 1`, "posture run", ErrNoPostureRun, &r)
	return r, err
}

// latestReport decodes the JSON report the query q returns into v: none
// is errNone.
func (db *DB) latestReport(ctx context.Context, q, what string, errNone error, v any, args ...any) error {
	var text string
	err := db.sql.QueryRowContext(ctx, q, args...).Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return errNone
	}
	if err != nil {
		return fmt.Errorf("read the latest %s: %w", what, err)
	}
	if err := json.Unmarshal([]byte(text), v); err != nil {
		return fmt.Errorf("decode %s: %w", what, err)
	}
	return nil
}

// PostureHistory returns the summaries of the newest limit runs, newest
// first.
func (db *DB) PostureHistory(ctx context.Context, limit int) ([]posture.Summary, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT summary FROM posture_runs ORDER BY run_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list posture runs: %w", err)
	}
	defer rows.Close()
	out := []posture.Summary{}
	for rows.Next() {
		var text string
		var s posture.Summary
		if err := rows.Scan(&text); err != nil {
			return nil, fmt.Errorf("list posture runs: %w", err)
		}
		if err := json.Unmarshal([]byte(text), &s); err != nil {
			return nil, fmt.Errorf("decode posture summary: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// StaffAccounts lists the accounts holding a role beyond customer, for
// posture: their roles, whether they have a second factor (a confirmed
// TOTP or a passkey) and when they were last active (their newest
// session's last use, or the account's creation when they never signed in).
// The posture probe's transient accounts (identity.ProbeStaffGate) are not
// listed: the probe of the gate must not fail the check of the accounts.
func (db *DB) StaffAccounts(ctx context.Context) ([]posture.StaffAccount, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT u.id, r.role, u.created_at,
			EXISTS (SELECT 1 FROM mfa_totp t WHERE t.user_id = u.id AND t.confirmed = $2)
				OR EXISTS (SELECT 1 FROM passkeys p WHERE p.user_id = u.id),
			COALESCE((SELECT MAX(s.last_used_at) FROM sessions s WHERE s.user_id = u.id), 0)
		FROM users u JOIN user_roles r ON r.user_id = u.id
		WHERE r.role <> $1 AND substr(u.id, 1, $3) <> $4 ORDER BY u.id, r.role`,
		string(access.Customer), true, len(identity.ProbeUserPrefix), identity.ProbeUserPrefix)
	if err != nil {
		return nil, fmt.Errorf("list staff accounts: %w", err)
	}
	defer rows.Close()
	var out []posture.StaffAccount
	for rows.Next() {
		var a posture.StaffAccount
		var role string
		var created, used int64
		if err := rows.Scan(&a.ID, &role, &created, &a.MFA, &used); err != nil {
			return nil, fmt.Errorf("list staff accounts: %w", err)
		}
		if n := len(out); n > 0 && out[n-1].ID == a.ID {
			out[n-1].Roles = append(out[n-1].Roles, role)
			continue
		}
		a.Roles = []string{role}
		a.LastActive = fromMicros(max(created, used))
		out = append(out, a)
	}
	return out, rows.Err()
}

// DeleteProbeUsers deletes the probe account userID and every probe account
// created before before (identity.ProbeStaffGate), with their sessions and
// subject keys, appending rec when any went. Only ids with
// identity.ProbeUserPrefix are touched: the prefix is in the WHERE clause, not
// just in the caller.
func (db *DB) DeleteProbeUsers(ctx context.Context, userID string, before time.Time, rec audit.Record) (int, error) {
	var n int
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM users WHERE substr(id, 1, $1) = $2 AND (id = $3 OR created_at < $4)`,
			len(identity.ProbeUserPrefix), identity.ProbeUserPrefix, userID, micros(before))
		if err != nil {
			return fmt.Errorf("find probe accounts: %w", err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("find probe accounts: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("find probe accounts: %w", err)
		}
		for _, id := range ids {
			for _, q := range []string{
				"DELETE FROM sessions WHERE user_id = $1",
				"DELETE FROM user_roles WHERE user_id = $1",
				"DELETE FROM subject_keys WHERE subject_id = $1",
				"DELETE FROM users WHERE id = $1",
			} {
				if _, err := tx.ExecContext(ctx, q, id); err != nil {
					return fmt.Errorf("delete probe account %s: %w", id, err)
				}
			}
		}
		n = len(ids)
		if n == 0 {
			return nil
		}
		return appendAudit(ctx, tx, rec)
	})
	return n, err
}
