package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/catalog"
)

var _ catalog.CategoryStore = (*DB)(nil)

const categoryColumns = "id, COALESCE(parent_id, ''), name, slug, position, created_at, updated_at"

func scanCategory(row rowScanner) (catalog.Category, error) {
	var c catalog.Category
	var created, updated int64
	err := row.Scan(&c.ID, &c.ParentID, &c.Name, &c.Slug, &c.Position, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return catalog.Category{}, catalog.ErrCategoryNotFound
	}
	if err != nil {
		return catalog.Category{}, fmt.Errorf("scan category: %w", err)
	}
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return c, nil
}

func readCategories(ctx context.Context, q queryer) ([]catalog.Category, error) {
	return queryCategories(ctx, q, "SELECT "+categoryColumns+" FROM categories ORDER BY position, slug")
}

func queryCategories(ctx context.Context, q queryer, query string, args ...any) ([]catalog.Category, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list categories: %w", err)
	}
	defer rows.Close()
	cs := []catalog.Category{}
	for rows.Next() {
		c, err := scanCategory(rows)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list categories: %w", err)
	}
	return treeOrder(cs), nil
}

// treeOrder puts parents before their children, siblings in the order given.
func treeOrder(cs []catalog.Category) []catalog.Category {
	children := map[string][]catalog.Category{}
	for _, c := range cs {
		children[c.ParentID] = append(children[c.ParentID], c)
	}
	out := make([]catalog.Category, 0, len(cs))
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		if depth > catalog.MaxCategoryDepth {
			return
		}
		for _, c := range children[parent] {
			out = append(out, c)
			walk(c.ID, depth+1)
		}
	}
	walk("", 0)
	return out
}

// parentsOf reads the tree as child → parent for a change of it. On
// PostgreSQL the table is locked against other writers first (SQLite has one
// writer at a time anyway), so two concurrent moves or inserts, each fine
// alone, cannot together make a cycle or a branch too deep.
func (db *DB) parentsOf(ctx context.Context, tx *sql.Tx) (map[string]string, error) {
	if db.engine == Postgres {
		if _, err := tx.ExecContext(ctx, "LOCK TABLE categories IN SHARE ROW EXCLUSIVE MODE"); err != nil {
			return nil, fmt.Errorf("lock categories: %w", err)
		}
	}
	rows, err := tx.QueryContext(ctx, "SELECT id, COALESCE(parent_id, '') FROM categories")
	if err != nil {
		return nil, fmt.Errorf("read category tree: %w", err)
	}
	defer rows.Close()
	parents := map[string]string{}
	for rows.Next() {
		var id, parent string
		if err := rows.Scan(&id, &parent); err != nil {
			return nil, fmt.Errorf("scan category tree: %w", err)
		}
		parents[id] = parent
	}
	return parents, rows.Err()
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Categories returns every category, parents before children.
func (db *DB) Categories(ctx context.Context) ([]catalog.Category, error) {
	return readCategories(ctx, db.sql)
}

// VisibleCategories returns the categories whose subtree holds at least one
// product visible at at, parents before children: the categories holding a
// visible product, and their ancestors. The visibility condition is
// catalog.Visible in SQL, as in ListProducts.
func (db *DB) VisibleCategories(ctx context.Context, at time.Time) ([]catalog.Category, error) {
	return queryCategories(ctx, db.sql, `WITH RECURSIVE shown (id, depth) AS (
			SELECT pc.category_id, 0 FROM product_categories pc JOIN products p ON p.id = pc.product_id
			WHERE p.status = 'active' AND p.publish_at <= $1
			UNION SELECT c.parent_id, shown.depth + 1 FROM categories c JOIN shown ON c.id = shown.id
			WHERE c.parent_id IS NOT NULL AND shown.depth < $2
		)
		SELECT `+categoryColumns+` FROM categories WHERE id IN (SELECT id FROM shown) ORDER BY position, slug`,
		micros(at), catalog.MaxCategoryDepth)
}

// CreateCategory inserts c where CheckPlacement allows it.
func (db *DB) CreateCategory(ctx context.Context, c catalog.Category, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		parents, err := db.parentsOf(ctx, tx)
		if err != nil {
			return err
		}
		if len(parents) >= catalog.MaxCategoriesAll {
			return catalog.ErrTooManyCategory
		}
		parents[c.ID] = ""
		if err := catalog.CheckPlacement(parents, c.ID, c.ParentID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO categories (id, parent_id, name, slug, position, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
			c.ID, nullable(c.ParentID), c.Name, c.Slug, c.Position, micros(c.CreatedAt), micros(c.UpdatedAt))
		if isUniqueViolation(err) {
			return catalog.ErrSlugTaken
		}
		if err != nil {
			return fmt.Errorf("insert category: %w", err)
		}
		return appendAudit(ctx, tx, rec)
	})
}

// UpdateCategory applies patch; a move is checked with CheckPlacement.
func (db *DB) UpdateCategory(ctx context.Context, id string, patch catalog.CategoryPatch, at time.Time, rec audit.Record) (catalog.Category, error) {
	var c catalog.Category
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		parents, err := db.parentsOf(ctx, tx)
		if err != nil {
			return err
		}
		if _, ok := parents[id]; !ok {
			return catalog.ErrCategoryNotFound
		}
		if patch.ParentID != nil {
			if err := catalog.CheckPlacement(parents, id, *patch.ParentID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "UPDATE categories SET parent_id = $1 WHERE id = $2", nullable(*patch.ParentID), id); err != nil {
				return fmt.Errorf("move category: %w", err)
			}
		}
		if patch.Name != nil {
			if _, err := tx.ExecContext(ctx, "UPDATE categories SET name = $1 WHERE id = $2", *patch.Name, id); err != nil {
				return fmt.Errorf("rename category: %w", err)
			}
		}
		if patch.Slug != nil {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM categories WHERE slug = $1 AND id <> $2", *patch.Slug, id).Scan(&n); err != nil {
				return fmt.Errorf("find slug: %w", err)
			}
			if n > 0 {
				return catalog.ErrSlugTaken
			}
			if _, err := tx.ExecContext(ctx, "UPDATE categories SET slug = $1 WHERE id = $2", *patch.Slug, id); err != nil {
				return fmt.Errorf("re-slug category: %w", err)
			}
		}
		if patch.Position != nil {
			if _, err := tx.ExecContext(ctx, "UPDATE categories SET position = $1 WHERE id = $2", *patch.Position, id); err != nil {
				return fmt.Errorf("move category: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE categories SET updated_at = $1 WHERE id = $2", micros(at), id); err != nil {
			return fmt.Errorf("touch category: %w", err)
		}
		if err := appendAudit(ctx, tx, rec); err != nil {
			return err
		}
		c, err = scanCategory(tx.QueryRowContext(ctx, "SELECT "+categoryColumns+" FROM categories WHERE id = $1", id))
		return err
	})
	return c, err
}

// DeleteCategory deletes a category that has no children, and takes its
// products out of it.
func (db *DB) DeleteCategory(ctx context.Context, id string, rec audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		parents, err := db.parentsOf(ctx, tx)
		if err != nil {
			return err
		}
		if _, ok := parents[id]; !ok {
			return catalog.ErrCategoryNotFound
		}
		for _, parent := range parents {
			if parent == id {
				return catalog.ErrCategoryNotEmpty
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM product_categories WHERE category_id = $1", id); err != nil {
			return fmt.Errorf("empty category: %w", err)
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM categories WHERE id = $1", id)
		if isForeignKeyViolation(err) {
			// A product was put in it after it was emptied above (PostgreSQL).
			return catalog.ErrCategoryInUse
		}
		if err != nil {
			return fmt.Errorf("delete category: %w", err)
		}
		return appendAudit(ctx, tx, rec)
	})
}
