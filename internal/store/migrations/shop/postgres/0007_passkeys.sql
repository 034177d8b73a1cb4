-- Passkeys (WebAuthn credentials): public keys only, as go-webauthn serializes them.
CREATE TABLE passkeys (
    credential_id TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential    TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX passkeys_user_id ON passkeys (user_id);

-- A WebAuthn ceremony in progress: its challenge, used once, for five minutes.
CREATE TABLE webauthn_ceremonies (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    session    TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
