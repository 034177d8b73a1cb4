-- The vault database's identity: one random id, written at the first start
-- after migrating. The keyset of the data directory that serves this
-- database records it and refuses any other database.
CREATE TABLE database_identity (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    id         TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
