-- Versions of fraud scoring's rules and trained models (issue 14): each
-- version is kept (for backtests, audits and going back), and at most one
-- of a kind is enforced and one runs in shadow (state; the store keeps
-- that true in the transaction that changes a state). body is the rule
-- set's JSON, or the signed model file. Every instance reads the running
-- versions every few seconds and loads the ones that changed. Times are
-- Unix microseconds.
CREATE TABLE fraud_versions (
    kind       TEXT NOT NULL,
    version    TEXT NOT NULL,
    state      TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    changed_at INTEGER NOT NULL,
    PRIMARY KEY (kind, version)
);
CREATE INDEX fraud_versions_state ON fraud_versions (state, kind);
