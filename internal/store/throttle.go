package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/throttle"
)

// LoginThrottle keeps the login throttle's counters and locks in the shop
// database, so that a lockout survives a Redis restart (Redis without
// persistence forgot them all) and a restart of the shop, and every instance
// on the database shares it. Each method is one statement; time comes from now.
type LoginThrottle struct {
	db  *DB
	now func() time.Time
}

var _ throttle.Store = (*LoginThrottle)(nil)

// LoginThrottle returns the throttle store on db, reading time from now.
func (db *DB) LoginThrottle(now func() time.Time) *LoginThrottle {
	return &LoginThrottle{db: db, now: now}
}

// Incr adds one to key, starting a new count (expiring window from now) when
// the old one has expired, in one atomic upsert.
func (t *LoginThrottle) Incr(ctx context.Context, key string, window time.Duration) (int64, error) {
	now := t.now()
	var n int64
	err := t.db.write.QueryRowContext(ctx, `INSERT INTO login_throttle (key, n, expires_at) VALUES ($1, 1, $2)
ON CONFLICT (key) DO UPDATE SET
  n = CASE WHEN login_throttle.expires_at <= $3 THEN 1 ELSE login_throttle.n + 1 END,
  expires_at = CASE WHEN login_throttle.expires_at <= $3 THEN $2 ELSE login_throttle.expires_at END
RETURNING n`, key, micros(now.Add(window)), micros(now)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count login failure: %w", err)
	}
	return n, nil
}

// Reset forgets key.
func (t *LoginThrottle) Reset(ctx context.Context, key string) error {
	if _, err := t.db.write.ExecContext(ctx, "DELETE FROM login_throttle WHERE key = $1", key); err != nil {
		return fmt.Errorf("reset login count: %w", err)
	}
	return nil
}

// Lock locks key for d from now.
func (t *LoginThrottle) Lock(ctx context.Context, key string, d time.Duration) error {
	_, err := t.db.write.ExecContext(ctx, `INSERT INTO login_throttle (key, n, expires_at) VALUES ($1, 1, $2)
ON CONFLICT (key) DO UPDATE SET n = 1, expires_at = $2`, key, micros(t.now().Add(d)))
	if err != nil {
		return fmt.Errorf("lock login: %w", err)
	}
	return nil
}

// Locked returns how long key stays locked, or 0.
func (t *LoginThrottle) Locked(ctx context.Context, key string) (time.Duration, error) {
	now := t.now()
	var until int64
	err := t.db.sql.QueryRowContext(ctx, "SELECT expires_at FROM login_throttle WHERE key = $1 AND expires_at > $2",
		key, micros(now)).Scan(&until)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read login lock: %w", err)
	}
	return fromMicros(until).Sub(now), nil
}
