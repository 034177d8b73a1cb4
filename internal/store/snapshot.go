package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// ErrNoOnlineCopy is a database this package cannot copy itself: PostgreSQL,
// which backs up with pg_dump (internal/backup).
var ErrNoOnlineCopy = errors.New("online copy: only SQLite databases are copied in-process; PostgreSQL is dumped with pg_dump")

// SnapshotTo writes a consistent copy of the SQLite database to path, which
// must not exist, while the shop goes on serving: VACUUM INTO reads in one
// read transaction (a snapshot under WAL), so writers are not held up, and
// the copy is a compact, self-contained database with no journal.
func (db *DB) SnapshotTo(ctx context.Context, path string) error {
	if db.engine != SQLite {
		return ErrNoOnlineCopy
	}
	if _, err := db.sql.ExecContext(ctx, "VACUUM INTO $1", path); err != nil {
		return fmt.Errorf("copy the database to %s: %w", path, err)
	}
	return os.Chmod(path, 0o600)
}

// SnapshotTo is DB.SnapshotTo for the vault's database.
func (v *VaultDB) SnapshotTo(ctx context.Context, path string) error {
	return v.db.SnapshotTo(ctx, path)
}

// SQLiteFileCheck opens the SQLite database file at path read-only, runs
// its integrity check and counts the rows of each table; it never writes to
// the file (a restored copy is checked as it was restored).
func SQLiteFileCheck(ctx context.Context, path string) (map[string]int64, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	dsn := (&url.URL{Scheme: "file", Path: path}).String() + "?mode=ro&_pragma=query_only(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var verdict []string
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return nil, fmt.Errorf("integrity check of %s: %w", path, err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return nil, fmt.Errorf("integrity check of %s: %w", path, err)
		}
		if len(verdict) < 10 {
			verdict = append(verdict, s)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("integrity check of %s: %w", path, err)
	}
	if len(verdict) != 1 || verdict[0] != "ok" {
		return nil, fmt.Errorf("integrity check of %s failed: %s", path, strings.Join(verdict, "; "))
	}
	return countRows(ctx, db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
}

// countRows counts the rows of each table listQuery names.
func countRows(ctx context.Context, db *sql.DB, listQuery string) (map[string]int64, error) {
	rows, err := db.QueryContext(ctx, listQuery)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list tables: %w", err)
		}
		tables = append(tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	out := make(map[string]int64, len(tables))
	for _, t := range tables {
		if !identifier.MatchString(t) {
			return nil, fmt.Errorf("count rows: a table named %q is not one of ours", t)
		}
		var n int64
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM "`+t+`"`).Scan(&n); err != nil {
			return nil, fmt.Errorf("count rows of %s: %w", t, err)
		}
		out[t] = n
	}
	return out, nil
}
