package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/bulwark-shop/bulwark/internal/edge"
)

// EdgeBlocks keeps the edge's dynamic blocks in the shop database (table
// edge_blocks), for a shop without Redis: the CLI and every instance on the
// same database see the same blocks. A request's check reads a copy of the
// blocks in force that is at most blockCacheAge old, so the check costs no
// query per request, and a block or lift made elsewhere (the CLI, another
// instance) takes effect within that time; one made here, at once.
type EdgeBlocks struct {
	db  *DB
	now func() time.Time

	mu     sync.Mutex
	loaded time.Time
	cache  map[netip.Addr]time.Time
}

var _ edge.Blocks = (*EdgeBlocks)(nil)

// blockCacheAge is how stale the copy of the blocks a check reads may be.
const blockCacheAge = time.Second

// maxBlocksLoaded bounds the copy: beyond it (a trap sprung from that many
// addresses) the latest-ending blocks are kept.
const maxBlocksLoaded = 100_000

// NewEdgeBlocks returns the block list in db on the clock now.
func NewEdgeBlocks(db *DB, now func() time.Time) *EdgeBlocks { return &EdgeBlocks{db: db, now: now} }

// Block refuses a until until for reason, unless a later block is in force.
func (b *EdgeBlocks) Block(ctx context.Context, a netip.Addr, until time.Time, reason string) error {
	now := b.now()
	err := b.db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM edge_blocks WHERE until_at <= $1", micros(now)); err != nil {
			return fmt.Errorf("forget ended blocks: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO edge_blocks (address, until_at, reason, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (address) DO UPDATE SET until_at = excluded.until_at, reason = excluded.reason, created_at = excluded.created_at
			WHERE edge_blocks.until_at < excluded.until_at`, a.String(), micros(until), reason, micros(now)); err != nil {
			return fmt.Errorf("insert block: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	b.mu.Lock()
	if b.cache != nil && until.After(b.cache[a]) {
		b.cache[a] = until
	}
	b.mu.Unlock()
	return nil
}

// Blocked reports whether a is blocked now, from a copy at most blockCacheAge old.
func (b *EdgeBlocks) Blocked(ctx context.Context, a netip.Addr) (bool, error) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cache == nil || now.Sub(b.loaded) >= blockCacheAge || now.Before(b.loaded) {
		cache, err := b.load(ctx, now)
		// Loaded or not, the next load is blockCacheAge away: with the
		// database down, one request in that time waits for it and reports
		// the error, the others use the last copy.
		b.loaded = now
		if err != nil {
			if b.cache == nil {
				b.cache = map[netip.Addr]time.Time{}
			}
			return false, err
		}
		b.cache = cache
	}
	return b.cache[a].After(now), nil
}

func (b *EdgeBlocks) load(ctx context.Context, now time.Time) (map[netip.Addr]time.Time, error) {
	rows, err := b.db.sql.QueryContext(ctx, "SELECT address, until_at FROM edge_blocks WHERE until_at > $1 ORDER BY until_at DESC LIMIT $2",
		micros(now), maxBlocksLoaded)
	if err != nil {
		return nil, fmt.Errorf("load blocks: %w", err)
	}
	defer rows.Close()
	out := map[netip.Addr]time.Time{}
	for rows.Next() {
		var addr string
		var until int64
		if err := rows.Scan(&addr, &until); err != nil {
			return nil, fmt.Errorf("load blocks: %w", err)
		}
		if a, err := netip.ParseAddr(addr); err == nil {
			out[a] = fromMicros(until)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load blocks: %w", err)
	}
	return out, nil
}

// List returns the blocks in force, from the database.
func (b *EdgeBlocks) List(ctx context.Context) ([]edge.Block, error) {
	rows, err := b.db.sql.QueryContext(ctx, "SELECT address, until_at, reason FROM edge_blocks WHERE until_at > $1", micros(b.now()))
	if err != nil {
		return nil, fmt.Errorf("list blocks: %w", err)
	}
	defer rows.Close()
	var out []edge.Block
	for rows.Next() {
		var addr, reason string
		var until int64
		if err := rows.Scan(&addr, &until, &reason); err != nil {
			return nil, fmt.Errorf("list blocks: %w", err)
		}
		a, err := netip.ParseAddr(addr)
		if err != nil {
			continue
		}
		out = append(out, edge.Block{ID: edge.BlockID(a), Address: a.String(), Until: fromMicros(until), Reason: reason})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list blocks: %w", err)
	}
	return out, nil
}

// Lift ends a's block; it reports whether one was in force.
func (b *EdgeBlocks) Lift(ctx context.Context, a netip.Addr) (bool, error) {
	now := b.now()
	res, err := b.db.sql.ExecContext(ctx, "DELETE FROM edge_blocks WHERE address = $1 AND until_at > $2", a.String(), micros(now))
	if err != nil {
		return false, fmt.Errorf("lift block: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("lift block: %w", err)
	}
	b.mu.Lock()
	delete(b.cache, a)
	b.mu.Unlock()
	return n > 0, nil
}
