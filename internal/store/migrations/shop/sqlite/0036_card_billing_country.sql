-- Fraud scoring (issue 14): the country of a saved card's billing address
-- (ISO 3166-1 alpha-2, '' when the customer did not give it), compared with
-- the shipping address's at checkout (docs/FRAUD.md, billing_mismatch). A
-- country, not an address: nothing more of the billing address is kept.
ALTER TABLE payment_methods ADD COLUMN billing_country TEXT NOT NULL DEFAULT '';
