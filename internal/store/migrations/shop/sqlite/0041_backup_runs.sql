-- Backups and restore drills (issue 16): each backup made and each drill
-- run, with its outcome and a JSON report (targets, sizes, the checkpoint
-- covered; a drill's recovery point and time, or why it failed). The
-- backups themselves are on their targets; these rows are what posture and
-- GET /api/v1/admin/backups read. The newest 1000 of each kind are kept.
CREATE TABLE backup_runs (
    id     TEXT PRIMARY KEY,
    kind   TEXT NOT NULL,
    run_at INTEGER NOT NULL,
    ok     INTEGER NOT NULL,
    report TEXT NOT NULL
);
CREATE INDEX backup_runs_kind_run_at ON backup_runs (kind, run_at, id);
