-- TOTP second factors. The secret is encrypted under the MFA keyset (with the
-- user id as associated data); last_counter is the newest time step accepted,
-- so each code works once.
CREATE TABLE mfa_totp (
    user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_ct    BYTEA NOT NULL,
    confirmed    BOOLEAN NOT NULL,
    last_counter BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL
);

-- Single-use recovery codes, kept as SHA-256 of 80-bit random codes.
CREATE TABLE mfa_recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);
