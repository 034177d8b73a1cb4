package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/identity"
)

var _ identity.VerifyStore = (*DB)(nil)

// verificationAt is where a pending address is sealed.
func verificationAt(tokenHash string) string { return "email_verifications/" + tokenHash }

// pending is the sealed part of a verification.
type pending struct {
	Email string `json:"e"`
	Name  string `json:"n,omitempty"`
}

// PendRegistration keeps a registration until its address is verified (see
// migration 0012). Expired registrations go first, with the keys made for
// them, so nothing of a person who never confirmed stays readable.
func (db *DB) PendRegistration(ctx context.Context, v identity.Verification, perAddress int, window time.Duration) (identity.Pending, error) {
	var out identity.Pending
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.lockRegistrations(ctx, tx); err != nil {
			return err
		}
		if err := sweepVerifications(ctx, tx, v.CreatedAt); err != nil {
			return err
		}
		owner, err := db.emailOwner(ctx, tx, v.Email, "")
		if err != nil || owner != "" {
			out.OwnerID = owner
			return err
		}
		if out.Limited, err = db.addressLimited(ctx, tx, v.Email, v.CreatedAt.Add(-window), perAddress); err != nil || out.Limited {
			return err
		}
		wrapped, err := db.newSubjectKey(ctx, tx, v.UserID, v.CreatedAt)
		if err != nil {
			return err
		}
		return db.insertVerification(ctx, tx, v, wrapped)
	})
	return out, err
}

// PendEmailChange keeps an account's new address until it is verified,
// replacing an earlier pending change of the account.
func (db *DB) PendEmailChange(ctx context.Context, v identity.Verification, perAddress int, window time.Duration, rec audit.Record) (identity.Pending, error) {
	var out identity.Pending
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.lockRegistrations(ctx, tx); err != nil {
			return err
		}
		if err := sweepVerifications(ctx, tx, v.CreatedAt); err != nil {
			return err
		}
		owner, err := db.emailOwner(ctx, tx, v.Email, v.UserID)
		if err != nil || owner != "" {
			out.OwnerID = owner
			return err
		}
		if out.Limited, err = db.addressLimited(ctx, tx, v.Email, v.CreatedAt.Add(-window), perAddress); err != nil || out.Limited {
			return err
		}
		wrapped, err := subjectKey(ctx, tx, v.UserID)
		if err != nil {
			return err
		}
		if wrapped == nil {
			return identity.ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM email_verifications WHERE user_id = $1 AND purpose = $2", v.UserID, identity.PurposeEmailChange); err != nil {
			return fmt.Errorf("replace pending email change: %w", err)
		}
		if err := db.insertVerification(ctx, tx, v, wrapped); err != nil {
			return err
		}
		return appendAudit(ctx, tx, rec)
	})
	return out, err
}

// sweepVerifications deletes expired verifications, and the subject keys of
// the registrations among them (never an account's: it has no such row).
func sweepVerifications(ctx context.Context, tx *sql.Tx, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM subject_keys WHERE subject_id IN
		(SELECT user_id FROM email_verifications WHERE purpose = $1 AND expires_at <= $2)
		AND NOT EXISTS (SELECT 1 FROM users WHERE users.id = subject_keys.subject_id)`, identity.PurposeRegister, micros(now)); err != nil {
		return fmt.Errorf("sweep keys of expired registrations: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM email_verifications WHERE expires_at <= $1", micros(now)); err != nil {
		return fmt.Errorf("sweep expired verifications: %w", err)
	}
	return nil
}

// addressLimited reports whether email got max verifications since since.
func (db *DB) addressLimited(ctx context.Context, tx *sql.Tx, email string, since time.Time, max int) (bool, error) {
	index, err := db.emailIndex(email)
	if err != nil {
		return false, err
	}
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM email_verifications WHERE email_index = $1 AND created_at > $2",
		index, micros(since)).Scan(&n); err != nil {
		return false, fmt.Errorf("count verifications of an address: %w", err)
	}
	return n >= max, nil
}

func (db *DB) insertVerification(ctx context.Context, tx *sql.Tx, v identity.Verification, wrapped []byte) error {
	index, err := db.emailIndex(v.Email)
	if err != nil {
		return err
	}
	sealed, err := db.seal(v.UserID, wrapped, verificationAt(v.TokenHash), pending{Email: v.Email, Name: v.Name})
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO email_verifications (token_hash, purpose, user_id, email_index, sealed, password_hash, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, v.TokenHash, v.Purpose, v.UserID, index, sealed, v.PasswordHash, micros(v.CreatedAt), micros(v.ExpiresAt)); err != nil {
		return fmt.Errorf("insert verification: %w", err)
	}
	return nil
}

// UseVerification consumes a verification token and makes its account or
// sets its new address, in one transaction.
func (db *DB) UseVerification(ctx context.Context, tokenHash string, now time.Time, rec func(identity.Verification) audit.Record) (identity.Verified, error) {
	var out identity.Verified
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.lockRegistrations(ctx, tx); err != nil {
			return err
		}
		v := identity.Verification{TokenHash: tokenHash}
		var sealed []byte
		var created, expires int64
		err := tx.QueryRowContext(ctx, `DELETE FROM email_verifications WHERE token_hash = $1 AND expires_at > $2
			RETURNING purpose, user_id, sealed, password_hash, created_at, expires_at`, tokenHash, micros(now)).
			Scan(&v.Purpose, &v.UserID, &sealed, &v.PasswordHash, &created, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return identity.ErrInvalidVerifyToken
		}
		if err != nil {
			return fmt.Errorf("use verification: %w", err)
		}
		v.CreatedAt, v.ExpiresAt = fromMicros(created), fromMicros(expires)
		wrapped, err := subjectKey(ctx, tx, v.UserID)
		if err != nil {
			return err
		}
		if wrapped == nil {
			return identity.ErrInvalidVerifyToken // the account was erased meanwhile
		}
		var p pending
		if err := db.open(v.UserID, wrapped, verificationAt(tokenHash), sealed, &p); err != nil {
			return err
		}
		v.Email, v.Name = p.Email, p.Name
		out.Purpose = v.Purpose
		switch v.Purpose {
		case identity.PurposeRegister:
			// Other registrations of the address stop working: it has its account now.
			u := identity.User{ID: v.UserID, Email: v.Email, Name: v.Name, Roles: []access.Role{access.Customer},
				PasswordHash: v.PasswordHash, CreatedAt: now}
			if err := db.createUser(ctx, tx, u, wrapped, rec(v)); err != nil {
				return err
			}
		case identity.PurposeEmailChange:
			if out.PreviousEmail, err = db.setEmail(ctx, tx, v.UserID, v.Email, wrapped, now); err != nil {
				return err
			}
			if err := appendAudit(ctx, tx, rec(v)); err != nil {
				return err
			}
		default:
			return fmt.Errorf("verification of unknown purpose %q", v.Purpose)
		}
		out.User, err = db.scanUser(tx.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE id = $1"+liveUser, v.UserID))
		return err
	})
	return out, err
}

// setEmail gives a live account a new address (its index, its skeleton's,
// its sealed contact), unless another account has it or one like it, and
// returns the old address.
func (db *DB) setEmail(ctx context.Context, tx *sql.Tx, userID, email string, wrapped []byte, now time.Time) (string, error) {
	owner, err := db.emailOwner(ctx, tx, email, userID)
	if err != nil {
		return "", err
	}
	if owner != "" {
		return "", identity.ErrEmailTaken
	}
	u, err := db.scanUser(tx.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE id = $1"+liveUser, userID))
	if err != nil {
		return "", err
	}
	index, skeleton, err := db.indexesOf(ctx, tx, email)
	if err != nil {
		return "", err
	}
	sealed, err := db.seal(userID, wrapped, contactAt(userID), contact{Email: email, Name: u.Name})
	if err != nil {
		return "", err
	}
	_, err = tx.ExecContext(ctx, "UPDATE users SET email_index = $1, skeleton_index = $2, contact = $3, updated_at = $4 WHERE id = $5",
		index, skeleton, sealed, micros(now), userID)
	if isUniqueViolation(err) {
		return "", identity.ErrEmailTaken
	}
	if err != nil {
		return "", fmt.Errorf("set email: %w", err)
	}
	return u.Email, nil
}

// SetName replaces a live account's name in its sealed contact data.
func (db *DB) SetName(ctx context.Context, userID, name string, rec audit.Record) (identity.User, error) {
	var u identity.User
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		u, err = db.scanUser(tx.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE id = $1"+liveUser, userID))
		if err != nil {
			return err
		}
		wrapped, err := subjectKey(ctx, tx, userID)
		if err != nil {
			return err
		}
		sealed, err := db.seal(userID, wrapped, contactAt(userID), contact{Email: u.Email, Name: name})
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE users SET contact = $1, updated_at = $2 WHERE id = $3", sealed, micros(rec.Time), userID); err != nil {
			return fmt.Errorf("set name: %w", err)
		}
		u.Name = name
		return appendAudit(ctx, tx, rec)
	})
	return u, err
}

// mailQuotaLock serializes, on PostgreSQL, the count-then-insert of mail quotas.
const mailQuotaLock int64 = 0x62756c7761726b02 // "bulwark" + 2

// TakeMailQuota counts a mail to subject within the limit.
func (db *DB) TakeMailQuota(ctx context.Context, subject string, now time.Time, window time.Duration, max int) (bool, error) {
	ok := false
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if db.engine == Postgres {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", mailQuotaLock); err != nil {
				return fmt.Errorf("mail quota lock: %w", err)
			}
		}
		since := micros(now.Add(-window))
		if _, err := tx.ExecContext(ctx, "DELETE FROM mail_quota WHERE sent_at <= $1", since); err != nil {
			return fmt.Errorf("sweep mail quota: %w", err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM mail_quota WHERE subject = $1", subject).Scan(&n); err != nil {
			return fmt.Errorf("count mails: %w", err)
		}
		if n >= max {
			return nil
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO mail_quota (subject, sent_at) VALUES ($1, $2)", subject, micros(now)); err != nil {
			return fmt.Errorf("count a mail: %w", err)
		}
		ok = true
		return nil
	})
	return ok, err
}

// BackfillSkeletonIndexes computes the skeleton index of the live accounts
// that have none (made before migration 0012), in batches; it runs at every
// start and finds nothing to do once done.
func (db *DB) BackfillSkeletonIndexes(ctx context.Context) (int, error) {
	if db.pii == nil {
		return 0, errNoCipher
	}
	total := 0
	for {
		n := 0
		err := db.inTx(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, `SELECT id, contact, (SELECT k.wrapped FROM subject_keys k WHERE k.subject_id = users.id)
				FROM users WHERE skeleton_index IS NULL AND contact IS NOT NULL`+liveUser+` ORDER BY id LIMIT 200`)
			if err != nil {
				return fmt.Errorf("list accounts without a skeleton index: %w", err)
			}
			type row struct {
				id              string
				sealed, wrapped []byte
			}
			var batch []row
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.id, &r.sealed, &r.wrapped); err != nil {
					rows.Close()
					return fmt.Errorf("scan account: %w", err)
				}
				batch = append(batch, r)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("list accounts without a skeleton index: %w", err)
			}
			for _, r := range batch {
				var c contact
				if err := db.open(r.id, r.wrapped, contactAt(r.id), r.sealed, &c); err != nil {
					return fmt.Errorf("account %s: %w", r.id, err)
				}
				skel, err := db.emailIndex(skeletonInput(c.Email))
				if err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, "UPDATE users SET skeleton_index = $1 WHERE id = $2", skel, r.id); err != nil {
					return fmt.Errorf("skeleton index of %s: %w", r.id, err)
				}
			}
			n = len(batch)
			return nil
		})
		total += n
		if err != nil || n < 200 {
			return total, err
		}
	}
}

// PendingEmail returns the live, unverified new address of userID, or "".
func (db *DB) PendingEmail(ctx context.Context, userID string, now time.Time) (string, error) {
	var tokenHash string
	var sealed []byte
	err := db.sql.QueryRowContext(ctx, `SELECT token_hash, sealed FROM email_verifications
		WHERE user_id = $1 AND purpose = $2 AND expires_at > $3 ORDER BY created_at DESC LIMIT 1`,
		userID, identity.PurposeEmailChange, micros(now)).Scan(&tokenHash, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read pending email: %w", err)
	}
	wrapped, err := subjectKey(ctx, db.sql, userID)
	if err != nil {
		return "", err
	}
	var p pending
	if err := db.open(userID, wrapped, verificationAt(tokenHash), sealed, &p); err != nil {
		return "", err
	}
	return p.Email, nil
}
