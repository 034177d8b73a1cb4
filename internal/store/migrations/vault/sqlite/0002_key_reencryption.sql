-- Re-encryption passes of the vault process's own keyset (`bulwark vault serve`), as
-- in the shop database: one row per keyset with its primary key and cursor, so a
-- killed vault process resumes where it stopped.
CREATE TABLE key_reencryption (
    keyset         TEXT PRIMARY KEY,
    primary_key_id INTEGER NOT NULL,
    cursor_key         TEXT NOT NULL,
    done           INTEGER NOT NULL CHECK (done IN (0, 1)),
    batches        INTEGER NOT NULL,
    started_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
