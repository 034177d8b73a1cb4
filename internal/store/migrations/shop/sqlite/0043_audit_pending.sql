-- Nothing on SQLite: PostgreSQL's migration 0043 adds audit_pending so that
-- concurrent writers stop queueing on the audit chain's head row. SQLite has
-- one writer at a time, whose transactions share a commit (store/groupcommit.go),
-- so it seals each record in the writing transaction as before. The number is
-- kept so both engines count their migrations alike.
SELECT 1;
