-- Posture runs (issue 15, "Posture"): each scheduled or asked-for run of
-- the compliance checks, by the instance that made it, with its scores
-- (summary, JSON) and its whole report (JSON). The history is what a drop
-- in score is measured against; runs older than a year are deleted.
CREATE TABLE posture_runs (
    id       TEXT PRIMARY KEY,
    run_at   INTEGER NOT NULL,
    instance TEXT NOT NULL,
    summary  TEXT NOT NULL,
    report   TEXT NOT NULL
);
CREATE INDEX posture_runs_run_at ON posture_runs (run_at, id);
