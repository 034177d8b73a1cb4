-- A refund is reserved (the order's refunded total raised, the refund row
-- pending) before the processor is asked, and completed after. A server
-- that stops in between leaves it pending: the recovery job finishes it
-- once its lease has run out, asking the processor again with the same
-- reference (one refund however often it is asked) and recording the
-- answer for the Idempotency-Key of the staff member who asked for it.
ALTER TABLE refunds ADD COLUMN actor_id TEXT NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN idem_key TEXT NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
CREATE INDEX refunds_pending ON refunds (lease_until) WHERE status = 'pending';
