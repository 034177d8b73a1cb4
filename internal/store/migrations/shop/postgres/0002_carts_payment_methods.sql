-- Carts hold product ids and quantities only; prices come from the catalog.
CREATE TABLE carts (
    id         TEXT PRIMARY KEY,
    owner_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX carts_owner_id ON carts (owner_id);

CREATE TABLE cart_lines (
    cart_id    TEXT NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    product_id TEXT NOT NULL REFERENCES products (id),
    quantity   INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    PRIMARY KEY (cart_id, product_id)
);

-- A saved card: the vault's token and what may be shown. Never a card number.
CREATE TABLE payment_methods (
    id         TEXT PRIMARY KEY,
    owner_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token      TEXT NOT NULL UNIQUE,
    brand      TEXT NOT NULL,
    last4      TEXT NOT NULL CHECK (length(last4) = 4),
    exp_month  INTEGER NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
    exp_year   INTEGER NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX payment_methods_owner_id ON payment_methods (owner_id);
