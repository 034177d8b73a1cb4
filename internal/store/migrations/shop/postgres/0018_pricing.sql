-- Pricing's staff-managed inputs (internal/pricing): tax rates, shipping
-- options with their zones, discount codes with their use counts. Amounts are
-- integer minor units; lists of prices and ids are JSON text written and read
-- by the store only. Times are Unix microseconds (UTC).
CREATE TABLE tax_rates (
    id         TEXT PRIMARY KEY,
    country    TEXT NOT NULL,
    region     TEXT NOT NULL, -- '' for the whole country
    rate_ppm   BIGINT NOT NULL CHECK (rate_ppm BETWEEN 0 AND 1000000),
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- Two rates for one country and region overlap: refused even when two
    -- staff add them at once.
    UNIQUE (country, region)
);

CREATE TABLE shipping_options (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('flat', 'weight_bands', 'free_above')),
    prices     TEXT NOT NULL, -- JSON: prices, bands, free_above
    active     BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE shipping_option_zones (
    option_id TEXT NOT NULL REFERENCES shipping_options (id) ON DELETE CASCADE,
    position  BIGINT NOT NULL,
    country   TEXT NOT NULL,
    region    TEXT NOT NULL, -- '' for the whole country
    PRIMARY KEY (option_id, position)
);
CREATE INDEX shipping_option_zones_country ON shipping_option_zones (country, option_id);

CREATE TABLE discounts (
    id                    TEXT PRIMARY KEY,
    code                  TEXT NOT NULL UNIQUE, -- normalized: upper-case, no separators
    kind                  TEXT NOT NULL CHECK (kind IN ('percent', 'fixed', 'free_shipping')),
    basis_points          BIGINT NOT NULL CHECK (basis_points BETWEEN 0 AND 10000),
    rules                 TEXT NOT NULL, -- JSON: amounts, min_subtotal, product_ids, category_ids
    starts_at             BIGINT,       -- NULL: no start
    ends_at               BIGINT,       -- NULL: no end
    max_uses              BIGINT NOT NULL CHECK (max_uses >= 0), -- 0: no limit
    max_uses_per_customer BIGINT NOT NULL CHECK (max_uses_per_customer >= 0),
    uses                  BIGINT NOT NULL CHECK (uses >= 0),
    active                BOOLEAN NOT NULL,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);

-- Each customer's uses of a discount, counted by a conditional upsert in the
-- order's transaction.
CREATE TABLE discount_uses (
    discount_id TEXT NOT NULL REFERENCES discounts (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    uses        BIGINT NOT NULL CHECK (uses >= 1),
    PRIMARY KEY (discount_id, user_id)
);
-- The export and the erasure find a person's uses by user id alone.
CREATE INDEX discount_uses_user ON discount_uses (user_id);
