-- The login gate (issue 11). A login whose first factor is done but whose
-- second factor is still owed (an identity-provider login of an account with
-- MFA on) holds a ticket: only its SHA-256 is kept; it works once, for minutes.
CREATE TABLE mfa_tickets (
    ticket_hash TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    method      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX mfa_tickets_user_id ON mfa_tickets (user_id);

-- A staff account's first second factor needs the one-time enrolment code the
-- admin who made it staff was shown: a stolen password is not enough to enrol.
-- One live code per account (a new one replaces it); only its SHA-256 is kept.
CREATE TABLE enrollment_codes (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
