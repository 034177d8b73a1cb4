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

-- Outbox retention (setting webhook-retention): the purge finds finished
-- deliveries by status and age, and events with no delivery left; without
-- these it would scan the outbox every hour.
CREATE INDEX webhook_deliveries_done ON webhook_deliveries (status, updated_at);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
CREATE INDEX webhook_events_created ON webhook_events (created_at);
