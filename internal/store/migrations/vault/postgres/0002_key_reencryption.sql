-- Re-encryption passes of the vault process's own keyset (`bulwark vault serve`), as
-- in the shop database: one row per keyset with its primary key and cursor, so a
-- killed vault process resumes where it stopped.
CREATE TABLE key_reencryption (
    keyset         TEXT PRIMARY KEY,
    primary_key_id BIGINT NOT NULL,
    cursor_key         TEXT NOT NULL,
    done           BOOLEAN NOT NULL,
    batches        BIGINT NOT NULL,
    started_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
