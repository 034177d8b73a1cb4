-- Order mail (internal/ordermail): the queue of mails to customers, written
-- in the transaction of the change each reports, and the templates the shop
-- changed. A job keeps ids only (no address, no name: those are read, and
-- opened, when the mail is sent).
CREATE TABLE mail_jobs (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    order_id TEXT NOT NULL,
    ref_id TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT NOT NULL DEFAULT '',
    lease_until INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX mail_jobs_due ON mail_jobs (status, next_attempt_at);
CREATE INDEX mail_jobs_order ON mail_jobs (order_id);

-- A template the shop changed; with no row, the default embedded in the
-- binary is used.
CREATE TABLE mail_templates (
    name TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
