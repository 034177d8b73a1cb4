-- The order lifecycle after payment (internal/order/lifecycle.go): every
-- transition recorded, lines that can be shipped one by one, fulfilments,
-- and a claim on the order while staff capture or void it at the processor.

-- One row per transition, written in the transaction of the change.
CREATE TABLE order_events (
    order_id    TEXT NOT NULL REFERENCES orders (id),
    seq         INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    action      TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    PRIMARY KEY (order_id, seq)
);

-- A line's id, for fulfilments and returns. Lines from before it get one
-- made from their variant's (unique within an order); new ones a random one.
ALTER TABLE order_lines ADD COLUMN line_id TEXT NOT NULL DEFAULT '';
UPDATE order_lines SET line_id = 'oli_' || substr(variant_id, 5) WHERE line_id = '';
CREATE UNIQUE INDEX order_lines_line_id ON order_lines (order_id, line_id);
-- How many of the line have shipped: never more than were ordered.
ALTER TABLE order_lines ADD COLUMN fulfilled INTEGER NOT NULL DEFAULT 0 CHECK (fulfilled >= 0 AND fulfilled <= quantity);

CREATE TABLE fulfillments (
    id              TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL REFERENCES orders (id),
    carrier         TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX fulfillments_order_id ON fulfillments (order_id);

CREATE TABLE fulfillment_lines (
    fulfillment_id TEXT NOT NULL REFERENCES fulfillments (id),
    line_id        TEXT NOT NULL,
    quantity       INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (fulfillment_id, line_id)
);

-- While staff capture or void an authorization, the order is claimed
-- ('capture' or 'void' and since when), so a second request never calls the
-- processor again; a claim older than its lease was left by a stopped
-- instance and may be taken over.
ALTER TABLE orders ADD COLUMN payment_op TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN payment_op_at INTEGER NOT NULL DEFAULT 0;

-- Returns: a customer's request to send back shipped units, then staff's
-- decision and receipt. order_lines.returned counts the units held by
-- returns that were not rejected.
ALTER TABLE order_lines ADD COLUMN returned INTEGER NOT NULL DEFAULT 0 CHECK (returned >= 0 AND returned <= fulfilled);

CREATE TABLE returns (
    id          TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL REFERENCES orders (id),
    status      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    refund_id   TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX returns_order_id ON returns (order_id);

CREATE TABLE return_lines (
    return_id TEXT NOT NULL REFERENCES returns (id),
    line_id   TEXT NOT NULL,
    quantity  INTEGER NOT NULL CHECK (quantity > 0),
    restock   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (return_id, line_id)
);
