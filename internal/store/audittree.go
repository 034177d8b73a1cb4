package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/webhook"
	"github.com/transparency-dev/merkle/compact"
)

// auditTreeRow reads the integrated tree through q (locking it when q is an
// UPDATE ... RETURNING).
func auditTreeRow(ctx context.Context, row *sql.Row) (audit.Tree, error) {
	var t audit.Tree
	var size int64
	var root string
	if err := row.Scan(&size, &root, &t.LastHash); err != nil {
		return audit.Tree{}, fmt.Errorf("read audit tree: %w", err)
	}
	b, err := hex.DecodeString(root)
	if err != nil {
		return audit.Tree{}, fmt.Errorf("read audit tree: root is not hex: %w", err)
	}
	t.Size, t.Root = uint64(size), b
	return t, nil
}

// AuditTree returns how far the trail is integrated into its Merkle tree.
func (db *DB) AuditTree(ctx context.Context) (audit.Tree, error) {
	return auditTreeRow(ctx, db.sql.QueryRowContext(ctx, "SELECT size, root, last_hash FROM audit_tree WHERE id = 1"))
}

// AuditBacklog is how many records are not integrated into the tree yet.
func (db *DB) AuditBacklog(ctx context.Context) (int64, error) {
	if err := db.sealFirst(ctx); err != nil {
		return 0, err
	}
	var n int64
	err := db.sql.QueryRowContext(ctx, "SELECT h.seq - t.size FROM audit_head h, audit_tree t WHERE h.id = 1 AND t.id = 1").Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("read audit backlog: %w", err)
	}
	return n, nil
}

// IntegrateAudit appends up to limit records that follow the tree to it,
// storing the new nodes and the new size in one transaction, and returns
// the tree after it with how many records it took. The tree's row is
// locked first, so instances integrating at once take turns and never
// store a node twice. A record that does not follow the chain is an
// *audit.BrokenError and nothing is written.
func (db *DB) IntegrateAudit(ctx context.Context, limit int) (audit.Tree, int, error) {
	if err := db.sealFirst(ctx); err != nil {
		return audit.Tree{}, 0, err
	}
	var out audit.Tree
	var took int
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		t, err := auditTreeRow(ctx, tx.QueryRowContext(ctx, "UPDATE audit_tree SET size = size WHERE id = 1 RETURNING size, root, last_hash"))
		if err != nil {
			return err
		}
		out = t
		rows, err := tx.QueryContext(ctx, "SELECT "+auditColumns+" FROM audit_records WHERE seq > $1 ORDER BY seq LIMIT $2", int64(t.Size), limit)
		if err != nil {
			return fmt.Errorf("read audit records to integrate: %w", err)
		}
		var recs []audit.Record
		for rows.Next() {
			r, err := scanAudit(rows)
			if err != nil {
				rows.Close()
				return err
			}
			recs = append(recs, r)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("read audit records to integrate: %w", err)
		}
		if len(recs) == 0 {
			return nil
		}
		in, err := audit.Integrate(ctx, t, txNodes(tx), recs)
		if err != nil {
			return err
		}
		if err := insertAuditNodes(ctx, tx, in.Nodes); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE audit_tree SET size = $1, root = $2, last_hash = $3 WHERE id = 1",
			int64(in.Tree.Size), hex.EncodeToString(in.Tree.Root), in.Tree.LastHash); err != nil {
			return fmt.Errorf("advance audit tree: %w", err)
		}
		out, took = in.Tree, len(recs)
		return nil
	})
	if err != nil {
		return audit.Tree{}, 0, err
	}
	return out, took, nil
}

// nodesPerInsert keeps one INSERT's parameters (three a node) well under
// both engines' limits.
const nodesPerInsert = 300

func insertAuditNodes(ctx context.Context, tx *sql.Tx, nodes []audit.Node) error {
	for len(nodes) > 0 {
		n := min(len(nodes), nodesPerInsert)
		var q strings.Builder
		q.WriteString("INSERT INTO audit_nodes (level, idx, hash) VALUES ")
		args := make([]any, 0, 3*n)
		for i, nd := range nodes[:n] {
			if i > 0 {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "($%d, $%d, $%d)", 3*i+1, 3*i+2, 3*i+3)
			args = append(args, int(nd.ID.Level), int64(nd.ID.Index), hex.EncodeToString(nd.Hash))
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("store audit tree nodes: %w", err)
		}
		nodes = nodes[n:]
	}
	return nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// readNodes reads the nodes ids through q, a few hundred a query; a node
// not stored is an error.
func readNodes(ctx context.Context, q querier, ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for start := 0; start < len(ids); start += nodesPerInsert {
		batch := ids[start:min(len(ids), start+nodesPerInsert)]
		var sb strings.Builder
		sb.WriteString("SELECT level, idx, hash FROM audit_nodes WHERE (level, idx) IN (VALUES ")
		args := make([]any, 0, 2*len(batch))
		at := make(map[compact.NodeID][]int, len(batch))
		for i, id := range batch {
			if i > 0 {
				sb.WriteString(", ")
			}
			fmt.Fprintf(&sb, "(CAST($%d AS INTEGER), CAST($%d AS BIGINT))", 2*i+1, 2*i+2)
			args = append(args, int(id.Level), int64(id.Index))
			at[id] = append(at[id], start+i)
		}
		sb.WriteString(")")
		rows, err := q.QueryContext(ctx, sb.String(), args...)
		if err != nil {
			return nil, fmt.Errorf("read audit tree nodes: %w", err)
		}
		for rows.Next() {
			var level int
			var idx int64
			var h string
			if err := rows.Scan(&level, &idx, &h); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read audit tree nodes: %w", err)
			}
			b, err := hex.DecodeString(h)
			if err != nil || len(b) != 32 {
				rows.Close()
				return nil, fmt.Errorf("audit tree node %d/%d is not a SHA-256 in hex", level, idx)
			}
			for _, i := range at[compact.NewNodeID(uint(level), uint64(idx))] {
				out[i] = b
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, fmt.Errorf("read audit tree nodes: %w", err)
		}
	}
	for i, h := range out {
		if h == nil {
			return nil, fmt.Errorf("audit tree node %d/%d is missing", ids[i].Level, ids[i].Index)
		}
	}
	return out, nil
}

func txNodes(tx *sql.Tx) audit.NodeReader {
	return func(ctx context.Context, ids []compact.NodeID) ([][]byte, error) { return readNodes(ctx, tx, ids) }
}

// AuditNodes implements audit.NodeReader over the stored tree. Nodes are
// written once, so no snapshot is needed to read a proof's.
func (db *DB) AuditNodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	return readNodes(ctx, db.sql, ids)
}

// SaveAuditCheckpoint keeps a signed checkpoint for the API; one of a size
// already kept is left as it is.
func (db *DB) SaveAuditCheckpoint(ctx context.Context, cp audit.Checkpoint) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO audit_checkpoints (size, root, signed_at, note) VALUES ($1, $2, $3, $4)
			ON CONFLICT (size) DO NOTHING`, int64(cp.Size), hex.EncodeToString(cp.Root), micros(cp.At), string(cp.Note))
		if err != nil {
			return fmt.Errorf("keep audit checkpoint %d: %w", cp.Size, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // another instance kept (and pushed) this size
		}
		// Pushed to the endpoints subscribed to audit.checkpoint with the
		// copy kept: out of reach of whoever later rewrites the database.
		return emitEvent(ctx, tx, webhook.AuditCheckpoint, cp.At, webhook.CheckpointData{Size: cp.Size,
			Root: base64.StdEncoding.EncodeToString(cp.Root), Note: string(cp.Note), SignedAt: cp.At.UTC()})
	})
}

// LatestAuditCheckpoint returns the checkpoint of the largest size kept.
func (db *DB) LatestAuditCheckpoint(ctx context.Context) (audit.Checkpoint, error) {
	return scanCheckpoint(db.sql.QueryRowContext(ctx, "SELECT size, root, signed_at, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1"))
}

// AuditCheckpoint returns the checkpoint of size.
func (db *DB) AuditCheckpoint(ctx context.Context, size uint64) (audit.Checkpoint, error) {
	return scanCheckpoint(db.sql.QueryRowContext(ctx, "SELECT size, root, signed_at, note FROM audit_checkpoints WHERE size = $1", int64(size)))
}

func scanCheckpoint(row *sql.Row) (audit.Checkpoint, error) {
	var size, at int64
	var root, note string
	err := row.Scan(&size, &root, &at, &note)
	if errors.Is(err, sql.ErrNoRows) {
		return audit.Checkpoint{}, audit.ErrNoCheckpoint
	}
	if err != nil {
		return audit.Checkpoint{}, fmt.Errorf("read audit checkpoint: %w", err)
	}
	b, err := hex.DecodeString(root)
	if err != nil {
		return audit.Checkpoint{}, fmt.Errorf("read audit checkpoint %d: root is not hex", size)
	}
	return audit.Checkpoint{Size: uint64(size), Root: b, At: fromMicros(at), Note: []byte(note)}, nil
}

// AuditRecord returns the record seq (audit.ErrNoRecord).
func (db *DB) AuditRecord(ctx context.Context, seq int64) (audit.Record, error) {
	if err := db.sealFirst(ctx); err != nil {
		return audit.Record{}, err
	}
	r, err := scanAudit(db.sql.QueryRowContext(ctx, "SELECT "+auditColumns+" FROM audit_records WHERE seq = $1", seq))
	if errors.Is(err, sql.ErrNoRows) {
		return audit.Record{}, audit.ErrNoRecord
	}
	return r, err
}

// AuditRecords returns the records q selects in sequence order, and
// whether there are more.
func (db *DB) AuditRecords(ctx context.Context, q audit.Query) ([]audit.Record, bool, error) {
	if err := db.sealFirst(ctx); err != nil {
		return nil, false, err
	}
	where := []string{"seq > $1"}
	args := []any{q.After}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if q.Actor != "" {
		add("actor = $%d", q.Actor)
	}
	if q.Action != "" {
		add("action = $%d", q.Action)
	}
	if q.Target != "" {
		add("target = $%d", q.Target)
	}
	if !q.Since.IsZero() {
		add("at >= $%d", micros(q.Since))
	}
	if !q.Until.IsZero() {
		add("at < $%d", micros(q.Until))
	}
	args = append(args, q.Limit+1)
	rows, err := db.sql.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM audit_records WHERE %s ORDER BY seq LIMIT $%d",
		auditColumns, strings.Join(where, " AND "), len(args)), args...)
	if err != nil {
		return nil, false, fmt.Errorf("read audit records: %w", err)
	}
	defer rows.Close()
	out := []audit.Record{}
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return nil, false, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("read audit records: %w", err)
	}
	more := len(out) > q.Limit
	if more {
		out = out[:q.Limit]
	}
	return out, more, nil
}
