-- Personal data encrypted at rest (package pii). Each person has a data key,
-- stored only wrapped under the "pii" keyset; erasing the person deletes it.
CREATE TABLE subject_keys (
    subject_id TEXT PRIMARY KEY,
    wrapped    BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

-- Accounts are found by a keyed blind index of the email; the email and the
-- name are sealed together in contact. The old name column is emptied as rows
-- are sealed. An erased account keeps its id (orders point at it) and nothing else.
ALTER TABLE users RENAME COLUMN email TO email_index;
ALTER TABLE users ADD COLUMN contact BYTEA;
ALTER TABLE users ADD COLUMN erased_at BIGINT;

-- The shipping address (all but the country) is sealed under the customer's key.
ALTER TABLE orders ADD COLUMN ship_sealed BYTEA;

-- A stored answer holds an order with its address: sealed under the key of the
-- order's customer (sealed_for), so erasing them shreds it too.
ALTER TABLE idempotency_keys ADD COLUMN order_sealed BYTEA;
ALTER TABLE idempotency_keys ADD COLUMN sealed_for TEXT NOT NULL DEFAULT '';
