-- OpenID Connect: logins in progress (state, nonce, PKCE verifier, browser
-- binding, each single-use) and the external identities linked to accounts.
CREATE TABLE oidc_logins (
    state        TEXT PRIMARY KEY,
    nonce        TEXT NOT NULL,
    verifier     TEXT NOT NULL,
    binding_hash TEXT NOT NULL,
    expires_at   INTEGER NOT NULL
);

CREATE TABLE oidc_identities (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, subject)
);
