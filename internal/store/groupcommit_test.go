package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// groupDB opens a bare SQLite database (no migrations) with one table.
func groupDB(t *testing.T) *DB {
	t.Helper()
	ctx := context.Background()
	db, err := openSQLite(ctx, t.TempDir(), shopSchema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// The tests that line writers up in one batch take longer than a
	// batch may stay open on a loaded machine.
	db.group.maxOpen = time.Minute
	if _, err := db.write.ExecContext(ctx, "CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	return db
}

func insert(ctx context.Context, k string) func(*sql.Tx) error {
	return func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO t (k, n) VALUES ($1, 1)", k)
		return err
	}
}

func rows(t *testing.T, db *DB) map[string]bool {
	t.Helper()
	rs, err := db.sql.Query("SELECT k FROM t")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	got := map[string]bool{}
	for rs.Next() {
		var k string
		if err := rs.Scan(&k); err != nil {
			t.Fatal(err)
		}
		got[k] = true
	}
	return got
}

// queued starts fns as writers while the first of them holds the batch open,
// so that all of them run in one batch, and returns their errors in order.
func queued(t *testing.T, db *DB, fns ...func(*sql.Tx) error) []error {
	t.Helper()
	entered, release := make(chan struct{}), make(chan struct{})
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	wg.Go(func() {
		errs[0] = db.inTx(context.Background(), func(tx *sql.Tx) error {
			close(entered)
			<-release
			return fns[0](tx)
		})
	})
	<-entered
	// One at a time, so that they queue in order (a mutex wakes its
	// waiters first come, first served).
	for i, fn := range fns[1:] {
		wg.Go(func() { errs[i+1] = db.inTx(context.Background(), fn) })
		for db.group.waiting.Load() < int32(i+1) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(5 * time.Millisecond) // from the count to the mutex's queue
	}
	close(release)
	wg.Wait()
	return errs
}

func TestGroupCommit(t *testing.T) {
	ctx := context.Background()

	t.Run("concurrent writers share commits and every acknowledged write is there", func(t *testing.T) {
		db := groupDB(t)
		const n = 200
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = db.inTx(ctx, insert(ctx, fmt.Sprint(i))) })
		}
		wg.Wait()
		got := rows(t, db)
		for i, err := range errs {
			if err != nil {
				t.Fatalf("writer %d: %v", i, err)
			}
			if !got[fmt.Sprint(i)] {
				t.Fatalf("writer %d was acknowledged but its row is missing", i)
			}
		}
		st := db.CommitStats()
		if st.Transactions != n || st.Commits > n {
			t.Fatalf("stats %+v for %d writers", st, n)
		}
		t.Logf("%d writers in %d commits", n, st.Commits)
	})

	t.Run("a failed writer is rolled back alone and its batch-mates commit", func(t *testing.T) {
		db := groupDB(t)
		refused := errors.New("refused")
		errs := queued(t, db, insert(ctx, "a"), func(tx *sql.Tx) error {
			if err := insert(ctx, "b")(tx); err != nil {
				return err
			}
			return refused
		}, insert(ctx, "c"))
		if errs[0] != nil || !errors.Is(errs[1], refused) || errs[2] != nil {
			t.Fatalf("errors %v", errs)
		}
		if got := rows(t, db); !got["a"] || got["b"] || !got["c"] {
			t.Fatalf("rows %v: want a and c", got)
		}
		if st := db.CommitStats(); st.Commits != 1 || st.Transactions != 2 {
			t.Fatalf("stats %+v: want one commit of two", st)
		}
	})

	t.Run("a writer that sees a batch-mate's write is answered with the batch's outcome", func(t *testing.T) {
		db := groupDB(t)
		// The second writer reads the first's uncommitted row; the third
		// breaks the transaction (as an interrupted statement or a full disk
		// would), so neither row may be acknowledged.
		var seen int
		errs := queued(t, db, insert(ctx, "a"), func(tx *sql.Tx) error {
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&seen); err != nil {
				return err
			}
			return insert(ctx, "b")(tx)
		}, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "ROLLBACK")
			return err
		})
		if seen != 1 {
			t.Fatalf("the second writer saw %d rows, want the first's", seen)
		}
		for i, err := range errs {
			if err == nil {
				t.Fatalf("writer %d was acknowledged in a batch that was rolled back", i)
			}
		}
		if got := rows(t, db); len(got) != 0 {
			t.Fatalf("rows %v after a rolled-back batch", got)
		}
		// The next writer starts a new batch.
		if err := db.inTx(ctx, insert(ctx, "d")); err != nil {
			t.Fatal(err)
		}
		if got := rows(t, db); !got["d"] || len(got) != 1 {
			t.Fatalf("rows %v", got)
		}
	})

	t.Run("a writer interrupted by its context fails its batch without a partial commit", func(t *testing.T) {
		db := groupDB(t)
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		// SQLite rolls the whole transaction back when a write is
		// interrupted: the first writer's row went with it.
		errs := queued(t, db, insert(ctx, "a"), func(tx *sql.Tx) error {
			_, err := tx.ExecContext(cctx, `INSERT INTO t (k, n)
				WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 100000000)
				SELECT 'z' || i, i FROM c`)
			return err
		}, insert(ctx, "b"))
		if errs[0] == nil || errs[1] == nil {
			t.Fatalf("errors %v: the batch was rolled back, so no writer before the interrupt may be acknowledged", errs)
		}
		got := rows(t, db)
		if got["a"] || got["z1"] {
			t.Fatalf("%d rows after an interrupted batch", len(got))
		}
		// Whatever ran after the failure ran in a batch of its own.
		if errs[2] == nil && !got["b"] {
			t.Fatal("the third writer was acknowledged but its row is missing")
		}
	})

	t.Run("a writer whose context ended before its turn writes nothing and holds nobody up", func(t *testing.T) {
		db := groupDB(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := db.inTx(cctx, insert(ctx, "x")); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
		if err := db.inTx(ctx, insert(ctx, "y")); err != nil {
			t.Fatal(err)
		}
		if got := rows(t, db); got["x"] || !got["y"] {
			t.Fatalf("rows %v", got)
		}
	})

	t.Run("a panicking writer fails its batch and the next batch runs", func(t *testing.T) {
		db := groupDB(t)
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("the panic was swallowed")
				}
			}()
			_ = db.inTx(ctx, func(tx *sql.Tx) error {
				if err := insert(ctx, "p")(tx); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		if err := db.inTx(ctx, insert(ctx, "q")); err != nil {
			t.Fatal(err)
		}
		if got := rows(t, db); got["p"] || !got["q"] {
			t.Fatalf("rows %v", got)
		}
	})
}
