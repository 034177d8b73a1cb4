-- Orders keep what was sold at the price it was sold for, and how it was paid:
-- brand and last four digits only. Amounts are integer minor units.
CREATE TABLE orders (
    id                TEXT PRIMARY KEY,
    customer_id       TEXT NOT NULL REFERENCES users (id),
    status            TEXT NOT NULL,
    currency          TEXT NOT NULL,
    subtotal          INTEGER NOT NULL CHECK (subtotal >= 0),
    shipping          INTEGER NOT NULL CHECK (shipping >= 0),
    total             INTEGER NOT NULL CHECK (total >= 0),
    captured          INTEGER NOT NULL DEFAULT 0 CHECK (captured >= 0 AND captured <= total),
    refunded          INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= captured),
    payment_method_id TEXT NOT NULL,
    brand             TEXT NOT NULL,
    last4             TEXT NOT NULL,
    authorization_id  TEXT NOT NULL DEFAULT '',
    -- The checkout's Idempotency-Key, so an abandoned reservation can free it.
    idem_key          TEXT NOT NULL DEFAULT '',
    ship_name         TEXT NOT NULL,
    ship_line1        TEXT NOT NULL,
    ship_line2        TEXT NOT NULL,
    ship_city         TEXT NOT NULL,
    ship_postal_code  TEXT NOT NULL,
    ship_country      TEXT NOT NULL,
    ship_phone        TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX orders_customer_id ON orders (customer_id, id);
CREATE INDEX orders_status_created ON orders (status, created_at);

CREATE TABLE order_lines (
    order_id   TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id TEXT NOT NULL REFERENCES products (id),
    sku        TEXT NOT NULL,
    name       TEXT NOT NULL,
    quantity   INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    unit_price INTEGER NOT NULL CHECK (unit_price >= 0),
    line_total INTEGER NOT NULL CHECK (line_total >= 0),
    PRIMARY KEY (order_id, product_id)
);

CREATE TABLE refunds (
    id                TEXT PRIMARY KEY,
    order_id          TEXT NOT NULL REFERENCES orders (id),
    amount            INTEGER NOT NULL CHECK (amount > 0),
    status            TEXT NOT NULL,
    gateway_refund_id TEXT NOT NULL DEFAULT '',
    created_at        INTEGER NOT NULL
);
CREATE INDEX refunds_order_id ON refunds (order_id);

-- One row per (owner, scope, key): claimed while the request runs, then the answer.
CREATE TABLE idempotency_keys (
    owner_id     TEXT NOT NULL,
    scope        TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    state        TEXT NOT NULL,
    order_json   TEXT NOT NULL DEFAULT '',
    error_code   TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (owner_id, scope, idem_key)
);
