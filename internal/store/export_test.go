package store

import (
	"context"
	"database/sql"
)

// MigrateTo applies the migrations up to version, for tests that write data
// with an older schema and then migrate it.
func (db *DB) MigrateTo(ctx context.Context, version int) ([]string, error) {
	return db.migrate(ctx, version)
}

// Writer is the database handle that writes, for tests that must write as an
// older version of the code did.
func (db *DB) Writer() *sql.DB { return db.write }
