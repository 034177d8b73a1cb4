package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/finding"
	"github.com/bulwark-shop/bulwark/internal/response"
)

var _ response.Store = (*DB)(nil)

const responseBlockColumns = `id, subject_kind, subject_id, action, finding_id, created_at, expires_at, lifted_at, lifted_by, repeat_count`

func scanResponseBlock(row rowScanner) (response.Block, error) {
	var b response.Block
	var created, expires, lifted int64
	if err := row.Scan(&b.ID, &b.Subject.Kind, &b.Subject.ID, &b.Action, &b.FindingID, &created, &expires, &lifted,
		&b.LiftedBy, &b.Repeat); err != nil {
		return response.Block{}, err
	}
	b.CreatedAt, b.ExpiresAt = fromMicros(created), fromMicros(expires)
	if lifted != 0 {
		t := fromMicros(lifted)
		b.LiftedAt = &t
	}
	return b, nil
}

// RecordBlock implements response.Store.
func (db *DB) RecordBlock(ctx context.Context, b response.Block) error {
	if _, err := db.sql.ExecContext(ctx, `INSERT INTO response_blocks (id, subject_kind, subject_id, action, finding_id,
		created_at, expires_at, repeat_count) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		b.ID, b.Subject.Kind, b.Subject.ID, b.Action, b.FindingID, micros(b.CreatedAt), micros(b.ExpiresAt), b.Repeat); err != nil {
		return fmt.Errorf("record block %s: %w", b.ID, err)
	}
	return nil
}

// BlockCount implements response.Store: lifted blocks count too (a lift
// says the block is no longer needed, not that it was never deserved).
func (db *DB) BlockCount(ctx context.Context, s finding.Subject, since time.Time) (int, error) {
	var n int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM response_blocks WHERE subject_kind = $1 AND subject_id = $2
		AND created_at >= $3`, s.Kind, s.ID, micros(since)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count blocks of %s: %w", s, err)
	}
	return n, nil
}

// BlockInForce implements response.Store.
func (db *DB) BlockInForce(ctx context.Context, s finding.Subject, now time.Time) (bool, error) {
	var n int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM response_blocks WHERE subject_kind = $1 AND subject_id = $2
		AND expires_at > $3 AND lifted_at = 0`, s.Kind, s.ID, micros(now)).Scan(&n); err != nil {
		return false, fmt.Errorf("read blocks of %s: %w", s, err)
	}
	return n > 0, nil
}

// ActiveBlocks implements response.Store.
func (db *DB) ActiveBlocks(ctx context.Context, now time.Time, limit int) ([]response.Block, error) {
	rows, err := db.sql.QueryContext(ctx, "SELECT "+responseBlockColumns+` FROM response_blocks
		WHERE expires_at > $1 AND lifted_at = 0 ORDER BY expires_at DESC, id DESC LIMIT $2`, micros(now), limit)
	if err != nil {
		return nil, fmt.Errorf("list blocks in force: %w", err)
	}
	defer rows.Close()
	out := []response.Block{}
	for rows.Next() {
		b, err := scanResponseBlock(rows)
		if err != nil {
			return nil, fmt.Errorf("scan block: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list blocks in force: %w", err)
	}
	return out, nil
}

// ResponseBlock returns one block: response.ErrNoBlock.
func (db *DB) ResponseBlock(ctx context.Context, blockID string) (response.Block, error) {
	b, err := scanResponseBlock(db.sql.QueryRowContext(ctx, "SELECT "+responseBlockColumns+" FROM response_blocks WHERE id = $1", blockID))
	if errors.Is(err, sql.ErrNoRows) {
		return response.Block{}, response.ErrNoBlock
	}
	if err != nil {
		return response.Block{}, fmt.Errorf("read block %s: %w", blockID, err)
	}
	return b, nil
}

// LiftResponseBlock ends a block in force early, recorded with by and rec
// in one transaction: response.ErrNoBlock for an id that names no block,
// response.ErrNotInForce for one that expired or was lifted already
// (nothing changes then).
func (db *DB) LiftResponseBlock(ctx context.Context, blockID, by string, at time.Time, rec audit.Record) (response.Block, error) {
	var b response.Block
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		lock := ""
		if db.engine == Postgres {
			lock = " FOR UPDATE"
		}
		var err error
		b, err = scanResponseBlock(tx.QueryRowContext(ctx, "SELECT "+responseBlockColumns+" FROM response_blocks WHERE id = $1"+lock, blockID))
		if errors.Is(err, sql.ErrNoRows) {
			return response.ErrNoBlock
		}
		if err != nil {
			return fmt.Errorf("read block %s: %w", blockID, err)
		}
		if !b.Active(at) {
			return response.ErrNotInForce
		}
		if _, err := tx.ExecContext(ctx, "UPDATE response_blocks SET lifted_at = $1, lifted_by = $2 WHERE id = $3",
			micros(at), by, blockID); err != nil {
			return fmt.Errorf("lift block %s: %w", blockID, err)
		}
		t := at.UTC()
		b.LiftedAt, b.LiftedBy = &t, by
		return appendAudit(ctx, tx, rec)
	})
	return b, err
}

// SetFindingResponse implements response.Store.
func (db *DB) SetFindingResponse(ctx context.Context, findingID, r string) error {
	if _, err := db.sql.ExecContext(ctx, "UPDATE findings SET response = $1 WHERE id = $2", r, findingID); err != nil {
		return fmt.Errorf("set response of finding %s: %w", findingID, err)
	}
	return nil
}

// LiftResponseBlocksOf marks every block of subject in force lifted by by:
// the record's side of a lift made elsewhere (the edge's block list, whose
// lift is audited there), so the subject's next finding is acted on again.
func (db *DB) LiftResponseBlocksOf(ctx context.Context, s finding.Subject, by string, at time.Time) error {
	if _, err := db.sql.ExecContext(ctx, `UPDATE response_blocks SET lifted_at = $1, lifted_by = $2
		WHERE subject_kind = $3 AND subject_id = $4 AND lifted_at = 0 AND expires_at > $1`, micros(at), by, s.Kind, s.ID); err != nil {
		return fmt.Errorf("lift blocks of %s: %w", s, err)
	}
	return nil
}
