-- The audit trail as an RFC 6962 Merkle tree (issue 15, "Audit log v2").
-- audit_tree is how far the trail is integrated: its size, root and the
-- hash of its last record (which the next must link to). audit_nodes holds
-- the root of every perfect subtree (level 0: the leaves), the nodes that
-- inclusion and consistency proofs are made of. audit_checkpoints keeps the
-- signed checkpoints for the API; the copies that count for verification
-- are the files in the checkpoint directory, out of the database's reach.
-- Hashes are hex; times Unix microseconds. The existing chain becomes the
-- first leaves when the integrator first runs.
CREATE TABLE audit_tree (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    size      BIGINT NOT NULL,
    root      TEXT NOT NULL,
    last_hash TEXT NOT NULL
);
INSERT INTO audit_tree (id, size, root, last_hash) VALUES (1, 0,
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_nodes (
    level INTEGER NOT NULL,
    idx   BIGINT NOT NULL,
    hash  TEXT NOT NULL,
    PRIMARY KEY (level, idx)
);

CREATE TABLE audit_checkpoints (
    size      BIGINT PRIMARY KEY,
    root      TEXT NOT NULL,
    signed_at BIGINT NOT NULL,
    note      TEXT NOT NULL
);

-- Nodes are written once, like the records they hash.
CREATE FUNCTION audit_nodes_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit nodes are append-only';
END;
$$;
CREATE TRIGGER audit_nodes_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_nodes
FOR EACH STATEMENT EXECUTE FUNCTION audit_nodes_append_only();

-- The audit log's API filters by actor, target and action (and the GDPR
-- export reads a person's records by actor and target).
CREATE INDEX audit_records_actor ON audit_records (actor, seq);
CREATE INDEX audit_records_target ON audit_records (target, seq);
CREATE INDEX audit_records_action ON audit_records (action, seq);
