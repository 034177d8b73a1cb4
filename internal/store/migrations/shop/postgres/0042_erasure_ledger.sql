-- The erasure ledger (issue 16, "Erasure survives restore"): every account
-- erased, by its pseudonymous id only, written in the erasure's
-- transaction. The shop copies each entry to every backup target, beside
-- the backups and outside them (pushed_at: when all targets had it), and a
-- restore replays the targets' entries, so a backup taken before an
-- erasure never brings the person back.
CREATE TABLE erasure_ledger (
    user_id   TEXT PRIMARY KEY,
    erased_at BIGINT NOT NULL,
    pushed_at BIGINT
);
CREATE INDEX erasure_ledger_pending ON erasure_ledger (pushed_at, erased_at);
