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
	"github.com/bulwark-shop/bulwark/internal/finding"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/threat"
	"github.com/bulwark-shop/bulwark/internal/webhook"
)

var _ threat.Store = (*DB)(nil)

const findingColumns = `id, type, severity, status, subject_kind, subject_id, first_seen, last_seen, count, evidence, response`

func scanFinding(row rowScanner) (finding.Finding, error) {
	var f finding.Finding
	var first, last int64
	var evidence string
	if err := row.Scan(&f.ID, &f.Type, &f.Severity, &f.Status, &f.Subject.Kind, &f.Subject.ID, &first, &last, &f.Count,
		&evidence, &f.Response); err != nil {
		return finding.Finding{}, err
	}
	f.FirstSeen, f.LastSeen = fromMicros(first), fromMicros(last)
	if err := json.Unmarshal([]byte(evidence), &f.Evidence); err != nil {
		return finding.Finding{}, fmt.Errorf("read evidence of finding %s: %w", f.ID, err)
	}
	return f, nil
}

// errRaceLost is an insert that another transaction's open finding of the
// same type and subject beat: the observation is merged into that one.
var errRaceLost = errors.New("another open finding was raised first")

// ObserveFinding implements threat.Store. The open finding is read and
// locked (FOR UPDATE on PostgreSQL; SQLite's one writer serialises), merged
// with finding.Merge and written back; with none, finding.Raise's is
// inserted, and the partial unique index findings_open refuses a second
// open one that a concurrent transaction raised first, in which case the
// observation is merged into that one instead.
func (db *DB) ObserveFinding(ctx context.Context, o finding.Observation) (finding.Finding, bool, error) {
	o.At = o.At.UTC().Truncate(time.Microsecond)
	for attempt := 0; ; attempt++ {
		f, raised, err := db.observeFinding(ctx, o)
		if errors.Is(err, errRaceLost) && attempt < 3 {
			continue
		}
		return f, raised, err
	}
}

func (db *DB) observeFinding(ctx context.Context, o finding.Observation) (finding.Finding, bool, error) {
	var f finding.Finding
	var raised bool
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		lock := ""
		if db.engine == Postgres {
			lock = " FOR UPDATE"
		}
		cur, err := scanFinding(tx.QueryRowContext(ctx, "SELECT "+findingColumns+` FROM findings
			WHERE type = $1 AND subject_kind = $2 AND subject_id = $3 AND status <> $4`+lock,
			o.Type, o.Subject.Kind, o.Subject.ID, finding.Resolved))
		switch {
		case err == nil:
			f = finding.Merge(cur, o)
			evidence, err := json.Marshal(f.Evidence)
			if err != nil {
				return fmt.Errorf("encode evidence: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE findings SET severity = $1, first_seen = $2, last_seen = $3, count = $4,
				evidence = $5, response = $6, updated_at = $7 WHERE id = $8`,
				f.Severity, micros(f.FirstSeen), micros(f.LastSeen), f.Count, string(evidence), f.Response, micros(o.At), f.ID); err != nil {
				return fmt.Errorf("update finding %s: %w", f.ID, err)
			}
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("read open finding: %w", err)
		}
		f, raised = finding.Raise(id.New(id.Finding), o), true
		if f.Evidence == nil {
			f.Evidence = map[string]string{}
		}
		evidence, err := json.Marshal(f.Evidence)
		if err != nil {
			return fmt.Errorf("encode evidence: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO findings (id, type, severity, status, subject_kind, subject_id, first_seen,
			last_seen, count, evidence, response, detection_point, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			f.ID, f.Type, f.Severity, f.Status, f.Subject.Kind, f.Subject.ID, micros(f.FirstSeen), micros(f.LastSeen), f.Count,
			string(evidence), f.Response, f.Type.DetectionPoint(), micros(o.At)); err != nil {
			if isUniqueViolation(err) {
				return errRaceLost
			}
			return fmt.Errorf("insert finding: %w", err)
		}
		if o.AlertFrom > 0 && f.Alerts(o.AlertFrom) {
			// The alert webhook commits with the finding, or not at all.
			return emitEvent(ctx, tx, webhook.FindingRaised, o.At, webhook.FindingData{ID: f.ID, Type: string(f.Type),
				Severity: f.Severity, SubjectKind: string(f.Subject.Kind), SubjectID: f.Subject.ID, FirstSeen: f.FirstSeen,
				Count: f.Count, DetectionPoint: f.Type.DetectionPoint(), Evidence: f.Evidence})
		}
		return nil
	})
	if err != nil {
		return finding.Finding{}, false, err
	}
	return f, raised, nil
}

// Findings implements threat.Store: newest first by first sighting, then id.
func (db *DB) Findings(ctx context.Context, q finding.Query) ([]finding.Finding, bool, error) {
	// Only the filters given are in the statement (every value a
	// parameter), not "($n = '' OR col = $n)" for each: that form keeps the
	// engines from using an index for the filters that are given.
	var conds []string
	var args []any
	where := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "$?", fmt.Sprintf("$%d", len(args))))
	}
	if q.Status != "" {
		where("status = $?", string(q.Status))
	}
	if q.Type != "" {
		where("type = $?", string(q.Type))
	}
	if q.SeverityMin > 0 {
		where("severity >= $?", q.SeverityMin)
	}
	if q.Subject.Kind != "" {
		where("subject_kind = $?", string(q.Subject.Kind))
	}
	if q.Subject.ID != "" {
		where("subject_id = $?", q.Subject.ID)
	}
	if q.After != "" {
		where(`(first_seen < (SELECT first_seen FROM findings WHERE id = $?)
			OR (first_seen = (SELECT first_seen FROM findings WHERE id = $?) AND id < $?))`, q.After)
	}
	filter := ""
	if len(conds) > 0 {
		filter = " WHERE " + strings.Join(conds, " AND ")
	}
	args = append(args, q.Limit+1)
	rows, err := db.sql.QueryContext(ctx, "SELECT "+findingColumns+" FROM findings"+filter+
		fmt.Sprintf(" ORDER BY first_seen DESC, id DESC LIMIT $%d", len(args)), args...)
	if err != nil {
		return nil, false, fmt.Errorf("list findings: %w", err)
	}
	defer rows.Close()
	out := []finding.Finding{}
	for rows.Next() {
		f, err := scanFinding(rows)
		if err != nil {
			return nil, false, fmt.Errorf("scan finding: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("list findings: %w", err)
	}
	if len(out) > q.Limit {
		return out[:q.Limit], true, nil
	}
	return out, false, nil
}

// Finding implements threat.Store.
func (db *DB) Finding(ctx context.Context, findingID string) (finding.Finding, error) {
	f, err := scanFinding(db.sql.QueryRowContext(ctx, "SELECT "+findingColumns+" FROM findings WHERE id = $1", findingID))
	if errors.Is(err, sql.ErrNoRows) {
		return finding.Finding{}, threat.ErrNotFound
	}
	if err != nil {
		return finding.Finding{}, fmt.Errorf("read finding %s: %w", findingID, err)
	}
	return f, nil
}

// SetFindingStatus implements threat.Store; the finding's row is locked
// while finding.Next decides, so two staff acting at once are ordered.
func (db *DB) SetFindingStatus(ctx context.Context, findingID string, to finding.Status, at time.Time, rec audit.Record) (finding.Finding, error) {
	var f finding.Finding
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		lock := ""
		if db.engine == Postgres {
			lock = " FOR UPDATE"
		}
		var err error
		f, err = scanFinding(tx.QueryRowContext(ctx, "SELECT "+findingColumns+" FROM findings WHERE id = $1"+lock, findingID))
		if errors.Is(err, sql.ErrNoRows) {
			return threat.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("read finding %s: %w", findingID, err)
		}
		next, err := finding.Next(f.Status, to)
		if err != nil || next == f.Status {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE findings SET status = $1, updated_at = $2 WHERE id = $3", next, micros(at), findingID); err != nil {
			return fmt.Errorf("set status of finding %s: %w", findingID, err)
		}
		rec.Detail = fmt.Sprintf("%s (was %s)", rec.Detail, f.Status)
		f.Status = next
		return appendAudit(ctx, tx, rec)
	})
	return f, err
}
