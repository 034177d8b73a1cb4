package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/catalog"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/webhook"
)

var _ catalog.Store = (*DB)(nil)

// products.sku is a legacy column: since migration 0017 it holds the
// product's id (unique, as the column must be) and the variants own the SKUs.
// productColumns reads a product (aliased p) with its categories, joined by
// commas in order: a product is read with its categories in one statement.
const productColumns = "p.id, p.name, p.description, p.status, p.publish_at, p.options_json, p.created_at, p.updated_at, " +
	"(SELECT string_agg(pc.category_id, ',' ORDER BY pc.category_id) FROM product_categories pc WHERE pc.product_id = p.id)"

// variantColumns reads a variant (aliased v) with its prices, joined by
// commas in currency order as CUR:amount (priceList): one row a variant.
const variantColumns = "v.id, v.product_id, v.sku, v.options_json, v.options_key, v.stock, v.weight_grams, v.position, v.created_at, v.updated_at, " +
	"(SELECT string_agg(vp.currency || ':' || CAST(vp.amount AS TEXT), ',' ORDER BY vp.currency) FROM variant_prices vp WHERE vp.variant_id = v.id)"

type rowScanner interface{ Scan(dest ...any) error }

// optionJSON is how a product's options are stored.
type optionJSON struct {
	Name   string   `json:"name"`
	Values []string `json:"values"`
}

func encodeOptions(opts []catalog.Option) (string, error) {
	out := make([]optionJSON, 0, len(opts))
	for _, o := range opts {
		out = append(out, optionJSON(o))
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("encode options: %w", err)
	}
	return string(b), nil
}

func scanProduct(row rowScanner) (catalog.Product, error) {
	var r productRow
	if err := row.Scan(r.dest()...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return catalog.Product{}, catalog.ErrNotFound
		}
		return catalog.Product{}, fmt.Errorf("scan product: %w", err)
	}
	return r.product()
}

// productRow is what productColumns reads, before decoding.
type productRow struct {
	p                         catalog.Product
	publish, created, updated int64
	opts                      string
	categories                sql.NullString
}

func (r *productRow) dest() []any {
	return []any{&r.p.ID, &r.p.Name, &r.p.Description, &r.p.Status, &r.publish, &r.opts, &r.created, &r.updated, &r.categories}
}

// product decodes the row, with no variants yet.
func (r *productRow) product() (catalog.Product, error) {
	p := r.p
	var stored []optionJSON
	if err := json.Unmarshal([]byte(r.opts), &stored); err != nil {
		return catalog.Product{}, fmt.Errorf("read options of %s: %w", p.ID, err)
	}
	p.Options = make([]catalog.Option, 0, len(stored))
	for _, o := range stored {
		p.Options = append(p.Options, catalog.Option(o))
	}
	if r.publish != 0 {
		p.PublishAt = fromMicros(r.publish)
	}
	p.CreatedAt, p.UpdatedAt = fromMicros(r.created), fromMicros(r.updated)
	p.Categories, p.Variants = []string{}, []catalog.Variant{}
	if r.categories.String != "" {
		p.Categories = strings.Split(r.categories.String, ",")
	}
	return p, nil
}

// variantRow is what variantColumns reads, before decoding.
type variantRow struct {
	v                catalog.Variant
	opts             string
	created, updated int64
	prices           sql.NullString
}

func (r *variantRow) dest() []any {
	return []any{&r.v.ID, &r.v.ProductID, &r.v.SKU, &r.opts, &r.v.OptionsKey, &r.v.Stock, &r.v.WeightGrams, &r.v.Position,
		&r.created, &r.updated, &r.prices}
}

// variant decodes the row.
func (r *variantRow) variant() (catalog.Variant, error) {
	v := r.v
	if err := json.Unmarshal([]byte(r.opts), &v.Options); err != nil {
		return catalog.Variant{}, fmt.Errorf("read options of %s: %w", v.ID, err)
	}
	v.CreatedAt, v.UpdatedAt = fromMicros(r.created), fromMicros(r.updated)
	v.Prices = []money.Money{}
	if r.prices.String == "" {
		return v, nil
	}
	for _, price := range strings.Split(r.prices.String, ",") {
		currency, amount, ok := strings.Cut(price, ":")
		n, err := strconv.ParseInt(amount, 10, 64)
		if !ok || err != nil {
			return catalog.Variant{}, fmt.Errorf("read prices of %s: %q is not CUR:amount", v.ID, price)
		}
		v.Prices = append(v.Prices, money.Money{Amount: n, Currency: currency})
	}
	return v, nil
}

// placeholders returns "$first, ..., $(first+n-1)".
func placeholders(first, n int) string {
	marks := make([]string, n)
	for i := range marks {
		marks[i] = "$" + strconv.Itoa(first+i)
	}
	return strings.Join(marks, ", ")
}

// fillProducts reads the variants and prices of ps (read with their
// categories).
func fillProducts(ctx context.Context, q queryer, ps []catalog.Product) error {
	if len(ps) == 0 {
		return nil
	}
	ids := make([]any, len(ps))
	at := map[string]int{}
	for i, p := range ps {
		ids[i], at[p.ID] = p.ID, i
	}
	rows, err := q.QueryContext(ctx, "SELECT "+variantColumns+" FROM variants v WHERE v.product_id IN ("+placeholders(1, len(ids))+
		") ORDER BY v.product_id, v.position, v.id", ids...)
	if err != nil {
		return fmt.Errorf("read variants: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r variantRow
		if err := rows.Scan(r.dest()...); err != nil {
			return fmt.Errorf("scan variant: %w", err)
		}
		v, err := r.variant()
		if err != nil {
			return err
		}
		p := &ps[at[v.ProductID]]
		p.Variants = append(p.Variants, v)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read variants: %w", err)
	}
	return nil
}

func readProduct(ctx context.Context, q queryer, id string) (catalog.Product, error) {
	p, err := scanProduct(q.QueryRowContext(ctx, "SELECT "+productColumns+" FROM products p WHERE p.id = $1", id))
	if err != nil {
		return catalog.Product{}, err
	}
	ps := []catalog.Product{p}
	if err := fillProducts(ctx, q, ps); err != nil {
		return catalog.Product{}, err
	}
	return ps[0], nil
}

// insertVariant inserts v with its prices, after checking that its SKU and
// option values are free. A unique violation after all means a concurrent
// insert took the SKU or the option values; the constraint's name tells which.
func insertVariant(ctx context.Context, tx *sql.Tx, v catalog.Variant) error {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM variants WHERE sku = $1", v.SKU).Scan(&n); err != nil {
		return fmt.Errorf("find sku: %w", err)
	}
	if n > 0 {
		return catalog.ErrSKUTaken
	}
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM variants WHERE product_id = $1 AND options_key = $2", v.ProductID, v.OptionsKey).Scan(&n); err != nil {
		return fmt.Errorf("find option values: %w", err)
	}
	if n > 0 {
		return catalog.ErrOptionsTaken
	}
	opts, err := json.Marshal(v.Options)
	if err != nil {
		return fmt.Errorf("encode variant options: %w", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO variants (id, product_id, sku, options_json, options_key, stock, weight_grams, position, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		v.ID, v.ProductID, v.SKU, string(opts), v.OptionsKey, v.Stock, v.WeightGrams, v.Position, micros(v.CreatedAt), micros(v.UpdatedAt))
	if isUniqueViolation(err) {
		if violatedConstraint(err) == "variants_options_unique" {
			return catalog.ErrOptionsTaken
		}
		return catalog.ErrSKUTaken
	}
	if err != nil {
		return fmt.Errorf("insert variant: %w", err)
	}
	return setPrices(ctx, tx, v.ID, v.Prices)
}

// setPrices replaces every price of a variant.
func setPrices(ctx context.Context, tx *sql.Tx, variantID string, prices []money.Money) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM variant_prices WHERE variant_id = $1", variantID); err != nil {
		return fmt.Errorf("clear prices: %w", err)
	}
	for _, m := range prices {
		if _, err := tx.ExecContext(ctx, "INSERT INTO variant_prices (variant_id, currency, amount) VALUES ($1, $2, $3)",
			variantID, m.Currency, m.Amount); err != nil {
			return fmt.Errorf("insert price: %w", err)
		}
	}
	return nil
}

// setCategories replaces a product's categories; an unknown one is
// catalog.ErrCategoryNotFound.
func setCategories(ctx context.Context, tx *sql.Tx, productID string, cats []string) error {
	if len(cats) > 0 {
		args := make([]any, len(cats))
		for i, c := range cats {
			args[i] = c
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM categories WHERE id IN ("+placeholders(1, len(args))+")", args...).Scan(&n); err != nil {
			return fmt.Errorf("find categories: %w", err)
		}
		if n != len(cats) {
			return catalog.ErrCategoryNotFound
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM product_categories WHERE product_id = $1", productID); err != nil {
		return fmt.Errorf("clear categories: %w", err)
	}
	for _, c := range cats {
		_, err := tx.ExecContext(ctx, "INSERT INTO product_categories (product_id, category_id) VALUES ($1, $2)", productID, c)
		if isForeignKeyViolation(err) {
			return catalog.ErrCategoryNotFound // deleted since it was counted above
		}
		if err != nil {
			return fmt.Errorf("insert product category: %w", err)
		}
	}
	return nil
}

// CreateProduct inserts p with its variants, prices and categories.
func (db *DB) CreateProduct(ctx context.Context, p catalog.Product, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		opts, err := encodeOptions(p.Options)
		if err != nil {
			return err
		}
		var publish int64
		if !p.PublishAt.IsZero() {
			publish = micros(p.PublishAt)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO products (id, sku, name, description, description_sanitized, status, publish_at, options_json, created_at, updated_at)
			VALUES ($1, $1, $2, $3, 1, $4, $5, $6, $7, $8)`,
			p.ID, p.Name, p.Description, p.Status, publish, opts, micros(p.CreatedAt), micros(p.UpdatedAt)); err != nil {
			return fmt.Errorf("insert product: %w", err)
		}
		for _, v := range p.Variants {
			if err := insertVariant(ctx, tx, v); err != nil {
				return err
			}
		}
		if err := setCategories(ctx, tx, p.ID, p.Categories); err != nil {
			return err
		}
		if _, err := db.indexProduct(ctx, tx, p.ID, false); err != nil {
			return err
		}
		return appendAudit(ctx, tx, rec)
	})
}

// UpdateProduct applies patch. Each field is one fixed statement: no SQL is
// assembled from what the client sent.
func (db *DB) UpdateProduct(ctx context.Context, id string, patch catalog.Patch, at time.Time, rec audit.Record) (catalog.Product, error) {
	var p catalog.Product
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE products SET updated_at = $1 WHERE id = $2", micros(at), id)
		if err != nil {
			return fmt.Errorf("touch product: %w", err)
		}
		if err := mustAffect(res, catalog.ErrNotFound); err != nil {
			return err
		}
		set := func(query string, args ...any) error {
			if _, err := tx.ExecContext(ctx, query, args...); err != nil {
				return fmt.Errorf("update product: %w", err)
			}
			return nil
		}
		if patch.Name != nil {
			if err := set("UPDATE products SET name = $1 WHERE id = $2", *patch.Name, id); err != nil {
				return err
			}
		}
		if patch.Description != nil {
			if err := set("UPDATE products SET description = $1, description_sanitized = 1 WHERE id = $2", *patch.Description, id); err != nil {
				return err
			}
		}
		if patch.Status != nil {
			if err := set("UPDATE products SET status = $1 WHERE id = $2", *patch.Status, id); err != nil {
				return err
			}
		}
		if patch.PublishAt != nil {
			if err := set("UPDATE products SET publish_at = $1 WHERE id = $2", micros(*patch.PublishAt), id); err != nil {
				return err
			}
		} else if patch.ClearPublishAt {
			if err := set("UPDATE products SET publish_at = 0 WHERE id = $1", id); err != nil {
				return err
			}
		}
		if patch.Price != nil {
			// The v1 shorthand: the price, in its currency, of the product's
			// only variant. Counted here, after the product's row is locked by
			// the update above, which AddVariant takes too: a variant added
			// concurrently is either counted or added after this commits.
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM variants WHERE product_id = $1", id).Scan(&n); err != nil {
				return fmt.Errorf("count variants: %w", err)
			}
			if n != 1 {
				return catalog.ErrNotSingle
			}
			if err := set(`DELETE FROM variant_prices WHERE currency = $1 AND variant_id IN (SELECT id FROM variants WHERE product_id = $2)`,
				patch.Price.Currency, id); err != nil {
				return err
			}
			if err := set(`INSERT INTO variant_prices (variant_id, currency, amount) SELECT id, $1, $2 FROM variants WHERE product_id = $3`,
				patch.Price.Currency, patch.Price.Amount, id); err != nil {
				return err
			}
		}
		if patch.Categories != nil {
			if err := setCategories(ctx, tx, id, *patch.Categories); err != nil {
				return err
			}
		}
		if patch.Name != nil || patch.Description != nil {
			if _, err := db.indexProduct(ctx, tx, id, false); err != nil {
				return err
			}
		}
		if p, err = readProduct(ctx, tx, id); err != nil {
			return err
		}
		if err := emitEvent(ctx, tx, webhook.ProductUpdated, at, webhook.ProductEvent(p)); err != nil {
			return err
		}
		return appendAudit(ctx, tx, rec)
	})
	return p, err
}

// Product returns the product with id, its variants and categories, read in
// one snapshot.
func (db *DB) Product(ctx context.Context, id string) (catalog.Product, error) {
	var p catalog.Product
	err := db.inSnapshot(ctx, func(tx *sql.Tx) error {
		var err error
		p, err = readProduct(ctx, tx, id)
		return err
	})
	return p, err
}

// visibleCondition is catalog.Visible in SQL (status active, and publish_at,
// 0 for none, not after the bound time); TestListVisibility holds the two to
// one answer.
const visibleCondition = "p.status = 'active' AND p.publish_at <= $2"

// readVisible reads the product that query (with $1 the id asked for and $2
// the time) finds, and its variants, prices and categories. Visibility is in
// the query, so a hidden product and a missing one both stop after it with
// catalog.ErrNotFound: the same statements, the same answer.
func (db *DB) readVisible(ctx context.Context, query, key string, at time.Time) (catalog.Product, error) {
	var p catalog.Product
	err := db.inSnapshot(ctx, func(tx *sql.Tx) error {
		var err error
		p, err = scanProduct(tx.QueryRowContext(ctx, query, key, micros(at)))
		if err != nil {
			return err
		}
		ps := []catalog.Product{p}
		if err := fillProducts(ctx, tx, ps); err != nil {
			return err
		}
		p = ps[0]
		return nil
	})
	return p, err
}

// VisibleProduct returns the product with id if customers may see it at at;
// catalog.ErrNotFound for a hidden one exactly as for a missing one.
func (db *DB) VisibleProduct(ctx context.Context, id string, at time.Time) (catalog.Product, error) {
	return db.readVisible(ctx, "SELECT "+productColumns+" FROM products p WHERE p.id = $1 AND "+visibleCondition, id, at)
}

// VisibleProductOfVariant returns the product that holds the variant with
// variantID if customers may see it at at; catalog.ErrNotFound otherwise.
func (db *DB) VisibleProductOfVariant(ctx context.Context, variantID string, at time.Time) (catalog.Product, error) {
	return db.readVisible(ctx, "SELECT "+productColumns+
		" FROM products p WHERE p.id = (SELECT product_id FROM variants WHERE id = $1) AND "+visibleCondition, variantID, at)
}

// VisibleProductsOfVariants returns the products customers may see at at
// that hold any of variantIDs, each once, with its categories and, of its
// variants, only those named (with their prices): a cart of any size is
// priced in one statement (one snapshot, on either engine, with no
// transaction around it), and a line of a product with a hundred variants
// reads one. Hidden and missing products are left out alike.
func (db *DB) VisibleProductsOfVariants(ctx context.Context, variantIDs []string, at time.Time) ([]catalog.Product, error) {
	if len(variantIDs) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(variantIDs)+1)
	args = append(args, micros(at))
	for _, v := range variantIDs {
		args = append(args, v)
	}
	rows, err := db.sql.QueryContext(ctx, "SELECT "+productColumns+", "+variantColumns+` FROM variants v JOIN products p ON p.id = v.product_id
		WHERE v.id IN (`+placeholders(2, len(variantIDs))+`) AND p.status = 'active' AND p.publish_at <= $1
		ORDER BY p.id, v.position, v.id`, args...) // visibleCondition
	if err != nil {
		return nil, fmt.Errorf("products of variants: %w", err)
	}
	defer rows.Close()
	var ps []catalog.Product
	for rows.Next() {
		var pr productRow
		var vr variantRow
		if err := rows.Scan(append(pr.dest(), vr.dest()...)...); err != nil {
			return nil, fmt.Errorf("products of variants: scan: %w", err)
		}
		if n := len(ps); n == 0 || ps[n-1].ID != pr.p.ID {
			p, err := pr.product()
			if err != nil {
				return nil, err
			}
			ps = append(ps, p)
		}
		v, err := vr.variant()
		if err != nil {
			return nil, err
		}
		last := &ps[len(ps)-1]
		last.Variants = append(last.Variants, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("products of variants: %w", err)
	}
	return ps, nil
}

// ListProducts returns products ordered by id after q.After. It is the one
// list query of the catalog: every filter is a fixed condition that a bound
// parameter switches on or off. The full-text condition is the one that
// differs by engine (searchConditions); a search with no terms (no letter or
// digit) matches nothing.
//
// The visibility condition is catalog.Visible in SQL (status active, and
// publish_at, 0 for none, not after q.VisibleAt): a page must be filtered
// before LIMIT. TestListVisibility holds the two to one answer.
func (db *DB) ListProducts(ctx context.Context, q catalog.ListQuery) ([]catalog.Product, error) {
	var visibleAt int64
	if !q.VisibleAt.IsZero() {
		visibleAt = micros(q.VisibleAt)
	}
	minPrice, maxPrice := int64(0), int64(money.MaxAmount)
	if q.MinPrice != nil {
		minPrice = *q.MinPrice
	}
	if q.MaxPrice != nil {
		maxPrice = *q.MaxPrice
	}
	search, match := "", ""
	if q.Search != "" {
		terms := catalog.SearchTerms(q.Search)
		if len(terms) == 0 {
			return nil, nil
		}
		search, match = "on", searchMatch(db.engine, terms)
	}
	var ps []catalog.Product
	err := db.inSnapshot(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `WITH RECURSIVE below (id, depth) AS (
				SELECT id, 0 FROM categories WHERE id = $6
				UNION ALL SELECT c.id, below.depth + 1 FROM categories c JOIN below ON c.parent_id = below.id WHERE below.depth < $12
			)
			SELECT `+productColumns+` FROM products p
			WHERE p.id > $1
			  AND `+searchConditions[db.engine]+`
			  AND (CAST($4 AS BIGINT) = 0 OR (p.status = 'active' AND p.publish_at <= $4)) -- visibleCondition
			  AND ($5 = '' OR p.status = $5)
			  AND ($6 = '' OR p.id IN (SELECT pc.product_id FROM product_categories pc WHERE pc.category_id IN (SELECT id FROM below)))
			  AND ($7 = '' OR EXISTS (SELECT 1 FROM variants v JOIN variant_prices vp ON vp.variant_id = v.id
			       WHERE v.product_id = p.id AND vp.currency = $7 AND vp.amount >= $8 AND vp.amount <= $9 AND (v.stock > 0 OR $10 = FALSE)))
			  AND ($10 = FALSE OR EXISTS (SELECT 1 FROM variants v WHERE v.product_id = p.id AND v.stock > 0))
			ORDER BY p.id LIMIT $11`,
			q.After, search, match, visibleAt, q.Status, q.Category, q.Currency, minPrice, maxPrice, q.InStock, q.Limit,
			catalog.MaxCategoryDepth)
		if err != nil {
			return fmt.Errorf("list products: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			p, err := scanProduct(rows)
			if err != nil {
				return err
			}
			ps = append(ps, p)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list products: %w", err)
		}
		rows.Close()
		return fillProducts(ctx, tx, ps)
	})
	return slices.Clip(ps), err
}

// SanitizeDescriptions passes every description not yet sanitized (those
// written before migration 0017) through clean, the catalog's sanitizer, and
// returns how many it rewrote. It runs at every start and finds nothing to do
// once done; each batch is one transaction, so a crash loses nothing, and a
// row changed meanwhile is left to the write that changed it (which sanitized
// it), so several instances may run it at once.
func (db *DB) SanitizeDescriptions(ctx context.Context, clean func(string) string) (int, error) {
	total := 0
	for {
		n, err := db.sanitizeDescriptionBatch(ctx, clean)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

func (db *DB) sanitizeDescriptionBatch(ctx context.Context, clean func(string) string) (int, error) {
	done := 0
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		type legacy struct{ id, description string }
		rows, err := tx.QueryContext(ctx, "SELECT id, description FROM products WHERE description_sanitized = 0 ORDER BY id LIMIT $1", legacyBatch)
		if err != nil {
			return fmt.Errorf("find unsanitized descriptions: %w", err)
		}
		defer rows.Close()
		var todo []legacy
		for rows.Next() {
			var l legacy
			if err := rows.Scan(&l.id, &l.description); err != nil {
				return fmt.Errorf("scan unsanitized description: %w", err)
			}
			todo = append(todo, l)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("find unsanitized descriptions: %w", err)
		}
		rows.Close()
		for _, l := range todo {
			res, err := tx.ExecContext(ctx, `UPDATE products SET description = $1, description_sanitized = 1
				WHERE id = $2 AND description_sanitized = 0`, clean(l.description), l.id)
			if err != nil {
				return fmt.Errorf("sanitize description of %s: %w", l.id, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("sanitize description of %s: %w", l.id, err)
			} else if n > 0 {
				if _, err := db.indexProduct(ctx, tx, l.id, false); err != nil {
					return err
				}
			}
		}
		done = len(todo)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return done, nil
}
