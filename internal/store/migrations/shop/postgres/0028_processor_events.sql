-- Events the card processor posted to the shop (Stripe's webhooks), by the
-- processor's event id: an event delivered again (the processor retries
-- until it gets a 2xx) is recognised and changes nothing the second time.
-- Kept for 30 days, past Stripe's 3 days of retries.
CREATE TABLE processor_events (
    id               TEXT PRIMARY KEY,
    type             TEXT NOT NULL,
    authorization_id TEXT NOT NULL DEFAULT '',
    order_id         TEXT NOT NULL DEFAULT '',
    received_at      BIGINT NOT NULL
);
CREATE INDEX processor_events_received_at ON processor_events (received_at);
-- Orders are found by their processor's payment id when it reports on it.
CREATE INDEX orders_authorization_id ON orders (authorization_id) WHERE authorization_id <> '';
