// Package testenv gives tests the real engines to run on: SQLite always, and
// PostgreSQL and Redis when BULWARK_TEST_DATABASE_URL and BULWARK_TEST_REDIS_URL
// name them. With BULWARK_TEST_REQUIRE_SERVICES=1 (set by CI) a missing service
// fails the test instead of skipping it, so CI can never pass by skipping.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to create and drop test schemas
)

// Variables that point the tests at services.
const (
	DatabaseURLVar     = "BULWARK_TEST_DATABASE_URL"
	RedisURLVar        = "BULWARK_TEST_REDIS_URL"
	RequireServicesVar = "BULWARK_TEST_REQUIRE_SERVICES"
)

// Database is a fresh, empty database for one test.
type Database struct {
	Engine string // "sqlite" or "postgres"
	// DataDir is a fresh directory; with an empty DatabaseURL the SQLite file lives there.
	DataDir     string
	DatabaseURL string
	// VaultDatabaseURL is the card vault's own database (a second schema).
	VaultDatabaseURL string
}

// Databases returns a fresh database on every engine available: SQLite, and
// PostgreSQL (in a schema of its own, dropped after the test) when configured.
func Databases(t testing.TB) []Database {
	t.Helper()
	dbs := []Database{{Engine: "sqlite", DataDir: t.TempDir()}}
	base := os.Getenv(DatabaseURLVar)
	if base == "" {
		missing(t, DatabaseURLVar+" is not set: PostgreSQL tests did not run")
		return dbs
	}
	return append(dbs, Database{Engine: "postgres", DataDir: t.TempDir(),
		DatabaseURL: postgresSchema(t, base), VaultDatabaseURL: postgresSchema(t, base)})
}

// ForEachDatabase runs fn as a subtest on every engine.
func ForEachDatabase(t *testing.T, fn func(t *testing.T, db Database)) {
	t.Helper()
	for _, db := range Databases(t) {
		t.Run(db.Engine, func(t *testing.T) { fn(t, db) })
	}
}

// RedisURL returns the test Redis server's URL, or skips (fails under CI).
func RedisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(RedisURLVar)
	if u == "" {
		missing(t, RedisURLVar+" is not set: Redis tests did not run")
		t.SkipNow()
	}
	return u
}

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(RequireServicesVar) == "1" {
		t.Fatal(why + " (required by " + RequireServicesVar + ")")
	}
	t.Log(why)
}

// postgresSchema creates a schema with a random name and returns base with its
// search_path set to it, so each test has an empty database of its own.
func postgresSchema(t testing.TB, base string) string {
	t.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open %s: %v", DatabaseURLVar, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The schema name is made here from hex digits, never from input; identifiers cannot be bind parameters.
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		db.Close()
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop test schema: %v", err)
		}
		db.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", DatabaseURLVar, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// DrillDatabaseURL is the scratch database restore drills restore into
// (test_drill beside the test database, made by .ci/run), or skips (fails
// under CI).
func DrillDatabaseURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(DatabaseURLVar)
	u, err := url.Parse(base)
	if base == "" || err != nil {
		missing(t, DatabaseURLVar+" is not set: PostgreSQL drill tests did not run")
		t.SkipNow()
	}
	u.Path = u.Path + "_drill"
	return u.String()
}
