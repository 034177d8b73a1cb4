package dependency_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/dependency"
)

// redisServerError is a Redis server's error reply, as go-redis returns it.
type redisServerError string

func (e redisServerError) Error() string { return string(e) }
func (redisServerError) RedisError()     {}

var _ redis.Error = redisServerError("")

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// sqliteError returns the real driver error of running query on a SQLite
// database at dsn.
func sqliteError(t *testing.T, dsn, query string) error {
	t.Helper()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.Exec(query)
	if err == nil {
		t.Fatalf("%s on %s did not fail", query, dsn)
	}
	return err
}

func TestClassify(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "x.db")
	sqliteError(t, "file:"+file, "CREATE TABLE t (k INTEGER PRIMARY KEY); INSERT INTO t VALUES (1); SELECT * FROM nothing")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, pgConnectErr := pgconn.Connect(ctx, "postgres://x@"+closedPort(t)+"/x?connect_timeout=2")
	if pgConnectErr == nil {
		t.Fatal("connected to a closed port")
	}
	deadline, cancel2 := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel2()
	<-deadline.Done()
	for _, tc := range []struct {
		name   string
		err    error
		outage bool
		dep    string
	}{
		{"SQLite cannot open the file", sqliteError(t, "file:"+filepath.Join(dir, "missing", "x.db"), "SELECT 1"), true, dependency.Database},
		{"SQLite read-only database", sqliteError(t, "file:"+file+"?mode=ro", "INSERT INTO t VALUES (2)"), true, dependency.Database},
		{"SQLite unique violation is no outage", sqliteError(t, "file:"+file, "INSERT INTO t VALUES (1)"), false, ""},
		{"SQLite syntax error is no outage", sqliteError(t, "file:"+file, "SELEC 1"), false, ""},
		{"PostgreSQL refused connection", fmt.Errorf("login: %w", pgConnectErr), true, dependency.Database},
		{"PostgreSQL connection failure 08006", &pgconn.PgError{Code: "08006"}, true, dependency.Database},
		{"PostgreSQL connection found closed (begin on a dead pooled connection)", fmt.Errorf("list products: begin: %w", pgconn.ErrConnClosed), true, dependency.Database},
		{"PostgreSQL disk full 53100", fmt.Errorf("reserve: %w", &pgconn.PgError{Code: "53100"}), true, dependency.Database},
		{"PostgreSQL admin shutdown 57P01", &pgconn.PgError{Code: "57P01"}, true, dependency.Database},
		{"PostgreSQL cannot connect now 57P03", &pgconn.PgError{Code: "57P03"}, true, dependency.Database},
		{"PostgreSQL read-only standby 25006", &pgconn.PgError{Code: "25006"}, true, dependency.Database},
		{"PostgreSQL query canceled 57014 is no outage", &pgconn.PgError{Code: "57014"}, false, ""},
		{"PostgreSQL unique violation is no outage", &pgconn.PgError{Code: "23505"}, false, ""},
		{"PostgreSQL syntax error is no outage", &pgconn.PgError{Code: "42601"}, false, ""},
		{"Redis loading its dataset", fmt.Errorf("rate limit: %w", redisServerError("LOADING Redis is loading the dataset in memory")), true, dependency.Redis},
		{"Redis replica during failover", redisServerError("READONLY You can't write against a read only replica."), true, dependency.Redis},
		{"Redis wrong type is no outage", redisServerError("WRONGTYPE Operation against a key holding the wrong kind of value"), false, ""},
		{"Redis nil is no outage", redis.Nil, false, ""},
		{"Redis client closed", redis.ErrClosed, true, dependency.Redis},
		{"Redis pool timeout", fmt.Errorf("x: %w", redis.ErrPoolTimeout), true, dependency.Redis},
		{"marked vault outage", fmt.Errorf("detokenize: %w", dependency.Wrap(dependency.Vault, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})), true, dependency.Vault},
		{"disk full on a file", &fs.PathError{Op: "write", Path: "/data/outbox/x", Err: syscall.ENOSPC}, true, dependency.Disk},
		{"read-only file system", &fs.PathError{Op: "open", Path: "/data/x", Err: syscall.EROFS}, true, dependency.Disk},
		{"connection lost mid-query", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, true, dependency.Database},
		{"deadline on a dependency call", fmt.Errorf("query: %w", deadline.Err()), true, dependency.Database},
		{"the client went away is no outage", fmt.Errorf("query: %w", context.Canceled), false, ""},
		{"an application error is no outage", apperr.NotFound("product"), false, ""},
		{"a bug is no outage", errors.New("nil map"), false, ""},
		{"a missing file is no outage", &fs.PathError{Op: "open", Path: "/x", Err: os.ErrNotExist}, false, ""},
		{"nil", nil, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dep, outage := dependency.Classify(tc.err)
			if outage != tc.outage || dep != tc.dep {
				t.Fatalf("Classify(%v) = %q, %v; want %q, %v", tc.err, dep, outage, tc.dep, tc.outage)
			}
		})
	}
}

func TestTrackerLogsStateChangesOnly(t *testing.T) {
	var logs bytes.Buffer
	now := time.Unix(1_000_000, 0)
	var down atomic.Bool
	tr := dependency.NewTracker(dependency.TrackerOptions{Log: slog.New(slog.NewTextHandler(&logs, nil)),
		Now: func() time.Time { return now }, Interval: time.Second})
	tr.Add("redis", func(context.Context) error {
		if down.Load() {
			return errors.New("connection refused")
		}
		return nil
	})
	down.Store(true)
	for range 1000 {
		tr.Down("redis", errors.New("connection refused"))
	}
	tr.Check(context.Background())
	if tr.Up("redis") {
		t.Fatal("redis up during the outage")
	}
	if n := strings.Count(logs.String(), "dependency down"); n != 1 {
		t.Fatalf("1000 failed requests logged %d down lines, want 1:\n%s", n, logs.String())
	}
	down.Store(false)
	tr.Check(context.Background())
	if tr.Up("redis") {
		t.Fatal("up again at once after a failure: a flapping dependency would log on every request")
	}
	now = now.Add(2 * time.Second)
	tr.Check(context.Background())
	if !tr.Up("redis") {
		t.Fatal("still down after a passing probe")
	}
	tr.Check(context.Background())
	if n := strings.Count(logs.String(), "dependency up"); n != 1 {
		t.Fatalf("recovery logged %d up lines, want 1:\n%s", n, logs.String())
	}
	tr.Down("unknown", errors.New("x")) // not tracked: ignored
	if !tr.Up("unknown") {
		t.Fatal("an untracked dependency reads down")
	}
}

func TestDiskProbe(t *testing.T) {
	dir := t.TempDir()
	if err := dependency.DiskProbe(dir, dependency.MinFreeDisk)(context.Background()); err != nil {
		t.Fatalf("probe of a writable directory: %v", err)
	}
	if err := dependency.DiskProbe(dir, 1<<62)(context.Background()); err == nil {
		t.Fatal("a disk with less free space than the threshold passed")
	}
	if err := dependency.DiskProbe(filepath.Join(dir, "gone"), dependency.MinFreeDisk)(context.Background()); err == nil {
		t.Fatal("a missing data directory passed")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("the probe left %d files behind", len(entries))
	}
}

// TestTrackerDrain: draining is a state of the instance, not of a
// dependency; it holds however the probes fare.
func TestTrackerDrain(t *testing.T) {
	tr := dependency.NewTracker(dependency.TrackerOptions{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	tr.Add(dependency.Database, func(context.Context) error { return nil })
	if tr.Draining() {
		t.Fatal("a new tracker is draining")
	}
	tr.Drain()
	tr.Check(context.Background())
	if !tr.Draining() || !tr.Up(dependency.Database) {
		t.Fatalf("after Drain and a passing probe: draining %t, database up %t", tr.Draining(), tr.Up(dependency.Database))
	}
}
