-- Dynamic blocks of client addresses (the bot trap's, an operator's), kept
-- in the shop database when no Redis is configured, so that `bulwark blocks
-- list|lift` reaches the blocks a running server enforces, and every
-- instance on one PostgreSQL enforces the same ones. Times are Unix
-- microseconds; a row whose until_at has passed is no block and is deleted
-- by the next block written.
CREATE TABLE edge_blocks (
    address    TEXT PRIMARY KEY,
    until_at   INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX edge_blocks_until_at ON edge_blocks (until_at);
