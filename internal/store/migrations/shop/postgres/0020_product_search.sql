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

-- The words become lexemes as they are, without PostgreSQL's parser or a
-- dictionary: array_to_tsvector does no splitting, stemming or folding (not
-- even the 'simple' configuration's, whose parser keeps "ab-cd" and "1.2.3"
-- whole where SQLite splits them), so both engines hold the same words.
ALTER TABLE products ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (array_to_tsvector(string_to_array(search_text, ' '))) STORED;
CREATE INDEX products_search_vector ON products USING GIN (search_vector);
