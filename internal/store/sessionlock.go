package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"fmt"

	"github.com/bulwark-shop/bulwark/internal/leader"
)

var _ leader.Locker = (*DB)(nil)

// SessionLock is a PostgreSQL session-level advisory lock held on a
// connection of its own, taken out of the pool for the lock's life. The
// lock lasts as long as that session: released by Release, and by
// PostgreSQL when the session ends (the process died, the connection
// broke), so a crashed holder never keeps it. On SQLite, which serves one
// process, a SessionLock is always held and has no connection.
type SessionLock struct {
	conn *sql.Conn // nil on SQLite
	key  int64
}

// TryLock takes the advisory lock named name without waiting
// (pg_try_advisory_lock) on a dedicated connection. It returns nil and no
// error when another session holds it. Names are hashed to the lock's
// 64-bit key: callers namespace them (advisory locks are per database, and
// several shops may share one in different schemas). The connection needs
// to reach PostgreSQL itself, or a pooler in session mode: a pooler in
// transaction mode would hand the session, and the lock, to another client.
func (db *DB) TryLock(ctx context.Context, name string) (leader.Lock, error) {
	if db.engine != Postgres {
		return &SessionLock{}, nil
	}
	key := advisoryKey(name)
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	var got bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
		discard(conn)
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	if !got {
		conn.Close() // back to the pool: this session holds nothing
		return nil, nil
	}
	return &SessionLock{conn: conn, key: key}, nil
}

// Check returns nil while the lock's session answers, which is while it
// holds the lock: nothing else unlocks on its connection. An error means
// the lock must be taken as lost (PostgreSQL frees it when it sees the
// session gone, which may already have happened).
func (l *SessionLock) Check(ctx context.Context) error {
	if l.conn == nil {
		return nil
	}
	return l.conn.PingContext(ctx)
}

// Release gives the lock up by closing its session, which frees it at
// once, the path a holder that dies takes too. The connection is closed,
// never returned to the pool with a lock on it.
func (l *SessionLock) Release() {
	if l.conn != nil {
		discard(l.conn)
	}
}

// discard closes conn's session rather than returning it to the pool.
func discard(conn *sql.Conn) {
	// A driver.ErrBadConn from Raw makes database/sql close the
	// connection instead of pooling it.
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}

// advisoryKey is name's advisory lock key: the first 8 bytes of its SHA-256.
func advisoryKey(name string) int64 {
	sum := sha256.Sum256([]byte("bulwark advisory lock\x00" + name))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}
