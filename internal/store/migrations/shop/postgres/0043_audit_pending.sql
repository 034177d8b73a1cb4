-- Audit records on their way into the chain (issue 18, PostgreSQL only). A
-- writing transaction used to seal its record itself, holding the chain's
-- head row locked until it committed, so every audited write in the shop
-- waited for the one before it to reach the disk (two per checkout). Now it
-- inserts here, in its own transaction and with no lock shared with other
-- writers, and after its commit waits for the sealer, which moves every
-- waiting record into audit_records in one transaction under the head's lock
-- (store/auditseal.go). A record is durable with the write it records; it is
-- in the chain before the write is answered, or, if the sealer could not run,
-- before any reader of the trail looks.
CREATE TABLE audit_pending (
    id         BIGSERIAL PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    ip         TEXT NOT NULL,
    request_id TEXT NOT NULL,
    detail     TEXT NOT NULL
);
