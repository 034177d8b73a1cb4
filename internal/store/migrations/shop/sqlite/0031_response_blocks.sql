-- The blocks that responses to findings raised (issue 14, "Responses,
-- graduated"): the record of who was refused, why (the finding) and until
-- when. It counts a subject's repeats (a block within a day of another
-- lasts twice as long) and is where card and account blocks are read from
-- (each instance keeps a copy refreshed twice a second, never a query per
-- request). Address blocks are enforced by the edge's block list (Redis,
-- or edge_blocks) and recorded here as well. Times are Unix microseconds;
-- lifted_at is 0 until staff lift the block.
CREATE TABLE response_blocks (
    id           TEXT PRIMARY KEY,
    subject_kind TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    action       TEXT NOT NULL,
    finding_id   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    lifted_at    INTEGER NOT NULL DEFAULT 0,
    lifted_by    TEXT NOT NULL DEFAULT '',
    repeat_count INTEGER NOT NULL
);
-- Repeats of one subject within a day.
CREATE INDEX response_blocks_subject ON response_blocks (subject_kind, subject_id, created_at);
-- The blocks in force, latest-ending first.
CREATE INDEX response_blocks_expires ON response_blocks (expires_at);
