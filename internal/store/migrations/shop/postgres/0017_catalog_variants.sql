-- Products have options, variants and a status (issue 12). Every product made
-- before this migration becomes a single-variant product losing nothing: its
-- SKU, price, currency and stock move to its one variant (whose id is the
-- product's random part under the var_ prefix), and the cart and order lines
-- that named the product now name that variant (order lines keep the product
-- id for history).

-- A variant: its own unique SKU, option values, stock and weight. options_key
-- is the canonical text of the option values (the catalog package makes it),
-- so one product never has two variants with one combination.
CREATE TABLE variants (
    id           TEXT PRIMARY KEY,
    product_id   TEXT NOT NULL REFERENCES products (id),
    sku          TEXT NOT NULL UNIQUE,
    options_json TEXT NOT NULL,
    options_key  TEXT NOT NULL,
    stock        BIGINT NOT NULL CHECK (stock >= 0),
    weight_grams BIGINT NOT NULL CHECK (weight_grams >= 0),
    position     BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    CONSTRAINT variants_options_unique UNIQUE (product_id, options_key)
);
CREATE INDEX variants_product_id ON variants (product_id, position);

-- At most one price per currency per variant.
CREATE TABLE variant_prices (
    variant_id TEXT NOT NULL REFERENCES variants (id) ON DELETE CASCADE,
    currency   TEXT NOT NULL,
    amount     BIGINT NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (variant_id, currency)
);
CREATE INDEX variant_prices_currency ON variant_prices (currency, amount);

INSERT INTO variants (id, product_id, sku, options_json, options_key, stock, weight_grams, position, created_at, updated_at)
    SELECT 'var_' || substr(id, 6), id, sku, '{}', '', stock, 0, 0, created_at, updated_at FROM products;
INSERT INTO variant_prices (variant_id, currency, amount)
    SELECT 'var_' || substr(id, 6), currency, price_amount FROM products;

-- A cart has a currency; carts from before hold the one the shop sold in.
ALTER TABLE carts ADD COLUMN currency TEXT NOT NULL DEFAULT '';
UPDATE carts SET currency = COALESCE((SELECT p.currency FROM cart_lines l JOIN products p ON p.id = l.product_id
    WHERE l.cart_id = carts.id ORDER BY l.product_id LIMIT 1), '');

CREATE TABLE cart_lines_v17 (
    cart_id    TEXT NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    variant_id TEXT NOT NULL REFERENCES variants (id),
    quantity   INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    PRIMARY KEY (cart_id, variant_id)
);
INSERT INTO cart_lines_v17 (cart_id, variant_id, quantity)
    SELECT cart_id, 'var_' || substr(product_id, 6), quantity FROM cart_lines;
DROP TABLE cart_lines;
ALTER TABLE cart_lines_v17 RENAME TO cart_lines;

CREATE TABLE order_lines_v17 (
    order_id     TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    variant_id   TEXT NOT NULL REFERENCES variants (id),
    product_id   TEXT NOT NULL REFERENCES products (id),
    sku          TEXT NOT NULL,
    name         TEXT NOT NULL,
    options_json TEXT NOT NULL DEFAULT '{}',
    quantity     INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    unit_price   BIGINT NOT NULL CHECK (unit_price >= 0),
    line_total   BIGINT NOT NULL CHECK (line_total >= 0),
    PRIMARY KEY (order_id, variant_id)
);
INSERT INTO order_lines_v17 (order_id, variant_id, product_id, sku, name, options_json, quantity, unit_price, line_total)
    SELECT order_id, 'var_' || substr(product_id, 6), product_id, sku, name, '{}', quantity, unit_price, line_total FROM order_lines;
DROP TABLE order_lines;
ALTER TABLE order_lines_v17 RENAME TO order_lines;

-- The product keeps what all its variants share. status replaces active
-- (an inactive product was taken off sale: archived); publish_at is 0 for
-- none. products.sku stays (SQLite cannot drop a UNIQUE column, and both
-- engines keep one schema): it holds the product's id from now on, and the variants own the SKUs.
ALTER TABLE products ADD COLUMN status TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'archived'));
ALTER TABLE products ADD COLUMN publish_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE products ADD COLUMN options_json TEXT NOT NULL DEFAULT '[]';
-- description_sanitized is 1 once the description has passed the catalog's
-- sanitizer. Descriptions written before this migration were never
-- sanitized: they start at 0, and a pass at start-up (store.SanitizeDescriptions)
-- sanitizes them in batches; every write since sets 1.
ALTER TABLE products ADD COLUMN description_sanitized INTEGER NOT NULL DEFAULT 0;
UPDATE products SET status = CASE WHEN active THEN 'active' ELSE 'archived' END, sku = id;
ALTER TABLE products DROP COLUMN price_amount;
ALTER TABLE products DROP COLUMN currency;
ALTER TABLE products DROP COLUMN stock;
ALTER TABLE products DROP COLUMN active;
CREATE INDEX products_status ON products (status, publish_at, id);

-- Categories: a tree, and products in any number of them.
CREATE TABLE categories (
    id         TEXT PRIMARY KEY,
    parent_id  TEXT REFERENCES categories (id),
    name       TEXT NOT NULL,
    slug       TEXT NOT NULL UNIQUE,
    position   BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX categories_parent_id ON categories (parent_id, position);

CREATE TABLE product_categories (
    product_id  TEXT NOT NULL REFERENCES products (id),
    category_id TEXT NOT NULL REFERENCES categories (id),
    PRIMARY KEY (product_id, category_id)
);
CREATE INDEX product_categories_category_id ON product_categories (category_id, product_id);
