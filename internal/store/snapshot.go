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

// rowQuerier is a database or a transaction.
type rowQuerier interface {
	querier
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// countRows counts the rows of each table listQuery names.
func countRows(ctx context.Context, db rowQuerier, listQuery string) (map[string]int64, error) {
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

// PGSnapshot is a PostgreSQL snapshot held open for pg_dump: its id (for
// pg_dump --snapshot), the schema in use and the row count of each of its
// tables as the snapshot sees them, so the dump and the counts agree.
type PGSnapshot struct {
	ID     string
	Schema string
	Rows   map[string]int64
	tx     *sql.Tx
}

// Release ends the snapshot's transaction (after pg_dump has attached to it
// and finished).
func (s *PGSnapshot) Release() error { return s.tx.Rollback() }

// ExportSnapshot begins a read-only repeatable-read transaction, exports
// its snapshot and counts the rows of the schema's tables in it.
func (db *DB) ExportSnapshot(ctx context.Context) (*PGSnapshot, error) {
	if db.engine != Postgres {
		return nil, errors.New("export snapshot: PostgreSQL only")
	}
	tx, err := db.sql.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("export snapshot: %w", err)
	}
	s := &PGSnapshot{tx: tx}
	if err := tx.QueryRowContext(ctx, "SELECT pg_export_snapshot(), current_schema()").Scan(&s.ID, &s.Schema); err != nil {
		tx.Rollback()
		return nil, fmt.Errorf("export snapshot: %w", err)
	}
	if s.Rows, err = countRowsTx(ctx, tx); err != nil {
		tx.Rollback()
		return nil, err
	}
	return s, nil
}

// ExportSnapshot is DB.ExportSnapshot on the vault's database.
func (v *VaultDB) ExportSnapshot(ctx context.Context) (*PGSnapshot, error) {
	return v.db.ExportSnapshot(ctx)
}

// TableRows counts the rows of each table of the database's schema (a
// restored PostgreSQL database, checked against its manifest).
func (db *DB) TableRows(ctx context.Context) (map[string]int64, error) {
	if db.engine != Postgres {
		return nil, errors.New("table rows: PostgreSQL only (SQLiteFileCheck reads a file)")
	}
	tx, err := db.sql.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return countRowsTx(ctx, tx)
}

func countRowsTx(ctx context.Context, tx *sql.Tx) (map[string]int64, error) {
	return countRows(ctx, tx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
}

// DropSchema drops a schema with everything in it; "public" and the
// system's are refused (a drill cleans up a schema it restored).
func DropSchema(ctx context.Context, databaseURL, schema string) error {
	if !identifier.MatchString(schema) || schema == "public" || strings.HasPrefix(schema, "pg_") || schema == "information_schema" {
		return fmt.Errorf("drop schema: %q is not one to drop", schema)
	}
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `DROP SCHEMA IF EXISTS "`+schema+`" CASCADE`); err != nil {
		return fmt.Errorf("drop schema %s: %w", schema, err)
	}
	return nil
}

// PGTableRows counts the rows of each table in the schema databaseURL's
// search_path names (a database a backup was restored into).
func PGTableRows(ctx context.Context, databaseURL string) (map[string]int64, error) {
	db, err := openPostgres(ctx, databaseURL, shopSchema)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return db.TableRows(ctx)
}
