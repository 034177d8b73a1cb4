package store

import (
	"context"
	"testing"
)

func TestStatementCache(t *testing.T) {
	ctx := context.Background()
	db := groupDB(t)
	for _, k := range []string{"a", "b", "c"} {
		if err := db.inTx(ctx, insert(ctx, k)); err != nil {
			t.Fatal(err)
		}
	}
	const q = "SELECT k FROM t WHERE k >= $1 ORDER BY k"

	t.Run("a query run again while its rows are read gets a statement of its own", func(t *testing.T) {
		conn, err := db.sql.Conn(ctx) // one connection, so both uses meet on it
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		outer, err := conn.QueryContext(ctx, q, "a")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for outer.Next() {
			var k string
			if err := outer.Scan(&k); err != nil {
				t.Fatal(err)
			}
			// Draining the same query in the middle must not disturb the outer one.
			n := 0
			inner, err := conn.QueryContext(ctx, q, "b")
			if err != nil {
				t.Fatal(err)
			}
			for inner.Next() {
				n++
			}
			inner.Close()
			if n != 2 {
				t.Fatalf("inner query saw %d rows, want 2", n)
			}
			got = append(got, k)
		}
		if err := outer.Err(); err != nil {
			t.Fatal(err)
		}
		outer.Close()
		if len(got) != 3 || got[0] != "a" || got[2] != "c" {
			t.Fatalf("outer query saw %v", got)
		}
	})

	t.Run("a cached statement follows a change of schema", func(t *testing.T) {
		const sel = "SELECT * FROM t WHERE k = $1"
		var k string
		var n int64
		if err := db.sql.QueryRowContext(ctx, sel, "a").Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		if _, err := db.write.ExecContext(ctx, "ALTER TABLE t ADD COLUMN extra TEXT NOT NULL DEFAULT 'x'"); err != nil {
			t.Fatal(err)
		}
		var extra string
		if err := db.sql.QueryRowContext(ctx, sel, "a").Scan(&k, &n, &extra); err != nil || extra != "x" {
			t.Fatalf("after the change: %q, %v", extra, err)
		}
	})

	t.Run("statements are reused, not compiled per call", func(t *testing.T) {
		for range 3 {
			var k string
			if err := db.sql.QueryRowContext(ctx, "SELECT k FROM t WHERE k = $1", "c").Scan(&k); err != nil {
				t.Fatal(err)
			}
		}
		conn, err := db.sql.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		err = conn.Raw(func(dc any) error {
			c := dc.(*cachingConn)
			c.mu.Lock()
			defer c.mu.Unlock()
			for q, s := range c.stmts {
				if s.lent {
					t.Errorf("statement %q is still lent after its use ended", q)
				}
			}
			if len(c.stmts) == 0 {
				t.Error("the connection cached no statement")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
