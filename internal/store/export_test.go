package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"time"
)

// MigrateTo applies the migrations up to version, for tests that write data
// with an older schema and then migrate it.
func (db *DB) MigrateTo(ctx context.Context, version int) ([]string, error) {
	return db.migrate(ctx, version)
}

// Writer is the database handle that writes, for tests that must write as an
// older version of the code did.
func (db *DB) Writer() *sql.DB { return db.write }

// WriteAnswerAsBefore stores answer (an order's JSON) as the answer to
// (owner, scope, key) the way versions before storedAnswer did: the bytes
// themselves, sealed under customerID's key when sealed is true (as checkout
// answers were), in the clear otherwise (as answers from before sealing, and
// answers without a person, were).
func WriteAnswerAsBefore(ctx context.Context, db *DB, owner, scope, key, hash, customerID string, answer []byte, sealed bool) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := db.claimKey(ctx, tx, owner, scope, key, hash, time.Now()); err != nil {
			return err
		}
		var plain, sealedFor string
		var ciphertext []byte
		if sealed {
			wrapped, err := subjectKey(ctx, tx, customerID)
			if err != nil || wrapped == nil {
				return fmt.Errorf("no key for %s: %v", customerID, err)
			}
			if ciphertext, err = db.seal(customerID, wrapped, answerAt(owner, scope, key), json.RawMessage(answer)); err != nil {
				return err
			}
			sealedFor = customerID
		} else {
			plain = string(answer)
		}
		_, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET state = $1, order_json = $2, order_sealed = $3, sealed_for = $4
			WHERE owner_id = $5 AND scope = $6 AND idem_key = $7`, idemDone, plain, ciphertext, sealedFor, owner, scope, key)
		return err
	})
}

// PlainAnswer is the answer to (owner, scope, key) kept in the clear, if any.
func PlainAnswer(ctx context.Context, db *DB, owner, scope, key string) (string, error) {
	var plain string
	err := db.sql.QueryRowContext(ctx, "SELECT order_json FROM idempotency_keys WHERE owner_id = $1 AND scope = $2 AND idem_key = $3",
		owner, scope, key).Scan(&plain)
	return plain, err
}

// AuditedWriteThatFails appends rec in a write transaction that then fails
// with err, as a write whose later statement fails does.
func AuditedWriteThatFails(ctx context.Context, db *DB, rec audit.Record, err error) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if e := appendAudit(ctx, tx, rec); e != nil {
			return e
		}
		return err
	})
}
