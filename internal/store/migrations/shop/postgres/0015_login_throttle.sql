-- Failed-login counts and login locks (package throttle), kept in the shop
-- database rather than in Redis or in one process's memory: a lock survives a
-- restart of Redis or of the shop, and every instance on the database shares
-- it. key is the throttle's key (a hash of the email, and the client address);
-- n counts failures until expires_at (Unix microseconds), after which the row
-- means nothing and retention deletes it.
CREATE TABLE login_throttle (
    key        TEXT PRIMARY KEY,
    n          BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX login_throttle_expires ON login_throttle (expires_at);
