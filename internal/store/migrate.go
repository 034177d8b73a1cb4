package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func (db *DB) migrations() ([]migration, error) {
	dir := path.Join("migrations", db.schema.name, string(db.engine))
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration file %s: want NNNN_name.sql", e.Name())
		}
		b, err := fs.ReadFile(migrationFiles, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		// Two files with one number: the second would be taken as applied and
		// silently skipped, as happens when two branches each add the next one.
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", ms[i-1].name, ms[i].name, ms[i].version)
		}
	}
	return ms, nil
}

// Migrate applies every embedded migration not yet applied, each in its own
// transaction, and returns the names of those it applied. It is safe to run from
// several instances at once.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	return db.migrate(ctx, math.MaxInt)
}

// migrate applies the migrations not yet applied up to version upTo (tests
// of a migration write data with the schema before it).
func (db *DB) migrate(ctx context.Context, upTo int) ([]string, error) {
	ms, err := db.migrations()
	if err != nil {
		return nil, err
	}
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	// Several starting instances may migrate at once: on PostgreSQL an advisory
	// lock lets one through at a time; on SQLite each migration's transaction
	// takes the write lock and re-checks what is applied.
	if db.engine == Postgres {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", db.schema.lockID); err != nil {
			return nil, fmt.Errorf("take migration lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", db.schema.lockID) //nolint:errcheck // the lock also ends with the connection
	}
	// The table name comes from the fixed schema definitions, never from input.
	table := db.schema.migrationsTable
	if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+table+` (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return nil, fmt.Errorf("create %s: %w", table, err)
	}
	if db.seals != nil {
		// Whether audit_pending exists is looked up again after migrating.
		defer db.seals.table.Store(tableUnknown)
	}
	var applied []string
	for _, m := range ms {
		if m.version > upTo {
			break
		}
		did, err := applyMigration(ctx, conn, table, m)
		if err != nil {
			return applied, err
		}
		if did {
			applied = append(applied, m.name)
		}
	}
	return applied, nil
}

func applyMigration(ctx context.Context, conn *sql.Conn, table string, m migration) (bool, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migration %s: %w", m.name, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+" WHERE version = $1", m.version).Scan(&n); err != nil {
		return false, fmt.Errorf("migration %s: %w", m.name, err)
	}
	if n > 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, fmt.Errorf("migration %s: %w", m.name, err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+table+" (version, name, applied_at) VALUES ($1, $2, $3)",
		m.version, m.name, micros(time.Now())); err != nil {
		return false, fmt.Errorf("record migration %s: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit migration %s: %w", m.name, err)
	}
	return true, nil
}

// ErrNotInitialised is the answer of OpenMigrated for a database that was
// never migrated, or not to this binary's version.
var ErrNotInitialised = errors.New("database not initialised: run bulwark migrate or serve first")

// OpenMigrated opens the shop database of opts for a command that only reads
// or maintains it (keys status, audit verify, ...): it creates nothing (no
// data directory, no SQLite file) and returns an error wrapping
// ErrNotInitialised unless every embedded migration has been applied.
func OpenMigrated(ctx context.Context, opts Options) (*DB, error) {
	if opts.DatabaseURL == "" {
		file := filepath.Join(opts.DataDir, shopSchema.sqliteFile)
		if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w (no %s)", ErrNotInitialised, file)
		} else if err != nil {
			return nil, fmt.Errorf("find database file: %w", err)
		}
	}
	db, err := Open(ctx, opts)
	if err != nil {
		return nil, err
	}
	if err := db.checkMigrated(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// checkMigrated reports whether every embedded migration has been applied,
// asking the engine's catalog whether the migrations table exists rather than
// reading an error's text.
func (db *DB) checkMigrated(ctx context.Context) error {
	ms, err := db.migrations()
	if err != nil {
		return err
	}
	table := db.schema.migrationsTable
	q := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1"
	if db.engine == Postgres {
		q = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1"
	}
	var n int
	if err := db.sql.QueryRowContext(ctx, q, table).Scan(&n); err != nil {
		return fmt.Errorf("look for %s: %w", table, err)
	}
	if n == 0 {
		return fmt.Errorf("%w (no schema on %s)", ErrNotInitialised, db.engine)
	}
	var applied int
	// The table name comes from the fixed schema definitions, never from input.
	if err := db.sql.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM "+table).Scan(&applied); err != nil {
		return fmt.Errorf("read %s: %w", table, err)
	}
	if latest := ms[len(ms)-1].version; applied < latest {
		return fmt.Errorf("%w (schema at migration %d, this version of bulwark needs %d)", ErrNotInitialised, applied, latest)
	}
	return nil
}
