-- The blind-index keys under which some account's email index may be stored.
-- An instance writes the id of the key it computes under in the same
-- transaction as the index, and a registration refuses to judge an email
-- free while this table names a key the instance does not hold (it may not
-- have the rotated keyset file yet): the table, not each instance's copy of
-- the keyset, says which keys count.
CREATE TABLE index_keys (
    key_id BIGINT PRIMARY KEY
);
