package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/bulwark-shop/bulwark/internal/catalog"
)

// Full-text search (migration 0020). catalog.SearchText makes the words a
// product is found by and catalog.SearchTerms the words a query asks for;
// this file only stores the one and translates the other into each engine's
// match syntax, with every term quoted as a literal prefix.

// searchConditions is the full-text condition of ListProducts on each engine,
// with $2 empty for no search and $3 the match expression of searchMatch.
var searchConditions = map[Engine]string{
	SQLite: `($2 = '' OR p.id IN (SELECT r.product_id FROM product_search s JOIN product_search_rows r ON r.id = s.rowid
		WHERE product_search MATCH $3))`,
	Postgres: `($2 = '' OR p.search_vector @@ CAST($3 AS tsquery))`,
}

// searchMatch is terms as a match expression of engine: every term a quoted
// prefix, all of them required. The terms hold letters and digits only (see
// catalog.SearchTerms); the quotes they could not hold are escaped anyway,
// so nothing in a term is ever read as query syntax.
func searchMatch(engine Engine, terms []string) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		if engine == Postgres {
			// tsquery: 'lexeme':* is a prefix; inside quotes ' and \ are escaped.
			parts[i] = "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(t) + "':*"
		} else {
			// FTS5: "string"* is a prefix; inside quotes " is doubled.
			parts[i] = `"` + strings.ReplaceAll(t, `"`, `""`) + `"*`
		}
	}
	if engine == Postgres {
		return strings.Join(parts, " & ")
	}
	return strings.Join(parts, " ") // FTS5's implicit AND
}

// indexProduct stores the search words of product id, as its name,
// description and SKUs read in tx now; with onlyStale, only if it was last
// indexed with another catalog.SearchVersion (a concurrent write that indexed
// it already wins). It reports whether it indexed the product.
//
// It updates the product's row before reading what it indexes: on
// PostgreSQL that waits for any other write indexing the product and then
// reads what it committed (each statement of a READ COMMITTED transaction
// sees the latest commits), so two writes racing on one product — a name
// and a SKU, two SKUs — never leave words the other replaced. SQLite has
// one writer at a time.
func (db *DB) indexProduct(ctx context.Context, tx *sql.Tx, id string, onlyStale bool) (bool, error) {
	var name, description string
	if err := tx.QueryRowContext(ctx, "UPDATE products SET search_version = search_version WHERE id = $1 RETURNING name, description",
		id).Scan(&name, &description); err != nil {
		return false, fmt.Errorf("read product %s to index: %w", id, err)
	}
	rows, err := tx.QueryContext(ctx, "SELECT sku FROM variants WHERE product_id = $1 ORDER BY position, id", id)
	if err != nil {
		return false, fmt.Errorf("read skus of %s to index: %w", id, err)
	}
	defer rows.Close()
	var skus []string
	for rows.Next() {
		var sku string
		if err := rows.Scan(&sku); err != nil {
			return false, fmt.Errorf("scan sku: %w", err)
		}
		skus = append(skus, sku)
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("read skus of %s to index: %w", id, err)
	}
	rows.Close()
	text := catalog.SearchText(name, description, skus)
	res, err := tx.ExecContext(ctx, `UPDATE products SET search_text = $1, search_version = $2
		WHERE id = $3 AND ($4 = FALSE OR search_version <> $2)`, text, catalog.SearchVersion, id, onlyStale)
	if err != nil {
		return false, fmt.Errorf("index product %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	if db.engine != SQLite {
		return true, nil // the generated column follows search_text
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO product_search_rows (product_id) VALUES ($1) ON CONFLICT (product_id) DO NOTHING", id); err != nil {
		return false, fmt.Errorf("key product %s in the search index: %w", id, err)
	}
	var key int64
	if err := tx.QueryRowContext(ctx, "SELECT id FROM product_search_rows WHERE product_id = $1", id).Scan(&key); err != nil {
		return false, fmt.Errorf("find the search key of %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM product_search WHERE rowid = $1", key); err != nil {
		return false, fmt.Errorf("drop old search words of %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO product_search (rowid, terms) VALUES ($1, $2)", key, text); err != nil {
		return false, fmt.Errorf("add search words of %s: %w", id, err)
	}
	return true, nil
}

// IndexSearch indexes every product whose search words are missing (those
// stored before migration 0020) or were made by another
// catalog.SearchVersion, and returns how many it indexed. It runs at every
// start and finds nothing to do once done; each batch is one transaction, and
// a product a concurrent write indexed meanwhile is left as that write left
// it, so several instances may run it at once.
func (db *DB) IndexSearch(ctx context.Context) (int, error) {
	total := 0
	after := ""
	for {
		var ids []string
		n := 0
		err := db.inTx(ctx, func(tx *sql.Tx) error {
			// Two ranges of products_search_version rather than <>, so a
			// start with nothing to do reads no product.
			rows, err := tx.QueryContext(ctx, "SELECT id FROM products WHERE (search_version < $1 OR search_version > $1) AND id > $2 ORDER BY id LIMIT $3",
				catalog.SearchVersion, after, legacyBatch)
			if err != nil {
				return fmt.Errorf("find products to index: %w", err)
			}
			defer rows.Close()
			ids = ids[:0]
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					return fmt.Errorf("scan product to index: %w", err)
				}
				ids = append(ids, id)
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("find products to index: %w", err)
			}
			rows.Close()
			n = 0
			for _, id := range ids {
				did, err := db.indexProduct(ctx, tx, id, true)
				if err != nil {
					return err
				}
				if did {
					n++
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if len(ids) == 0 {
			return total, nil
		}
		after = ids[len(ids)-1]
	}
}
