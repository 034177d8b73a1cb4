-- An address is verified before it is used (issue 11). A registration waits
-- here until its owner confirms the address with the mailed token; only then
-- does the account exist, so nobody can take an address they cannot read
-- (pre-account hijacking), and accounts that already exist are verified by
-- definition. A change of an account's address waits here the same way.
-- Only the token's SHA-256 is kept. The address (and a new account's name)
-- is sealed under user_id's subject key: for a registration, the key of the
-- account to be, destroyed with the row when it expires unused.
CREATE TABLE email_verifications (
    token_hash    TEXT PRIMARY KEY,
    purpose       TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    email_index   TEXT NOT NULL,
    sealed        BLOB NOT NULL,
    password_hash TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX email_verifications_user_id ON email_verifications (user_id);
CREATE INDEX email_verifications_email_index ON email_verifications (email_index, created_at);
CREATE INDEX email_verifications_expires_at ON email_verifications (expires_at);

-- The blind index of the account's address's confusable skeleton (Unicode
-- TS #39): a new address that looks like an account's is treated as that
-- account's. Filled at start for the accounts made before this migration.
ALTER TABLE users ADD COLUMN skeleton_index TEXT;
CREATE INDEX users_skeleton_index ON users (skeleton_index);

-- Mails the shop sends on a stranger's request (reset links, "you already
-- have an account" notices), per account, so nobody can flood a mailbox: the
-- limit holds across instances because it is counted here.
CREATE TABLE mail_quota (
    subject TEXT NOT NULL,
    sent_at INTEGER NOT NULL
);
CREATE INDEX mail_quota_subject ON mail_quota (subject, sent_at);
