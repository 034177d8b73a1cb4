-- Sensitive-data discovery runs (issue 15, "Sensitive-data discovery"):
-- what each scan of the database, the outbox and the paths given found,
-- as a JSON report of locations, kinds, counts and masked samples (never a
-- value found). The newest 30 runs are kept.
CREATE TABLE discovery_runs (
    id       TEXT PRIMARY KEY,
    run_at   INTEGER NOT NULL,
    instance TEXT NOT NULL,
    report   TEXT NOT NULL
);
CREATE INDEX discovery_runs_run_at ON discovery_runs (run_at, id);
