package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
)

// On PostgreSQL an audited write does not seal its record into the chain in
// its own transaction: sealing needs the chain's head row, and a transaction
// holds a row lock until its commit is on disk, so every audited write in the
// shop queued behind the previous one's fsync (two per checkout: the order's
// record and the card read's). Instead the write inserts its record into
// audit_pending, which no other writer locks, commits, and then waits for a
// seal run: one transaction that takes the head's lock, seals every record
// waiting (its own and its neighbours') in order, moves them into
// audit_records and commits once. Many writers share a run and its fsync, as
// SQLite's writers share a commit (groupcommit.go).
//
// What holds:
//   - A record is committed with the write it records, or neither is.
//   - The write is answered after its record is in the chain (the seal run
//     began after its commit). If the run fails, the database being down, the
//     write is still answered as done: it is, and its record is durable in
//     audit_pending.
//   - Every reader of the trail (verification, the Merkle tree, the console,
//     an export) seals what is waiting first, so a record left pending by a
//     failed run or a killed instance is sealed before anyone looks.
//   - Instances sharing the database seal each other's records: a run takes
//     whatever is committed and waiting.
//
// The chain's order is the order of sealing, not of the writes' commits;
// that was never promised and no reader depends on it.

// sealBatch bounds the records one seal run's transaction takes; a run
// takes batches until none is waiting.
const sealBatch = 256

// sealTimeout bounds a seal run, which runs apart from the requests that
// wait for it.
const sealTimeout = 30 * time.Second

// pgWrites marks PostgreSQL write transactions while they run, so that
// appendAudit, given only the transaction, knows to queue its record and
// inTx knows to wait for a seal run after the commit.
var pgWrites sync.Map // *sql.Tx → *pgWrite

type pgWrite struct{ audited bool }

// auditSealer runs seal runs for one database, one at a time; writers that
// ask while one runs share the next.
type auditSealer struct {
	db *DB
	// table is whether audit_pending exists (migration 0043): tableUnknown
	// until looked up. Until it does (a process on a database not migrated
	// yet, a migration test), records are sealed in the writing transaction
	// as before, which is always correct, only slower.
	table   atomic.Int32
	mu      sync.Mutex
	next    *sealRun // the run writers asking now will share; nil until one asks
	running bool
}

const (
	tableUnknown int32 = iota
	tableThere
	tableMissing
)

// sealing reports whether db seals its audit records in seal runs: on
// PostgreSQL, once audit_pending exists.
func (db *DB) sealing(ctx context.Context) bool {
	if db.seals == nil {
		return false
	}
	switch db.seals.table.Load() {
	case tableThere:
		return true
	case tableMissing:
		return false
	}
	var there bool
	if err := db.sql.QueryRowContext(ctx, "SELECT to_regclass('audit_pending') IS NOT NULL").Scan(&there); err != nil {
		return false // asked again next time; the write's own statements meet the outage
	}
	if there {
		db.seals.table.Store(tableThere)
	} else {
		db.seals.table.Store(tableMissing)
	}
	return there
}

type sealRun struct {
	done chan struct{}
	err  error
}

// wait returns once a seal run that began after the call has ended, with its
// error, or when ctx ends; the run goes on either way.
func (s *auditSealer) wait(ctx context.Context) error {
	s.mu.Lock()
	if s.next == nil {
		s.next = &sealRun{done: make(chan struct{})}
	}
	r := s.next
	if !s.running {
		s.running = true
		go s.loop()
	}
	s.mu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *auditSealer) loop() {
	for {
		s.mu.Lock()
		r := s.next
		s.next = nil
		if r == nil {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), sealTimeout)
		r.err = s.db.sealPending(ctx)
		cancel()
		close(r.done)
	}
}

// sealPending moves every committed record waiting in audit_pending into the
// chain, a batch per transaction.
func (db *DB) sealPending(ctx context.Context) error {
	for {
		n, err := db.sealPendingBatch(ctx)
		if err != nil {
			return fmt.Errorf("seal audit records: %w", err)
		}
		if n < sealBatch {
			return nil
		}
	}
}

func (db *DB) sealPendingBatch(ctx context.Context) (int, error) {
	// Most runs a reader asks for find nothing waiting: they need not take
	// the head's lock, which costs a commit to disk on PostgreSQL. A record
	// committed before the run began is visible to this read.
	var waiting bool
	if err := db.sql.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM audit_pending)").Scan(&waiting); err != nil {
		return 0, fmt.Errorf("look for pending audit records: %w", err)
	}
	if !waiting {
		return 0, nil
	}
	var n int
	err := db.runTx(ctx, db.write, nil, func(tx *sql.Tx) error {
		var seq int64
		var hash string
		// The head's lock orders seal runs, this instance's and others'.
		if err := tx.QueryRowContext(ctx, "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE").Scan(&seq, &hash); err != nil {
			return fmt.Errorf("lock audit head: %w", err)
		}
		// Taken after the lock: a run that held it has committed, and what it
		// sealed is gone from audit_pending. One statement takes the batch
		// and one inserts it sealed, whatever its size: a run holds the
		// head's lock for a fixed number of round trips.
		rows, err := tx.QueryContext(ctx, `DELETE FROM audit_pending WHERE id IN
			(SELECT id FROM audit_pending ORDER BY id LIMIT $1)
			RETURNING id, at, actor, action, target, outcome, ip, request_id, detail`, sealBatch)
		if err != nil {
			return fmt.Errorf("take pending audit records: %w", err)
		}
		type pending struct {
			id int64
			r  audit.Record
		}
		var batch []pending
		for rows.Next() {
			var p pending
			var at int64
			if err := rows.Scan(&p.id, &at, &p.r.Actor, &p.r.Action, &p.r.Target, &p.r.Outcome, &p.r.IP, &p.r.RequestID, &p.r.Detail); err != nil {
				rows.Close()
				return fmt.Errorf("read pending audit record: %w", err)
			}
			p.r.Time = fromMicros(at)
			batch = append(batch, p)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("take pending audit records: %w", err)
		}
		if n = len(batch); n == 0 {
			return nil
		}
		// RETURNING has no order: the chain takes the records in the order
		// they were queued.
		slices.SortFunc(batch, func(a, b pending) int { return cmp.Compare(a.id, b.id) })
		var c sealedColumns
		for _, p := range batch {
			r := audit.Seal(p.r, seq, hash)
			c.add(r)
			seq, hash = r.Seq, r.Hash
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_records
			(seq, at, actor, action, target, outcome, ip, request_id, detail, prev_hash, hash)
			SELECT * FROM unnest($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[],
				$7::TEXT[], $8::TEXT[], $9::TEXT[], $10::TEXT[], $11::TEXT[])`,
			c.seq, c.at, c.actor, c.action, c.target, c.outcome, c.ip, c.requestID, c.detail, c.prevHash, c.hash); err != nil {
			return fmt.Errorf("insert sealed audit records: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", seq, hash); err != nil {
			return fmt.Errorf("set audit head: %w", err)
		}
		return nil
	})
	return n, err
}

// sealedColumns holds sealed records column by column, as unnest inserts them.
type sealedColumns struct {
	seq, at                                                               []int64
	actor, action, target, outcome, ip, requestID, detail, prevHash, hash []string
}

func (c *sealedColumns) add(r audit.Record) {
	c.seq, c.at = append(c.seq, r.Seq), append(c.at, micros(r.Time))
	c.actor, c.action, c.target = append(c.actor, r.Actor), append(c.action, r.Action), append(c.target, r.Target)
	c.outcome, c.ip, c.requestID = append(c.outcome, r.Outcome), append(c.ip, r.IP), append(c.requestID, r.RequestID)
	c.detail, c.prevHash, c.hash = append(c.detail, r.Detail), append(c.prevHash, r.PrevHash), append(c.hash, r.Hash)
}

// queueAudit inserts r into audit_pending inside tx (PostgreSQL).
func queueAudit(ctx context.Context, tx *sql.Tx, r audit.Record) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_pending
		(at, actor, action, target, outcome, ip, request_id, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		micros(r.Time), r.Actor, r.Action, r.Target, r.Outcome, r.IP, r.RequestID, r.Detail); err != nil {
		return fmt.Errorf("queue audit record: %w", err)
	}
	return nil
}

// sealFirst seals what is waiting before a reader of the trail reads it; a
// no-op on SQLite, which seals in the writing transaction.
func (db *DB) sealFirst(ctx context.Context) error {
	if !db.sealing(ctx) {
		return nil
	}
	return db.seals.wait(ctx)
}

// inPGTx runs fn in a PostgreSQL write transaction and, when fn queued an
// audit record, waits after the commit for a seal run (see above). A failed
// or abandoned wait does not fail the write, which has committed: its record
// waits for the next run or reader.
func (db *DB) inPGTx(ctx context.Context, fn func(*sql.Tx) error) error {
	w := &pgWrite{}
	err := db.runTx(ctx, db.write, nil, func(tx *sql.Tx) error {
		pgWrites.Store(tx, w)
		defer pgWrites.Delete(tx)
		return fn(tx)
	})
	if err == nil && w.audited {
		db.seals.wait(ctx) //nolint:errcheck // see above: the record is durable and sealed later
	}
	return err
}
