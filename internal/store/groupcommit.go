package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// groupCommit batches the transactions of concurrent writers on SQLite's one
// write connection into one commit, and so into one fsync under
// synchronous=FULL: with 32 checkouts in flight, a commit per transaction made
// the disk's fsync rate the shop's checkout rate.
//
// Each writer runs its function inside a savepoint of the open batch, holding
// mu, so writers still run one at a time and in order, as on a single
// connection: each sees everything written before it, committed or not. A
// function that fails is rolled back to its savepoint and leaves the batch
// untouched. The writer that finds nobody queued behind it (or the batch full,
// or open too long) commits; everyone in the batch is answered only after that
// commit, with its outcome, so nothing is acknowledged before it is durable, and
// a writer whose answer was built on a batch-mate's uncommitted write learns
// when that write did not commit. A batch that cannot commit (the disk full, an
// I/O error, a statement interrupted by a cancelled context, which rolls the
// whole transaction back) fails every member, none of whose writes persisted.
type groupCommit struct {
	pool *sql.DB // SQLite's write pool, of one connection
	// A batch commits once it holds maxBatch functions or has been open
	// maxOpen, even with writers queued (see the constants of that name).
	maxBatch int
	maxOpen  time.Duration

	waiting atomic.Int32 // writers queued on mu
	mu      sync.Mutex
	tx      *sql.Tx // the open batch; nil between batches
	cur     *batch

	commits atomic.Int64 // batches committed
	members atomic.Int64 // functions committed in them
}

// batch is one commit's members' shared outcome.
type batch struct {
	done   chan struct{} // closed once err is set
	err    error
	opened time.Time
	n      int // functions run in it
	writes int // of which succeeded
}

// A batch is committed once this many functions ran in it, or once it has been
// open this long, even with writers queued: each member's latency includes
// every function of its batch run before the commit.
const (
	maxBatch     = 64
	maxBatchOpen = 20 * time.Millisecond
)

// savepoint names each member's savepoint: members run one at a time, so one
// name serves.
const savepoint = "bulwark_member"

func newGroupCommit(pool *sql.DB) *groupCommit {
	return &groupCommit{pool: pool, maxBatch: maxBatch, maxOpen: maxBatchOpen}
}

// run runs fn in the open batch (or a new one) and returns once the batch's
// commit is known: fn's own error if it failed and the batch committed, the
// batch's error if the batch failed, nil if fn's writes are durable.
func (g *groupCommit) run(ctx context.Context, fn func(*sql.Tx) error) (err error) {
	g.waiting.Add(1)
	g.mu.Lock()
	g.waiting.Add(-1)
	if err := ctx.Err(); err != nil {
		g.leave()
		return err
	}
	if g.tx == nil {
		// Not the caller's context: the batch outlives each member, and
		// database/sql rolls a transaction back when its context ends.
		tx, err := g.pool.BeginTx(context.Background(), nil)
		if err != nil {
			g.mu.Unlock()
			return fmt.Errorf("begin: %w", err)
		}
		g.tx, g.cur = tx, &batch{done: make(chan struct{}), opened: time.Now()}
	}
	b, tx := g.cur, g.tx
	b.n++
	ferr := g.member(tx, fn)
	if ferr == nil {
		b.writes++
	}
	g.leave()
	<-b.done
	if b.err != nil {
		return b.err
	}
	return ferr
}

// member runs fn in a savepoint of tx, rolling it back if fn fails. When the
// savepoint cannot be released or rolled back, the transaction is gone (SQLite
// rolls a whole transaction back on some errors): the batch fails.
func (g *groupCommit) member(tx *sql.Tx, fn func(*sql.Tx) error) error {
	defer func() {
		if p := recover(); p != nil {
			g.fail(fmt.Errorf("a transaction of its batch panicked: %v", p))
			g.mu.Unlock()
			panic(p)
		}
	}()
	if _, err := tx.Exec("SAVEPOINT " + savepoint); err != nil {
		g.fail(fmt.Errorf("savepoint: %w", err))
		return err
	}
	ferr := fn(tx)
	if ferr != nil {
		if _, err := tx.Exec("ROLLBACK TO " + savepoint); err != nil {
			g.fail(fmt.Errorf("roll back a failed transaction within its batch: %w (after %w)", err, ferr))
			return ferr
		}
	}
	if _, err := tx.Exec("RELEASE " + savepoint); err != nil {
		g.fail(fmt.Errorf("release savepoint: %w", err))
	}
	return ferr
}

// leave ends the caller's turn: it commits the batch if nobody is queued to
// join it or it is full, and unlocks mu. Called with mu held.
func (g *groupCommit) leave() {
	defer g.mu.Unlock()
	if g.tx == nil {
		return
	}
	b := g.cur
	if g.waiting.Load() > 0 && b.n < g.maxBatch && time.Since(b.opened) < g.maxOpen {
		return // the next writer runs in this batch and commits it, or leaves it to the one after
	}
	if b.writes == 0 {
		// Nothing to make durable: every member failed and was rolled back.
		_ = g.tx.Rollback()
		g.finish(nil)
		return
	}
	if err := g.tx.Commit(); err != nil {
		g.finish(fmt.Errorf("commit: %w", err))
		return
	}
	g.commits.Add(1)
	g.members.Add(int64(b.writes))
	g.finish(nil)
}

// fail rolls the open batch back and answers its members with err. Called
// with mu held; leave then finds no batch.
func (g *groupCommit) fail(err error) {
	if g.tx == nil {
		return
	}
	_ = g.tx.Rollback()
	g.finish(fmt.Errorf("batch of %d transactions rolled back: %w", g.cur.n, err))
}

func (g *groupCommit) finish(err error) {
	g.cur.err = err
	close(g.cur.done)
	g.tx, g.cur = nil, nil
}

// CommitStats says how many commits the database made through its write
// batches and how many transactions they held: on SQLite, their ratio is the
// transactions each fsync made durable. Zero on PostgreSQL, whose writers
// commit on connections of their own.
type CommitStats struct {
	Commits      int64
	Transactions int64
}

// CommitStats reports the commits made so far (see CommitStats).
func (db *DB) CommitStats() CommitStats {
	if db.group == nil {
		return CommitStats{}
	}
	return CommitStats{Commits: db.group.commits.Load(), Transactions: db.group.members.Load()}
}
