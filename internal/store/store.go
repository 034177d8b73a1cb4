// Package store is the only code that speaks SQL. It keeps Bulwark's data in
// SQLite (the embedded default, a file under the data directory) or PostgreSQL,
// with the same queries on both: every value is a bind parameter, times are Unix
// microseconds, and each exported method that writes is one transaction.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/bulwark-shop/bulwark/internal/pii"
)

// Engine names a database engine.
type Engine string

// The engines Bulwark runs on.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// File names of the SQLite databases inside the data directory.
const (
	SQLiteFile      = "bulwark.db"
	VaultSQLiteFile = "vault.db"
)

// schema names a set of tables with its own migrations: the shop's, or the card
// vault's, which lives in a database of its own.
type schema struct {
	name            string // migrations/<name>/<engine>
	migrationsTable string
	lockID          int64 // PostgreSQL advisory lock for migrating
	sqliteFile      string
}

var (
	shopSchema  = schema{name: "shop", migrationsTable: "schema_migrations", lockID: 7_202_611_22, sqliteFile: SQLiteFile}
	vaultSchema = schema{name: "vault", migrationsTable: "vault_schema_migrations", lockID: 7_202_611_23, sqliteFile: VaultSQLiteFile}
)

// DB is an open shop database.
type DB struct {
	// sql serves reads; write serves transactions. They are one pool on
	// PostgreSQL. On SQLite, which admits one writer at a time, write is a single
	// connection: writers queue in Go, in order, instead of sleeping and retrying
	// on SQLITE_BUSY, which gave long latency tails under load.
	sql    *sql.DB
	write  *sql.DB
	engine Engine
	schema schema
	pii    *pii.Cipher  // seals personal data; see personal.go
	group  *groupCommit // SQLite's writers, batched into shared commits
	seals  *auditSealer // PostgreSQL's shop: audit records sealed in batches (auditseal.go)
}

// Options say which database to open.
type Options struct {
	// DatabaseURL is a postgres:// URL; empty means SQLite under DataDir.
	DatabaseURL string
	DataDir     string
}

// sqlitePragmas go in the connection string so that every pooled connection has
// them: enforced foreign keys, a busy timeout instead of immediate "database
// is locked", and synchronous=FULL so a commit survives power loss. The write
// pool adds _txlock=immediate, which takes the write lock when a transaction
// begins and so avoids two readers deadlocking as they upgrade to writers
// (several processes may share the file).
//
// Write-ahead logging is not among them: it is a property of the file, set
// once by useWAL, which every connection then follows. Switching a fresh file
// to WAL takes an exclusive lock, and when two processes opened it at once,
// SQLite refused one of them with SQLITE_BUSY without waiting (it does so
// rather than risk a deadlock between two connections upgrading their locks).
//
// secure_delete overwrites deleted and replaced content with zeros, so an
// erased person's key, or a value sealed over an old plaintext, leaves no
// copy in the file's free pages (see Erase for the write-ahead log).
const sqlitePragmas = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)&_pragma=secure_delete(1)"

// useWAL switches the database file to write-ahead logging, retrying while
// another process holds the lock the switch needs, for at most 10 s.
func useWAL(ctx context.Context, db *sql.DB) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		var lite *sqlite.Error
		switch {
		case err == nil && strings.EqualFold(mode, "wal"):
			return nil
		case err == nil:
			return fmt.Errorf("journal mode is %s, not wal", mode)
		case !errors.As(err, &lite) || lite.Code()&0xff != sqlite3.SQLITE_BUSY:
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("database locked by another process: %w", err)
		case <-time.After(wait):
		}
	}
}

// Open connects to the shop database of opts. It does not migrate; call Migrate.
func Open(ctx context.Context, opts Options) (*DB, error) {
	return open(ctx, opts, shopSchema)
}

func open(ctx context.Context, opts Options, s schema) (*DB, error) {
	if opts.DatabaseURL != "" {
		return openPostgres(ctx, opts.DatabaseURL, s)
	}
	return openSQLite(ctx, opts.DataDir, s)
}

func openSQLite(ctx context.Context, dataDir string, s schema) (*DB, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path, err := filepath.Abs(filepath.Join(dataDir, s.sqliteFile))
	if err != nil {
		return nil, fmt.Errorf("locate database file: %w", err)
	}
	// Create the file ourselves so it is private from the start; SQLite gives its
	// -wal and -shm files the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create database file: %w", err)
	}
	f.Close()
	base := (&url.URL{Scheme: "file", Path: path}).String() + "?" + sqlitePragmas
	// Both pools cache their compiled statements (see cachingConnector).
	write := sql.OpenDB(&cachingConnector{dsn: base + "&_txlock=immediate", driver: &sqlite.Driver{}})
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxIdleTime(0)
	read := sql.OpenDB(&cachingConnector{dsn: base, driver: &sqlite.Driver{}})
	// Reads are bounded like PostgreSQL's pool: each new SQLite connection
	// parses the whole schema, and an unbounded pool opened one per request
	// in a burst, then closed all but the idle ones (80 concurrent checkouts
	// under -race: 7.5 s unbounded, 6.4 s at 16). A goroutine must never hold
	// a read connection while it waits for another; PostgreSQL's pool of 20
	// holds the code to that already.
	read.SetMaxOpenConns(16)
	read.SetMaxIdleConns(16)
	db := &DB{sql: read, write: write, engine: SQLite, schema: s, group: newGroupCommit(write)}
	if err := useWAL(ctx, write); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: write-ahead log: %w", path, err)
	}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return db, nil
}

func openPostgres(ctx context.Context, databaseURL string, s schema) (*DB, error) {
	if !strings.HasPrefix(databaseURL, "postgres://") && !strings.HasPrefix(databaseURL, "postgresql://") {
		return nil, errors.New("database URL must start with postgres://")
	}
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(20)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	out := &DB{sql: db, write: db, engine: Postgres, schema: s}
	if s.name == shopSchema.name {
		out.seals = &auditSealer{db: out}
	}
	return out, nil
}

// Engine reports which engine db runs on.
func (db *DB) Engine() Engine { return db.engine }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.sql.PingContext(ctx); err != nil {
		return err
	}
	return db.write.PingContext(ctx)
}

// Close closes the connections.
func (db *DB) Close() error {
	err := db.sql.Close()
	if db.write != db.sql {
		err = errors.Join(err, db.write.Close())
	}
	return err
}

// inTx runs fn in a transaction that commits when fn returns nil, and
// returns once the commit is durable. On SQLite, fn runs in a savepoint of a
// transaction it may share with concurrent writers (see groupCommit): it must
// not leave the transaction (or rows) open, and it must not wait on another
// writer.
func (db *DB) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	if db.group != nil {
		return db.group.run(ctx, fn)
	}
	if db.sealing(ctx) {
		return db.inPGTx(ctx, fn)
	}
	return db.runTx(ctx, db.write, nil, fn)
}

// inSnapshot runs fn in a read-only transaction that sees one snapshot of the
// database. SQLite's transactions always do; PostgreSQL's default (read
// committed) would let statements see different states.
func (db *DB) inSnapshot(ctx context.Context, fn func(*sql.Tx) error) error {
	if db.engine == Postgres {
		return db.runTx(ctx, db.sql, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}, fn)
	}
	return db.runTx(ctx, db.sql, nil, fn) // a deferred read transaction: one WAL snapshot
}

func (db *DB) runTx(ctx context.Context, pool *sql.DB, opts *sql.TxOptions, fn func(*sql.Tx) error) error {
	tx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// isUniqueViolation recognises a unique-constraint failure by driver error code.
func isUniqueViolation(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		return lite.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || lite.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// violatedConstraint names the constraint a PostgreSQL unique or
// foreign-key violation broke; "" on SQLite, whose errors carry no name (and
// whose single writer means the checks before a write are never outrun).
func violatedConstraint(err error) string {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.ConstraintName
	}
	return ""
}

// isForeignKeyViolation reports whether err is a foreign-key violation: on
// PostgreSQL, a row referenced by this write was deleted by a transaction
// that committed after this one looked.
func isForeignKeyViolation(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23503"
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		return lite.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	return false
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
