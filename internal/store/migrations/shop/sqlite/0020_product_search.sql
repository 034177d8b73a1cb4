-- Full-text product search (issue 12). The words a product is found by are
-- made in Go (catalog.SearchText: name, description text without its markup,
-- every variant's SKU; lowercased, accents dropped, split at everything but
-- letters and digits) and stored in search_text, so SQLite and PostgreSQL
-- index the very same words. search_version is the catalog.SearchVersion
-- they were made with: 0 for the products stored before this migration,
-- which the start-up pass (store.IndexSearch) indexes, as it indexes again
-- any product made with an older version. Every write that changes a name,
-- a description or a SKU indexes the product again in its own transaction.
ALTER TABLE products ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
ALTER TABLE products ADD COLUMN search_version INTEGER NOT NULL DEFAULT 0;
CREATE INDEX products_search_version ON products (search_version, id);

-- The FTS5 index holds search_text under a stable integer key per product
-- (an FTS5 row is found fast by rowid only, and products' own rowids may
-- change on VACUUM). The ascii tokenizer splits at ASCII punctuation and
-- spaces and keeps every other character: on words made by
-- catalog.SearchText it finds exactly those words, and never folds them
-- otherwise.
CREATE TABLE product_search_rows (
    id         INTEGER PRIMARY KEY,
    product_id TEXT NOT NULL UNIQUE REFERENCES products (id)
);
CREATE VIRTUAL TABLE product_search USING fts5 (terms, tokenize = 'ascii');
