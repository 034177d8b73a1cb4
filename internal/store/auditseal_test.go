package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// verifyChain reads the whole trail through the store (which seals what is
// waiting first) and checks it link by link against its head.
func verifyChain(t *testing.T, db *store.DB) int64 {
	t.Helper()
	v := audit.NewVerifier()
	head, err := db.ScanAudit(context.Background(), v.Next)
	if err != nil {
		t.Fatalf("the chain does not verify: %v", err)
	}
	if _, err := v.Finish(head); err != nil {
		t.Fatalf("the chain does not end at its head: %v", err)
	}
	return head.Seq
}

// TestAuditSealing: audited writes from many goroutines at once each find
// their record in the chain when they return, the chain verifies with no
// gap, and (PostgreSQL) nothing is left waiting in audit_pending.
func TestAuditSealing(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, d testenv.Database) {
		db := mustOpen(t, d)
		ctx := context.Background()
		const writers, each = 12, 20
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					target := fmt.Sprintf("seal-%d-%d", w, i)
					if err := db.AppendAudit(ctx, rec("test.seal", target)); err != nil {
						errs <- err
						return
					}
					// Answered: the record is in the chain, not only queued.
					var n int
					if err := db.Writer().QueryRowContext(ctx, "SELECT count(*) FROM audit_records WHERE target = $1", target).Scan(&n); err != nil || n != 1 {
						errs <- fmt.Errorf("%s: %d sealed records after AppendAudit returned (%v)", target, n, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if seq := verifyChain(t, db); seq < writers*each {
			t.Fatalf("head at %d, want at least %d records", seq, writers*each)
		}
		if d.Engine == "postgres" {
			var waiting int
			if err := db.Writer().QueryRowContext(ctx, "SELECT count(*) FROM audit_pending").Scan(&waiting); err != nil || waiting != 0 {
				t.Fatalf("%d records left waiting (%v)", waiting, err)
			}
		}
	})
}

// TestAuditSealingOnPostgreSQL: a record left waiting (an instance killed
// between its commit and the seal run) is sealed before any reader reads the
// trail; a seal run that cannot get the head's lock does not fail or hold
// the write beyond its caller's deadline, and the record is sealed once the
// lock is free.
func TestAuditSealingOnPostgreSQL(t *testing.T) {
	dbs := testenv.Databases(t)
	if len(dbs) < 2 {
		t.Skip("needs PostgreSQL: " + testenv.DatabaseURLVar + " is not set")
	}
	db := mustOpen(t, dbs[1])
	ctx := context.Background()
	if err := db.AppendAudit(ctx, rec("test.seal", "before")); err != nil {
		t.Fatal(err)
	}

	t.Run("a record left waiting is sealed before a reader reads", func(t *testing.T) {
		at := time.Now().UTC().Truncate(time.Microsecond).UnixMicro()
		if _, err := db.Writer().ExecContext(ctx, `INSERT INTO audit_pending (at, actor, action, target, outcome, ip, request_id, detail)
			VALUES ($1, 'system', 'test.seal', 'left-waiting', 'success', '', '', '')`, at); err != nil {
			t.Fatal(err)
		}
		r, err := db.LastAuditRecord(ctx, "test.seal")
		if err != nil || r.Target != "left-waiting" {
			t.Fatalf("last record %+v, %v: want the one left waiting, sealed", r, err)
		}
		verifyChain(t, db)
	})

	t.Run("a seal run held up does not fail the write", func(t *testing.T) {
		// Another session holds the head's lock, as a stuck seal run would.
		holder, err := db.Writer().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer holder.Rollback() //nolint:errcheck
		if _, err := holder.ExecContext(ctx, "SELECT 1 FROM audit_head WHERE id = 1 FOR UPDATE"); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := db.AppendAudit(wctx, rec("test.seal", "held-up")); err != nil {
			t.Fatalf("the write failed while the seal run waited: %v", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("the write took %v: it waited for the seal run beyond its deadline", took)
		}
		var waiting int
		if err := db.Writer().QueryRowContext(ctx, "SELECT count(*) FROM audit_pending WHERE target = 'held-up'").Scan(&waiting); err != nil || waiting != 1 {
			t.Fatalf("the record is not waiting in audit_pending: %d (%v)", waiting, err)
		}
		if err := holder.Rollback(); err != nil {
			t.Fatal(err)
		}
		r, err := db.LastAuditRecord(ctx, "test.seal")
		if err != nil || r.Target != "held-up" {
			t.Fatalf("last record %+v, %v: want the held-up one, sealed once the lock was free", r, err)
		}
		verifyChain(t, db)
	})

	t.Run("a write that rolls back leaves no record waiting", func(t *testing.T) {
		boom := errors.New("boom")
		err := store.AuditedWriteThatFails(ctx, db, rec("test.seal", "rolled-back"), boom)
		if !errors.Is(err, boom) {
			t.Fatalf("err %v, want boom", err)
		}
		var n int
		if err := db.Writer().QueryRowContext(ctx, "SELECT (SELECT count(*) FROM audit_pending) + (SELECT count(*) FROM audit_records WHERE target = 'rolled-back')").Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d records of a rolled-back write (%v)", n, err)
		}
	})
}
