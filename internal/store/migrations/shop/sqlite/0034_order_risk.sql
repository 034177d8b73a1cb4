-- Fraud scoring (issue 14): what the scorer concluded about an order's
-- checkout (order.Risk as JSON, '' for an order scored by nothing: from
-- before scoring, or a shop without it), and the label staff gave it for
-- the next model's training, by whom and when. The review queue reads
-- pending_review orders through orders_status_created.
ALTER TABLE orders ADD COLUMN risk TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN fraud_label TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN labelled_by TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN labelled_at INTEGER NOT NULL DEFAULT 0;
