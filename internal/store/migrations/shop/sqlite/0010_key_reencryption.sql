-- Re-encryption passes after a data keyset rotation, one row per keyset: the
-- primary key the pass re-encrypts under, and the cursor (the row key every
-- row up to which is done), so a killed process resumes where it stopped.
CREATE TABLE key_reencryption (
    keyset         TEXT PRIMARY KEY,
    primary_key_id INTEGER NOT NULL,
    cursor_key         TEXT NOT NULL,
    done           INTEGER NOT NULL CHECK (done IN (0, 1)),
    batches        INTEGER NOT NULL,
    started_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
