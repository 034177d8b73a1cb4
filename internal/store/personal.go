package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/pii"
)

// Personal data is sealed here, in the one layer that writes it, so no domain
// code can store a name, an email, a phone number or an address in the clear
// by mistake: the columns that hold them take only ciphertext from package pii,
// under the key of the person they describe (their subject key, in
// subject_keys). Country stays in the clear on orders: it is needed for
// accounting and tax after an erasure, and alone it identifies nobody.

// UsePersonalData gives db the cipher for personal data. Without it, methods
// that read or write a person's contact data or an address fail; the
// maintenance commands that touch none (migrate, audit verify) need none.
func (db *DB) UsePersonalData(c *pii.Cipher) { db.pii = c }

var errNoCipher = errors.New("personal data cipher not configured")

// contact is a person's sealed contact data.
type contact struct {
	Email string `json:"e"`
	Name  string `json:"n"`
}

// Where each sealed value lives: its associated data, so a ciphertext copied
// to another row or column does not open.
func contactAt(userID string) string   { return "users/" + userID + "/contact" }
func shippingAt(orderID string) string { return "orders/" + orderID + "/shipping" }
func answerAt(owner, scope, key string) string {
	return "idempotency_keys/" + owner + "/" + scope + "/" + key
}

// newSubjectKey makes and stores subject's data key, returning it wrapped.
func (db *DB) newSubjectKey(ctx context.Context, tx *sql.Tx, subject string, at time.Time) ([]byte, error) {
	if db.pii == nil {
		return nil, errNoCipher
	}
	wrapped, err := db.pii.NewSubjectKey(subject)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO subject_keys (subject_id, wrapped, created_at) VALUES ($1, $2, $3)",
		subject, wrapped, micros(at)); err != nil {
		return nil, fmt.Errorf("store key of %s: %w", subject, err)
	}
	return wrapped, nil
}

// ensureSubjectKey returns subject's wrapped key, making it when there is
// none. Two instances sealing the same old rows at once agree on one key: the
// insert that comes second does nothing, and both read the one stored.
func (db *DB) ensureSubjectKey(ctx context.Context, tx *sql.Tx, subject string, at time.Time) ([]byte, error) {
	if db.pii == nil {
		return nil, errNoCipher
	}
	wrapped, err := db.pii.NewSubjectKey(subject)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO subject_keys (subject_id, wrapped, created_at) VALUES ($1, $2, $3) ON CONFLICT (subject_id) DO NOTHING",
		subject, wrapped, micros(at)); err != nil {
		return nil, fmt.Errorf("store key of %s: %w", subject, err)
	}
	return subjectKey(ctx, tx, subject)
}

// subjectKey returns subject's wrapped key, or nil when it was destroyed.
func subjectKey(ctx context.Context, q queryer, subject string) ([]byte, error) {
	var wrapped []byte
	err := q.QueryRowContext(ctx, "SELECT wrapped FROM subject_keys WHERE subject_id = $1", subject).Scan(&wrapped)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read key of %s: %w", subject, err)
	}
	return wrapped, nil
}

// seal encodes v as JSON and seals it for subject at where.
func (db *DB) seal(subject string, wrapped []byte, where string, v any) ([]byte, error) {
	if db.pii == nil {
		return nil, errNoCipher
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", where, err)
	}
	return db.pii.Seal(subject, wrapped, where, b)
}

// open decodes what seal sealed into v. A value whose subject was erased
// (no key, or no ciphertext) leaves v as it is and returns nil: the row stays
// readable, without the person in it.
func (db *DB) open(subject string, wrapped []byte, where string, ciphertext []byte, v any) error {
	if ciphertext == nil || wrapped == nil {
		return nil
	}
	if db.pii == nil {
		return errNoCipher
	}
	b, err := db.pii.Open(subject, wrapped, where, ciphertext)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", where, err)
	}
	return nil
}

// emailIndex is the blind index of a normalized email, to store.
func (db *DB) emailIndex(email string) (string, error) {
	if db.pii == nil {
		return "", errNoCipher
	}
	return db.pii.EmailIndex(email)
}

// emailIndexes is the blind indexes of a normalized email to look for: under
// every key of the index keyset, the primary's first (see pii.EmailIndexes).
func (db *DB) emailIndexes(email string, refresh bool) ([]pii.Index, error) {
	if db.pii == nil {
		return nil, errNoCipher
	}
	return db.pii.EmailIndexes(email, refresh)
}

// indexIn is the condition "column is one of indexes", with its arguments
// numbered from first.
func indexIn(column string, indexes []pii.Index, first int) (string, []any) {
	marks := make([]string, len(indexes))
	args := make([]any, len(indexes))
	for i, x := range indexes {
		marks[i] = "$" + strconv.Itoa(first+i)
		args[i] = x.Value
	}
	return column + " IN (" + strings.Join(marks, ", ") + ")", args
}

// noteIndexKey records, in tx, that indexes are being stored under key (see
// migration 0011_index_keys).
func noteIndexKey(ctx context.Context, tx *sql.Tx, key uint32) error {
	if _, err := tx.ExecContext(ctx, "INSERT INTO index_keys (key_id) VALUES ($1) ON CONFLICT DO NOTHING", int64(key)); err != nil {
		return fmt.Errorf("note blind-index key: %w", err)
	}
	return nil
}

// indexKeysKnown reports whether every key some account's index may be under
// is among indexes' keys: when not, this instance has not read the rotated
// index keyset yet, and cannot tell whether an email is taken.
func indexKeysKnown(ctx context.Context, tx *sql.Tx, indexes []pii.Index) (bool, error) {
	rows, err := tx.QueryContext(ctx, "SELECT key_id FROM index_keys")
	if err != nil {
		return false, fmt.Errorf("read blind-index keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return false, fmt.Errorf("read blind-index keys: %w", err)
		}
		if !slices.ContainsFunc(indexes, func(x pii.Index) bool { return int64(x.Key) == id }) {
			return false, nil
		}
	}
	return true, rows.Err()
}

// RecomputeEmailIndexes is the re-encryption of the index keyset: it computes
// again, under the primary key, the blind index of each live account after
// after (up to limit, by id) whose index is under an older key, from the email
// sealed in the account. Each row is a compare-and-set on its old index, so
// several instances may run it at once. Until it is through, lookups try every
// key (emailIndexes), so a rotation never hides an account.
func (db *DB) RecomputeEmailIndexes(ctx context.Context, after string, limit int) (next string, done bool, err error) {
	if db.pii == nil {
		return "", false, errNoCipher
	}
	type row struct {
		id, index       string
		sealed, wrapped []byte
	}
	var batch []row
	err = db.inSnapshot(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, email_index, contact, (SELECT k.wrapped FROM subject_keys k WHERE k.subject_id = users.id)
			FROM users WHERE id > $1 AND contact IS NOT NULL`+liveUser+` ORDER BY id LIMIT $2`, after, limit)
		if err != nil {
			return fmt.Errorf("list accounts: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.index, &r.sealed, &r.wrapped); err != nil {
				return fmt.Errorf("scan account: %w", err)
			}
			batch = append(batch, r)
		}
		return rows.Err()
	})
	if err != nil {
		return after, false, err
	}
	done = len(batch) < limit
	primary, enabled := db.pii.IndexKeys()
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		if len(batch) > 0 {
			if err := noteIndexKey(ctx, tx, primary); err != nil {
				return err
			}
		}
		if done {
			// Every account is under the primary now; an instance that
			// still registers under an older key notes it again. Only keys
			// this instance knows are dropped: one newer than its keyset is not.
			for _, id := range enabled {
				if id == primary {
					continue
				}
				if _, err := tx.ExecContext(ctx, "DELETE FROM index_keys WHERE key_id = $1", int64(id)); err != nil {
					return fmt.Errorf("drop blind-index key %d: %w", id, err)
				}
			}
		}
		for _, r := range batch {
			var c contact
			if err := db.open(r.id, r.wrapped, contactAt(r.id), r.sealed, &c); err != nil {
				return fmt.Errorf("account %s: %w", r.id, err)
			}
			index, err := db.emailIndex(c.Email)
			if err != nil {
				return err
			}
			if index != r.index {
				// The skeleton's index moves to the primary key with the address's.
				skeleton, err := db.emailIndex(skeletonInput(c.Email))
				if err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, "UPDATE users SET email_index = $1, skeleton_index = $2 WHERE id = $3 AND email_index = $4",
					index, skeleton, r.id, r.index); err != nil {
					return fmt.Errorf("index of account %s: %w", r.id, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return after, false, err
	}
	if len(batch) == 0 {
		return after, done, nil
	}
	return batch[len(batch)-1].id, done, nil
}

// SealLegacy seals the personal data that an earlier version stored in the
// clear: accounts' emails and names, and orders' addresses, also where an
// order is kept as a stored answer to an idempotent request; orders counts both. It runs at every
// start and finds nothing to do once done; each batch is one transaction, so
// a crash loses nothing, and several instances may run it at once.
func (db *DB) SealLegacy(ctx context.Context, now time.Time) (users, orders int, err error) {
	if db.pii == nil {
		return 0, 0, errNoCipher
	}
	for {
		n, err := db.sealLegacyUsers(ctx, now)
		users += n
		if err != nil || n == 0 {
			if err != nil {
				return users, orders, err
			}
			break
		}
	}
	for _, step := range []func(context.Context) (int, error){db.sealLegacyOrders, db.sealLegacyAnswers} {
		for {
			n, err := step(ctx)
			orders += n
			if err != nil {
				return users, orders, err
			}
			if n == 0 {
				break
			}
		}
	}
	return users, orders, nil
}

const legacyBatch = 100

func (db *DB) sealLegacyUsers(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		type legacy struct{ id, email, name string }
		rows, err := tx.QueryContext(ctx, "SELECT id, email_index, name FROM users WHERE contact IS NULL"+liveUser+" ORDER BY id LIMIT $1", legacyBatch)
		if err != nil {
			return fmt.Errorf("find legacy accounts: %w", err)
		}
		var todo []legacy
		for rows.Next() {
			var l legacy
			if err := rows.Scan(&l.id, &l.email, &l.name); err != nil {
				rows.Close()
				return fmt.Errorf("scan legacy account: %w", err)
			}
			todo = append(todo, l)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("find legacy accounts: %w", err)
		}
		for _, l := range todo {
			wrapped, err := db.ensureSubjectKey(ctx, tx, l.id, now)
			if err != nil {
				return err
			}
			sealed, err := db.seal(l.id, wrapped, contactAt(l.id), contact{Email: l.email, Name: l.name})
			if err != nil {
				return err
			}
			indexes, err := db.emailIndexes(l.email, false)
			if err != nil {
				return err
			}
			if err := noteIndexKey(ctx, tx, indexes[0].Key); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "UPDATE users SET email_index = $1, name = '', contact = $2 WHERE id = $3 AND contact IS NULL",
				indexes[0].Value, sealed, l.id); err != nil {
				return fmt.Errorf("seal account %s: %w", l.id, err)
			}
		}
		n = len(todo)
		return nil
	})
	return n, err
}

func (db *DB) sealLegacyOrders(ctx context.Context) (int, error) {
	n := 0
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		type legacy struct {
			id, customer string
			a            order.Address
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, customer_id, ship_name, ship_line1, ship_line2, ship_city, ship_postal_code, ship_phone
			FROM orders WHERE ship_sealed IS NULL ORDER BY id LIMIT $1`, legacyBatch)
		if err != nil {
			return fmt.Errorf("find legacy orders: %w", err)
		}
		var todo []legacy
		for rows.Next() {
			var l legacy
			if err := rows.Scan(&l.id, &l.customer, &l.a.Name, &l.a.Line1, &l.a.Line2, &l.a.City, &l.a.PostalCode, &l.a.Phone); err != nil {
				rows.Close()
				return fmt.Errorf("scan legacy order: %w", err)
			}
			todo = append(todo, l)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("find legacy orders: %w", err)
		}
		for _, l := range todo {
			sealed, err := db.sealShipping(ctx, tx, l.customer, l.id, l.a)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE orders SET ship_sealed = $1, ship_name = '', ship_line1 = '', ship_line2 = '',
				ship_city = '', ship_postal_code = '', ship_phone = '' WHERE id = $2 AND ship_sealed IS NULL`, sealed, l.id); err != nil {
				return fmt.Errorf("seal order %s: %w", l.id, err)
			}
		}
		n = len(todo)
		return nil
	})
	return n, err
}

func (db *DB) sealLegacyAnswers(ctx context.Context) (int, error) {
	n := 0
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		type legacy struct{ owner, scope, key, answer string }
		// A plain storedAnswer (it starts {"v":, as encoding/json writes the
		// record's first field first) is an answer without a person, kept so
		// on purpose; anything else in the clear is an order from before.
		rows, err := tx.QueryContext(ctx, `SELECT owner_id, scope, idem_key, order_json FROM idempotency_keys
			WHERE order_json <> '' AND order_json NOT LIKE '{"v":%' ORDER BY owner_id, scope, idem_key LIMIT $1`, legacyBatch)
		if err != nil {
			return fmt.Errorf("find legacy answers: %w", err)
		}
		var todo []legacy
		for rows.Next() {
			var l legacy
			if err := rows.Scan(&l.owner, &l.scope, &l.key, &l.answer); err != nil {
				rows.Close()
				return fmt.Errorf("scan legacy answer: %w", err)
			}
			todo = append(todo, l)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("find legacy answers: %w", err)
		}
		for _, l := range todo {
			o, err := decodeAnswer([]byte(l.answer))
			if err != nil {
				return fmt.Errorf("read legacy answer: %w", err)
			}
			wrapped, err := subjectKey(ctx, tx, o.CustomerID)
			if err != nil {
				return err
			}
			if wrapped == nil {
				// The customer is gone: the answer stays (a retried refund
				// must replay, not refund again; deleting it freed the key),
				// without the person, as the erasure keeps answers.
				plain, err := encodeAnswer(withoutPerson(o))
				if err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, "UPDATE idempotency_keys SET order_json = $1 WHERE owner_id = $2 AND scope = $3 AND idem_key = $4",
					string(plain), l.owner, l.scope, l.key); err != nil {
					return fmt.Errorf("strip answer: %w", err)
				}
				continue
			}
			sealed, err := db.seal(o.CustomerID, wrapped, answerAt(l.owner, l.scope, l.key), newStoredAnswer(o))
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET order_json = '', order_sealed = $1, sealed_for = $2
				WHERE owner_id = $3 AND scope = $4 AND idem_key = $5`, sealed, o.CustomerID, l.owner, l.scope, l.key); err != nil {
				return fmt.Errorf("seal answer: %w", err)
			}
		}
		n = len(todo)
		return nil
	})
	return n, err
}

// RewrapSubjectKeys wraps up to limit data keys, those of subjects after the
// cursor after (in id order), again under the pii keyset's current primary
// key, and returns the cursor to continue from; done when none are left. A
// rotation runs it until done, after which the pii keyset's older keys wrap
// nothing and can be retired: any copy of a destroyed data key that lingers
// (a database's dead rows or log, a backup) is then wrapped under a key that
// no longer exists. Each batch is one transaction, and a key erased meanwhile
// is not brought back: the update matches the row only while it exists.
func (db *DB) RewrapSubjectKeys(ctx context.Context, after string, limit int) (next string, done bool, err error) {
	if db.pii == nil {
		return "", false, errNoCipher
	}
	next = after
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		type row struct {
			subject string
			wrapped []byte
		}
		rows, err := tx.QueryContext(ctx, "SELECT subject_id, wrapped FROM subject_keys WHERE subject_id > $1 ORDER BY subject_id LIMIT $2", after, limit)
		if err != nil {
			return fmt.Errorf("list data keys: %w", err)
		}
		var batch []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.subject, &r.wrapped); err != nil {
				rows.Close()
				return fmt.Errorf("scan data key: %w", err)
			}
			batch = append(batch, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list data keys: %w", err)
		}
		for _, r := range batch {
			w, err := db.pii.Rewrap(r.subject, r.wrapped)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "UPDATE subject_keys SET wrapped = $1 WHERE subject_id = $2", w, r.subject); err != nil {
				return fmt.Errorf("rewrap key of %s: %w", r.subject, err)
			}
			next = r.subject
		}
		done = len(batch) < limit
		return nil
	})
	return next, done, err
}

// EmailIndex implements checkout.EmailIndexer: the blind index of a
// normalized email under the index keyset's primary key, as an account's is
// kept (a guest's email in fraud scoring's velocity).
func (db *DB) EmailIndex(email string) (string, error) {
	if db.pii == nil {
		return "", errNoCipher
	}
	return db.pii.EmailIndex(email)
}

// AccountEmailIndex implements scoring.Histories: the blind index of the
// live account's email, "" for a guest, an erased or an unknown account.
func (db *DB) AccountEmailIndex(ctx context.Context, accountID string) (string, error) {
	var ix string
	err := db.sql.QueryRowContext(ctx, "SELECT email_index FROM users WHERE id = $1"+liveUser, accountID).Scan(&ix)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the email index of %s: %w", accountID, err)
	}
	return ix, nil
}
