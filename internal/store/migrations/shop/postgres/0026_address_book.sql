-- The customer's address book (internal/addressbook): each saved address is
-- sealed whole under its owner's data key (package pii), with the row as
-- associated data, so erasing the person makes every copy unreadable; the
-- erasure deletes the rows too. Nothing of the address is kept in the clear:
-- unlike an order's, a saved address serves no accounting.
CREATE TABLE addresses (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users (id),
    sealed BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX addresses_owner ON addresses (owner_id, created_at);
