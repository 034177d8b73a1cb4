-- Guest checkout (issue 13). A guest is a person without an account: a row
-- of users marked guest, so that carts, orders, idempotency keys and the
-- personal-data key (subject_keys) work as they do for an account, and the
-- erasure of the person (DELETE /api/v1/admin/users/{id}) shreds the guest's
-- email and addresses like an account's. A guest row never signs in: its
-- email_index is 'guest:' || id (never a blind index, so login, password
-- reset, registration and OIDC never find it), it has no password hash, and
-- every lookup of a live account leaves guest rows out.
ALTER TABLE users ADD COLUMN guest BOOLEAN NOT NULL DEFAULT FALSE;

-- A guest cart is reached with its token, of which only the SHA-256 is kept
-- (compared in constant time); '' for an account's cart.
ALTER TABLE carts ADD COLUMN guest_token_hash TEXT NOT NULL DEFAULT '';

-- The vault tokens of guests' cards while their checkout runs (a token, no
-- card data): the checkout deletes the card from the vault when it ends and
-- then its row; a row that outlives its checkout (the instance stopped, or
-- the vault could not delete) is swept: its card deleted from the vault.
CREATE TABLE guest_cards (
    token      TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
CREATE INDEX guest_cards_created_at ON guest_cards (created_at);
