-- Webhooks (internal/webhook): endpoints, their signing secrets (sealed
-- under the webhook data keyset, shown to staff once), and the outbox: one
-- event row per change, written in the change's own transaction, and one
-- delivery row per subscribed endpoint, with every attempt kept.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    events_json TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    -- Set when deleted: its deliveries stay listed, but it gets no new ones.
    deleted_at INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE webhook_subscriptions (
    event_type TEXT NOT NULL,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id),
    PRIMARY KEY (event_type, endpoint_id)
);

-- The current secret has signs_until 0; a replaced one signs beside it until
-- signs_until (the rotation grace), then is deleted.
CREATE TABLE webhook_secrets (
    id TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id),
    secret_ct BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    signs_until INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX webhook_secrets_endpoint ON webhook_secrets (endpoint_id);

CREATE TABLE webhook_events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES webhook_events (id),
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id),
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT NOT NULL DEFAULT '',
    lease_until INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at);

CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id),
    n INTEGER NOT NULL,
    at INTEGER NOT NULL,
    status_code INTEGER NOT NULL,
    duration_us INTEGER NOT NULL,
    error TEXT NOT NULL,
    PRIMARY KEY (delivery_id, n)
);
