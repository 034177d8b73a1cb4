-- Carts and orders priced by internal/pricing: a cart keeps the customer's
-- choices (a discount code, where it ships to, a shipping option) and is
-- priced from them whenever it is read; an order keeps every amount the
-- quote decided when it was paid. Existing orders had no discount, tax or
-- shipping option: the defaults say so.
ALTER TABLE carts ADD COLUMN discount_code TEXT NOT NULL DEFAULT '';
-- Only the country and region of the destination: that is all pricing needs,
-- and it is not enough to find a person (the full address comes with the
-- checkout and is sealed on the order).
ALTER TABLE carts ADD COLUMN ship_country TEXT NOT NULL DEFAULT '';
ALTER TABLE carts ADD COLUMN ship_region TEXT NOT NULL DEFAULT '';
ALTER TABLE carts ADD COLUMN shipping_option_id TEXT NOT NULL DEFAULT '';

ALTER TABLE orders ADD COLUMN discount BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN discount_id TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN discount_code TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN shipping_option_id TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN shipping_option_name TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN tax BIGINT NOT NULL DEFAULT 0;
-- 'exclusive' or 'inclusive': whether tax was added to the total or contained in it.
ALTER TABLE orders ADD COLUMN tax_mode TEXT NOT NULL DEFAULT 'exclusive';
-- JSON: the tax lines (rate id, name, country, region, ppm, base, amount).
ALTER TABLE orders ADD COLUMN taxes_json TEXT NOT NULL DEFAULT '[]';
-- Kept in the clear beside the country, for tax accounting; the rest of the
-- address is sealed under the customer's key.
ALTER TABLE orders ADD COLUMN ship_region TEXT NOT NULL DEFAULT '';

ALTER TABLE order_lines ADD COLUMN discount BIGINT NOT NULL DEFAULT 0;
ALTER TABLE order_lines ADD COLUMN tax BIGINT NOT NULL DEFAULT 0;
