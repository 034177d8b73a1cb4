-- The card vault's own database: ciphertexts only, under keys the shop database never holds.
CREATE TABLE vault_cards (
    token      TEXT PRIMARY KEY,
    ciphertext BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
