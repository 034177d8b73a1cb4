-- The event outbox (issue 13, webhook delivery must not slow checkout): a
-- change writes each event it reports as one row here, in its own
-- transaction, and nothing else; the webhook worker later moves the rows out
-- — one webhook event and a delivery per endpoint subscribed, a mail job for
-- the events that mail the customer — and deletes them, in one transaction.
-- The table has no index but its integer key, so a row is an append to one
-- page: a checkout's cost no longer grows with the endpoints subscribed.
-- payload is the webhook body, fixed at commit ('' when no endpoint
-- subscribed then); mail_kind, order_id and ref_id name the mail to queue
-- (mail_kind '' for none).
CREATE TABLE event_outbox (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    mail_kind TEXT NOT NULL,
    order_id TEXT NOT NULL,
    ref_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
