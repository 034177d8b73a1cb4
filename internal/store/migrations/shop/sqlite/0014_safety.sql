-- One cart, one order: the pending order whose checkout holds the cart. A
-- checkout claims the cart with a conditional UPDATE in the transaction that
-- claims its Idempotency-Key and takes the stock, so of concurrent checkouts
-- of one cart (whatever their keys, on any instance) one proceeds; the claim
-- is released with the order when the payment fails, and cleared when the
-- order completes (the cart is then empty).
ALTER TABLE carts ADD COLUMN checkout_order_id TEXT NOT NULL DEFAULT '';

-- Who runs a pending checkout, and until when: the instance renews the lease
-- while the checkout runs, so a checkout whose lease ran out was left by a
-- stopped instance and can be recovered at once (at start-up, or by any
-- instance), never one that is still running. Pending orders from before
-- this migration keep the old ten-minute rule through their lease.
ALTER TABLE orders ADD COLUMN owner_instance TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
UPDATE orders SET lease_until = created_at + 600000000 WHERE status = 'pending';
CREATE INDEX orders_status_lease ON orders (status, lease_until);

-- The database's identity: one random id, written at the first start after
-- migrating. The keysets of a data directory record the databases they serve
-- by this id and refuse any other (see internal/app/bindings.go).
CREATE TABLE database_identity (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    id         TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
