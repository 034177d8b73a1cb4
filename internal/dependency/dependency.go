// Package dependency decides, in one place, whether an error means that a
// dependency of the shop (its database, the disk under its data directory, the
// card vault, Redis) is out of service, and keeps track of each dependency's
// state. An outage is not a bug: the HTTP layer answers it 503 `unavailable`
// with Retry-After instead of the request-id 500 kept for true failures, and
// the log records each dependency going down and coming back once, not once
// per request (issue 11).
//
// Errors are recognized by type and driver code (pgconn, modernc SQLite,
// go-redis, net), never by their text.
package dependency

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// The dependencies the shop names.
const (
	Database = "database"
	Disk     = "disk"
	Vault    = "vault"
	Redis    = "redis"
	// Payment is the card processor behind payment.Gateway (Stripe); its
	// adapter marks what it could not get an answer to.
	Payment = "payment"
)

// Error marks Err as an outage of the dependency Name. A client of a
// dependency that knows it was reached (or not) over the network wraps its
// transport failures with Wrap, so that they are told apart from the
// database's.
type Error struct {
	Name string
	Err  error
}

func (e *Error) Error() string { return e.Name + " unavailable: " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Wrap marks err as an outage of the dependency name; nil stays nil.
func Wrap(name string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Name: name, Err: err}
}

// Classify reports whether err is a dependency outage and, if so, which
// dependency is out. A request cancelled by its own client is not an outage.
func Classify(err error) (name string, outage bool) {
	if err == nil || errors.Is(err, context.Canceled) {
		return "", false
	}
	var marked *Error
	if errors.As(err, &marked) {
		return marked.Name, true
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff { // the primary code; extended codes add detail above it
		case sqlite3.SQLITE_FULL:
			return Disk, true
		case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED,
			sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PROTOCOL:
			return Database, true
		}
		return "", false
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		if pgOutage(pg.Code) {
			return Database, true
		}
		return "", false
	}
	// pgconn.ErrConnClosed: a pooled connection whose socket the driver
	// already found dead (the database went away between two requests); the
	// next statement on it, often a BEGIN, fails with it before reaching the
	// server. It answered 500 on the catalog's reads (issue 12).
	var connect *pgconn.ConnectError
	if errors.As(err, &connect) || pgconn.Timeout(err) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, pgconn.ErrConnClosed) {
		return Database, true
	}
	var rerr redis.Error
	if errors.As(err, &rerr) && redisOutage(rerr) {
		return Redis, true
	}
	if errors.Is(err, redis.ErrClosed) || errors.Is(err, redis.ErrPoolTimeout) {
		return Redis, true
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EROFS) {
		return Disk, true
	}
	// A bare network failure or a deadline on a call: the dependencies reached
	// without a marking client are the database's driver, which returns these
	// for a connection lost mid-query.
	var op *net.OpError
	if errors.As(err, &op) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return Database, true
	}
	return "", false
}

// pgOutage reports whether a PostgreSQL SQLSTATE means the server cannot
// serve now, as opposed to a bad query or a constraint: connection exceptions
// (08), insufficient resources (53: disk full, out of memory, too many
// connections), operator intervention (57P01-57P05: shutting down, cannot
// connect now, idle session timeout), system errors (58), and a read-only
// transaction on a standby during failover (25006).
func pgOutage(code string) bool {
	if len(code) != 5 {
		return false
	}
	switch code[:2] {
	case "08", "53", "58":
		return true
	case "57":
		return code != "57014" // query_canceled: our own statement timeout or cancellation
	}
	return code == "25006"
}

// redisOutage reports whether a Redis server error means the server cannot
// serve now (loading its dataset, a replica in the middle of failover, out of
// memory, busy with a script) rather than a bad command.
func redisOutage(e redis.Error) bool {
	msg := e.Error()
	for _, prefix := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY", "OOM", "NOREPLICAS"} {
		// The error's first word is Redis's error code (the protocol's
		// "-CODE message"), the one part of the text that is an API.
		if len(msg) >= len(prefix) && msg[:len(prefix)] == prefix && (len(msg) == len(prefix) || msg[len(prefix)] == ' ') {
			return true
		}
	}
	return false
}
