-- What the detectors concluded (issue 14): one row per finding, raised
-- active and merged into while it is active or suppressed. The partial
-- unique index is the guarantee that one (type, subject) has at most one
-- open finding, whatever instances observe at once; a resolved finding
-- leaves it, so a recurrence raises a new one. (0029 is taken by another
-- change; migrations apply by number, gaps allowed.)
CREATE TABLE findings (
    id              TEXT PRIMARY KEY,
    type            TEXT NOT NULL,
    severity        INTEGER NOT NULL,
    status          TEXT NOT NULL,
    subject_kind    TEXT NOT NULL,
    subject_id      TEXT NOT NULL,
    first_seen      INTEGER NOT NULL,
    last_seen       INTEGER NOT NULL,
    count           INTEGER NOT NULL,
    evidence        TEXT NOT NULL,
    response        TEXT NOT NULL,
    detection_point TEXT NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX findings_open ON findings (type, subject_kind, subject_id) WHERE status <> 'resolved';
-- Staff list newest first, optionally by status.
CREATE INDEX findings_first_seen ON findings (first_seen, id);
CREATE INDEX findings_status ON findings (status, first_seen);
-- The retention purge deletes findings not seen for FindingRetention.
CREATE INDEX findings_last_seen ON findings (last_seen);
