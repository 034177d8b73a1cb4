package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// insertChunk bounds the rows of one multi-row INSERT on PostgreSQL: with
// up to a dozen columns it stays far below the protocol's 65,535
// parameters.
const insertChunk = 500

// insertRows inserts rows (each len(columns) values) into table in tx, the
// cheapest way for the engine:
//   - SQLite runs in this process, so a statement costs no round trip, but
//     parsing one does: a multi-row INSERT is parsed anew for every row
//     count (its text differs), and the parse grows with its rows. Profiles
//     of webhook delivery showed SQLite parsing statements for half the
//     worker's database time (issue 13). One prepared statement, run per
//     row, is parsed once per call.
//   - PostgreSQL is a round trip per statement: rows go insertChunk at a
//     time in multi-row INSERTs.
func (db *DB) insertRows(ctx context.Context, tx *sql.Tx, table string, columns []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	head := "INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES "
	if db.engine != Postgres {
		stmt, err := tx.PrepareContext(ctx, head+"("+placeholders(1, len(columns))+")")
		if err != nil {
			return fmt.Errorf("insert into %s: %w", table, err)
		}
		defer stmt.Close()
		for _, r := range rows {
			if _, err := stmt.ExecContext(ctx, r...); err != nil {
				return fmt.Errorf("insert into %s: %w", table, err)
			}
		}
		return nil
	}
	for len(rows) > 0 {
		n := min(len(rows), insertChunk)
		marks := make([]string, n)
		args := make([]any, 0, n*len(columns))
		for i, r := range rows[:n] {
			marks[i] = "(" + placeholders(len(args)+1, len(columns)) + ")"
			args = append(args, r...)
		}
		if _, err := tx.ExecContext(ctx, head+strings.Join(marks, ", "), args...); err != nil {
			return fmt.Errorf("insert into %s: %w", table, err)
		}
		rows = rows[n:]
	}
	return nil
}
