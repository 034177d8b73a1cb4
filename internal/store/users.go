package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/identity"
)

var _ identity.Store = (*DB)(nil)

// registrationLock is the PostgreSQL transaction lock that serializes
// registrations (see CreateUser); any constant no other lock uses.
const registrationLock int64 = 0x62756c7761726b01 // "bulwark" + 1

// queryer is what *sql.DB and *sql.Tx share, so read helpers serve both.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// CreateUser inserts u with its roles, and makes the data key under which its
// email and name are sealed.
//
// The email is taken if an account holds its index under any key of the index
// keyset, not only under the primary: during a rotation, an account made
// before it keeps its old index until the re-encryption job recomputes it. The
// unique constraint alone would miss that, and two registrations made on
// either side of a rotation (or on two instances, one of which has not seen
// it yet) could each take the same email. So registrations are serialized
// (SQLite's single writer; a transaction lock on PostgreSQL), each reads the
// index keyset afresh inside the lock before it looks, and each refuses
// (ErrKeysBehind) while the database names a key it does not hold: an
// instance whose data directory has not received the rotated keyset yet.
func (db *DB) CreateUser(ctx context.Context, u identity.User, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.lockRegistrations(ctx, tx); err != nil {
			return err
		}
		return db.createUser(ctx, tx, u, nil, rec)
	})
}

// lockRegistrations serializes, on PostgreSQL, the transactions that judge
// whether an address is free (SQLite has a single writer).
func (db *DB) lockRegistrations(ctx context.Context, tx *sql.Tx) error {
	if db.engine == Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", registrationLock); err != nil {
			return fmt.Errorf("registration lock: %w", err)
		}
	}
	return nil
}

// emailOwner returns the live account, other than except, whose address is
// email or looks like it (the same confusable skeleton), or "". It refuses
// (ErrKeysBehind) while the database names an index key this instance does
// not hold. The caller holds the registration lock.
func (db *DB) emailOwner(ctx context.Context, tx *sql.Tx, email, except string) (string, error) {
	indexes, err := db.emailIndexes(email, true)
	if err != nil {
		return "", err
	}
	if known, err := indexKeysKnown(ctx, tx, indexes); err != nil {
		return "", err
	} else if !known {
		return "", identity.ErrKeysBehind
	}
	skeletons, err := db.emailIndexes(skeletonInput(email), false)
	if err != nil {
		return "", err
	}
	cond, args := indexIn("email_index", indexes, 2)
	skel, skelArgs := indexIn("skeleton_index", skeletons, 2+len(indexes))
	var owner string
	// No guest matches: a guest's email_index is never a blind index and
	// its skeleton_index is NULL (guests.go), so the condition needs only
	// to leave erased accounts out (and reads no column newer than them).
	err = tx.QueryRowContext(ctx, "SELECT id FROM users WHERE id <> $1 AND ("+cond+" OR "+skel+") AND erased_at IS NULL ORDER BY id LIMIT 1",
		append(append([]any{except}, args...), skelArgs...)...).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look for email: %w", err)
	}
	return owner, nil
}

// skeletonInput is what the blind index of an address's confusable skeleton
// is computed over; the prefix keeps it apart from any address's own index
// (no address holds a colon before its @ unquoted).
func skeletonInput(email string) string { return "tr39:" + identity.EmailSkeleton(email) }

// indexesOf returns the blind indexes, under the primary key, of an address
// and of its skeleton, and notes the key in tx.
func (db *DB) indexesOf(ctx context.Context, tx *sql.Tx, email string) (index, skeleton string, err error) {
	indexes, err := db.emailIndexes(email, false)
	if err != nil {
		return "", "", err
	}
	if err := noteIndexKey(ctx, tx, indexes[0].Key); err != nil {
		return "", "", err
	}
	if skeleton, err = db.emailIndex(skeletonInput(email)); err != nil {
		return "", "", err
	}
	return indexes[0].Value, skeleton, nil
}

// createUser inserts u under the registration lock, sealing its contact data
// under wrapped, or under a new subject key when wrapped is nil.
func (db *DB) createUser(ctx context.Context, tx *sql.Tx, u identity.User, wrapped []byte, rec audit.Record) error {
	owner, err := db.emailOwner(ctx, tx, u.Email, u.ID)
	if err != nil {
		return err
	}
	if owner != "" {
		return identity.ErrEmailTaken
	}
	index, skeleton, err := db.indexesOf(ctx, tx, u.Email)
	if err != nil {
		return err
	}
	if wrapped == nil {
		if wrapped, err = db.newSubjectKey(ctx, tx, u.ID, u.CreatedAt); err != nil {
			return err
		}
	}
	sealed, err := db.seal(u.ID, wrapped, contactAt(u.ID), contact{Email: u.Email, Name: u.Name})
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO users (id, email_index, skeleton_index, name, contact, password_hash, created_at, updated_at)
		VALUES ($1, $2, $3, '', $4, $5, $6, $6)`, u.ID, index, skeleton, sealed, u.PasswordHash, micros(u.CreatedAt))
	if isUniqueViolation(err) {
		return identity.ErrEmailTaken
	}
	if err != nil {
		return fmt.Errorf("insert user: %w", err)
	}
	if err := insertRoles(ctx, tx, u.ID, u.Roles); err != nil {
		return err
	}
	return appendAudit(ctx, tx, rec)
}

func insertRoles(ctx context.Context, tx *sql.Tx, userID string, roles []access.Role) error {
	for _, r := range roles {
		if _, err := tx.ExecContext(ctx, "INSERT INTO user_roles (user_id, role) VALUES ($1, $2)", userID, string(r)); err != nil {
			return fmt.Errorf("insert role %s: %w", r, err)
		}
	}
	return nil
}

// userColumns reads an account with its sealed contact data
// and its key, its second factor and its roles, in one statement (every
// authenticated request reads one; on PostgreSQL each statement is a round
// trip). The columns are qualified so that a join (SessionByTokenHash) can
// read them.
const userColumns = "users.id, users.contact, (SELECT k.wrapped FROM subject_keys k WHERE k.subject_id = users.id), users.password_hash, users.created_at, " +
	"(EXISTS (SELECT 1 FROM mfa_totp m WHERE m.user_id = users.id AND m.confirmed = TRUE) " +
	"OR EXISTS (SELECT 1 FROM passkeys p WHERE p.user_id = users.id)), " +
	"(SELECT string_agg(r.role, ',' ORDER BY r.role) FROM user_roles r WHERE r.user_id = users.id)"

// liveUser is the condition that leaves erased accounts out, and guests
// (guests.go), who are never accounts.
const liveUser = " AND erased_at IS NULL AND guest = FALSE"

func (db *DB) scanUser(row rowScanner, before ...any) (identity.User, error) {
	var u identity.User
	var created int64
	var sealed, wrapped []byte
	var roles sql.NullString
	dest := append(before, &u.ID, &sealed, &wrapped, &u.PasswordHash, &created, &u.MFAEnabled, &roles)
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return identity.User{}, identity.ErrNotFound
		}
		return identity.User{}, fmt.Errorf("scan user: %w", err)
	}
	var c contact
	if err := db.open(u.ID, wrapped, contactAt(u.ID), sealed, &c); err != nil {
		return identity.User{}, err
	}
	u.Email, u.Name = c.Email, c.Name
	u.CreatedAt = fromMicros(created)
	u.Roles = knownRoles(roles.String)
	return u, nil
}

// knownRoles is the roles in have (as userColumns joins them, by commas) in
// the canonical order; names this version does not know are dropped.
func knownRoles(have string) []access.Role {
	var roles []access.Role
	if have == "" {
		return roles
	}
	names := strings.Split(have, ",")
	for _, r := range access.Roles() {
		if slices.Contains(names, string(r)) {
			roles = append(roles, r)
		}
	}
	return roles
}

// UserByEmail returns the user with a normalized email, found by its blind index.
// During a rotation of the index keyset the account's index may still be
// under the old key, so it looks for the index under each key.
func (db *DB) UserByEmail(ctx context.Context, email string) (identity.User, error) {
	indexes, err := db.emailIndexes(email, false)
	if err != nil {
		return identity.User{}, err
	}
	cond, args := indexIn("email_index", indexes, 1)
	return db.scanUser(db.sql.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE "+cond+liveUser, args...))
}

// UserByID returns the user with id.
func (db *DB) UserByID(ctx context.Context, id string) (identity.User, error) {
	return db.scanUser(db.sql.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE id = $1"+liveUser, id))
}

// SetPasswordHash replaces a user's password hash.
func (db *DB) SetPasswordHash(ctx context.Context, userID, hash string) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3", hash, micros(time.Now()), userID)
		if err != nil {
			return fmt.Errorf("update password hash: %w", err)
		}
		return mustAffect(res, identity.ErrNotFound)
	})
}

// ChangePassword sets the hash and ends every session but keep.
func (db *DB) ChangePassword(ctx context.Context, userID, hash, keepSessionID string, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3", hash, micros(rec.Time), userID)
		if err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		if err := mustAffect(res, identity.ErrNotFound); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = $1 AND id <> $2", userID, keepSessionID); err != nil {
			return fmt.Errorf("end other sessions: %w", err)
		}
		return appendAudit(ctx, tx, rec)
	})
}

// SetRoles replaces the user's roles and deletes the user's sessions.
func (db *DB) SetRoles(ctx context.Context, userID string, roles []access.Role, rec audit.Record) (identity.User, error) {
	var u identity.User
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE users SET updated_at = $1 WHERE id = $2"+liveUser, micros(rec.Time), userID)
		if err != nil {
			return fmt.Errorf("touch user: %w", err)
		}
		if err := mustAffect(res, identity.ErrNotFound); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM user_roles WHERE user_id = $1", userID); err != nil {
			return fmt.Errorf("clear roles: %w", err)
		}
		if err := insertRoles(ctx, tx, userID, roles); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = $1", userID); err != nil {
			return fmt.Errorf("end sessions: %w", err)
		}
		if err := appendAudit(ctx, tx, rec); err != nil {
			return err
		}
		u, err = db.scanUser(tx.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE id = $1", userID))
		return err
	})
	return u, err
}

// CreateSession stores a new session.
func (db *DB) CreateSession(ctx context.Context, s identity.Session, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		// Only for a live account: a login racing an erasure leaves nothing behind.
		res, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, token_hash, user_id, created_at, last_used_at, expires_at, ip, user_agent)
			SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM users WHERE id = $3 AND erased_at IS NULL)`,
			s.ID, s.TokenHash, s.UserID, micros(s.CreatedAt), micros(s.LastUsedAt), micros(s.ExpiresAt), s.IP, s.UserAgent)
		if err != nil {
			return fmt.Errorf("insert session: %w", err)
		}
		if err := mustAffect(res, identity.ErrNotFound); err != nil {
			return err
		}
		return appendAudit(ctx, tx, rec)
	})
}

// SessionByTokenHash returns the session with tokenHash and its user, read in
// one statement. A session whose account is gone (erased, or a guest's) is
// no session: ErrSessionNotFound either way.
func (db *DB) SessionByTokenHash(ctx context.Context, tokenHash string) (identity.Session, identity.User, error) {
	var s identity.Session
	var created, used, expires int64
	u, err := db.scanUser(db.sql.QueryRowContext(ctx, `SELECT s.id, s.token_hash, s.user_id, s.created_at, s.last_used_at, s.expires_at, s.ip, s.user_agent,
		`+userColumns+` FROM sessions s JOIN users ON users.id = s.user_id
		WHERE s.token_hash = $1 AND users.erased_at IS NULL AND users.guest = FALSE`, tokenHash),
		&s.ID, &s.TokenHash, &s.UserID, &created, &used, &expires, &s.IP, &s.UserAgent)
	if errors.Is(err, identity.ErrNotFound) {
		return identity.Session{}, identity.User{}, identity.ErrSessionNotFound
	}
	if err != nil {
		return identity.Session{}, identity.User{}, fmt.Errorf("read session: %w", err)
	}
	s.CreatedAt, s.LastUsedAt, s.ExpiresAt = fromMicros(created), fromMicros(used), fromMicros(expires)
	return s, u, nil
}

// TouchSession records a session's last use.
func (db *DB) TouchSession(ctx context.Context, sessionID string, at time.Time) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE sessions SET last_used_at = $1 WHERE id = $2", micros(at), sessionID); err != nil {
			return fmt.Errorf("touch session: %w", err)
		}
		return nil
	})
}

// DeleteSession ends a session and appends rec when given.
func (db *DB) DeleteSession(ctx context.Context, sessionID string, rec *audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE id = $1", sessionID); err != nil {
			return fmt.Errorf("delete session: %w", err)
		}
		if rec == nil {
			return nil
		}
		return appendAudit(ctx, tx, *rec)
	})
}

// Sessions lists a user's sessions, newest first.
func (db *DB) Sessions(ctx context.Context, userID string) ([]identity.Session, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT id, token_hash, user_id, created_at, last_used_at, expires_at, ip, user_agent
		FROM sessions WHERE user_id = $1 ORDER BY created_at DESC, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var out []identity.Session
	for rows.Next() {
		var s identity.Session
		var created, used, expires int64
		if err := rows.Scan(&s.ID, &s.TokenHash, &s.UserID, &created, &used, &expires, &s.IP, &s.UserAgent); err != nil {
			return nil, fmt.Errorf("scan session: %w", err)
		}
		s.CreatedAt, s.LastUsedAt, s.ExpiresAt = fromMicros(created), fromMicros(used), fromMicros(expires)
		out = append(out, s)
	}
	return out, rows.Err()
}

// DeleteUserSession ends one of the user's sessions.
func (db *DB) DeleteUserSession(ctx context.Context, userID, sessionID string, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE id = $1 AND user_id = $2", sessionID, userID)
		if err != nil {
			return fmt.Errorf("delete session: %w", err)
		}
		if err := mustAffect(res, identity.ErrSessionNotFound); err != nil {
			return err
		}
		return appendAudit(ctx, tx, rec)
	})
}

// mustAffect returns notFound when res changed no row.
func mustAffect(res sql.Result, notFound error) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("rows affected: %w", err)
	}
	if n == 0 {
		return notFound
	}
	return nil
}
