package catalog

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/id"
)

// Limits of the category tree.
const (
	MaxCategoryDepth = 5 // a root is at depth 0; the deepest category at MaxCategoryDepth-1
	MaxCategoriesAll = 1000
	MaxPosition      = 1_000_000
)

// Audit actions of categories.
const (
	ActionCategoryCreate = "category.create"
	ActionCategoryUpdate = "category.update"
	ActionCategoryDelete = "category.delete"
)

// Codes of category errors.
const (
	CodeSlugTaken        = "slug_taken"
	CodeCategoryNotEmpty = "category_has_children"
	CodeCategoryCycle    = "category_cycle"
	CodeCategoryTooDeep  = "category_too_deep"
)

// Category errors.
var (
	ErrCategoryNotFound = apperr.NotFound("category")
	ErrSlugTaken        = apperr.New(CodeSlugTaken, "a category with this slug already exists")
	ErrCategoryNotEmpty = apperr.New(CodeCategoryNotEmpty, "the category has child categories: move or delete them first")
	// ErrCategoryInUse: a product was put in the category while it was being
	// deleted (PostgreSQL lets the two overlap); sending the delete again works.
	ErrCategoryInUse   = apperr.New(apperr.CodeConflict, "a product was put in the category meanwhile: send the delete again")
	ErrCategoryCycle   = apperr.New(CodeCategoryCycle, "a category cannot be placed under itself or one of its descendants")
	ErrCategoryTooDeep = apperr.New(CodeCategoryTooDeep, "categories nest at most %d deep", MaxCategoryDepth)
	ErrTooManyCategory = apperr.New(apperr.CodeValidation, "the shop has at most %d categories", MaxCategoriesAll)
)

var slugShape = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// Category is a node of the category tree.
type Category struct {
	ID        string
	ParentID  string // empty for a root
	Name      string
	Slug      string
	Position  int
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CategoryPatch changes some fields of a category; nil fields stay as they
// are. ParentID set to "" makes the category a root.
type CategoryPatch struct {
	Name     *string
	Slug     *string
	ParentID *string
	Position *int
}

// CategoryStore keeps the category tree. Methods that change data append rec
// in the same transaction and check the tree with CheckPlacement there.
type CategoryStore interface {
	Categories(ctx context.Context) ([]Category, error)
	// VisibleCategories returns the categories whose subtree holds a product
	// visible at at (Visible), and no other.
	VisibleCategories(ctx context.Context, at time.Time) ([]Category, error)
	CreateCategory(ctx context.Context, c Category, rec audit.Record) error // ErrSlugTaken, ErrCategoryNotFound (parent), ErrCategoryTooDeep
	UpdateCategory(ctx context.Context, id string, patch CategoryPatch, at time.Time, rec audit.Record) (Category, error)
	DeleteCategory(ctx context.Context, id string, rec audit.Record) error // ErrCategoryNotFound, ErrCategoryNotEmpty, ErrCategoryInUse
}

// CheckPlacement decides whether category id may sit under parent in the
// tree given as child → parent (every category, "" for roots): parent must
// exist, must not be id or below it (no cycles), and the deepest category of
// id's subtree must stay within MaxCategoryDepth.
func CheckPlacement(parents map[string]string, id, parent string) error {
	if parent == "" {
		return checkDepth(parents, id, 0)
	}
	if _, ok := parents[parent]; !ok {
		return ErrCategoryNotFound
	}
	depth := 1
	for at := parent; at != ""; at = parents[at] {
		if at == id {
			return ErrCategoryCycle
		}
		if depth > len(parents) { // a cycle already stored; never trust it
			return ErrCategoryCycle
		}
		depth++
	}
	return checkDepth(parents, id, depth-1)
}

// checkDepth reports ErrCategoryTooDeep when id placed at depth would put
// itself or any descendant at MaxCategoryDepth or deeper.
func checkDepth(parents map[string]string, id string, depth int) error {
	if depth+subtreeHeight(parents, id, 0) >= MaxCategoryDepth {
		return ErrCategoryTooDeep
	}
	return nil
}

func subtreeHeight(parents map[string]string, id string, guard int) int {
	if guard > MaxCategoryDepth+1 {
		return guard
	}
	h := 0
	for child, parent := range parents {
		if parent == id && child != id {
			h = max(h, 1+subtreeHeight(parents, child, guard+1))
		}
	}
	return h
}

func checkCategoryFields(v *apperr.Validator, name, slug *string, position *int) {
	if name != nil {
		v.CheckText("name", *name, 1, MaxNameLength, false)
	}
	if slug != nil {
		v.Check(len(*slug) <= 100 && slugShape.MatchString(*slug), "slug", "must be 1 to 100 lowercase letters, digits and single hyphens")
	}
	if position != nil {
		v.Check(*position >= 0 && *position <= MaxPosition, "position", fmt.Sprintf("must be between 0 and %d", MaxPosition))
	}
}

// Categories returns, to anyone, the categories whose subtree holds at least
// one product customers may see now, parents before children, siblings by
// position. A category made for an unreleased line (only draft, archived or
// scheduled products, or none) is not shown: its name would announce the
// launch.
func (s *Service) Categories(ctx context.Context) ([]Category, error) {
	cs, err := s.categories.VisibleCategories(ctx, s.now().UTC())
	if err != nil {
		return nil, fmt.Errorf("list categories: %w", err)
	}
	return cs, nil
}

// AdminCategories returns the whole tree to staff. Needs access.CatalogWrite.
func (s *Service) AdminCategories(ctx context.Context) ([]Category, error) {
	if _, err := access.Require(ctx, access.CatalogWrite); err != nil {
		return nil, err
	}
	cs, err := s.categories.Categories(ctx)
	if err != nil {
		return nil, fmt.Errorf("list categories: %w", err)
	}
	return cs, nil
}

// CreateCategory adds a category. Needs access.CatalogWrite.
func (s *Service) CreateCategory(ctx context.Context, c Category) (Category, error) {
	if _, err := access.Require(ctx, access.CatalogWrite); err != nil {
		return Category{}, err
	}
	var v apperr.Validator
	checkCategoryFields(&v, &c.Name, &c.Slug, &c.Position)
	v.Check(c.ParentID == "" || id.Valid(id.Category, c.ParentID), "parent_id", "is not a category id")
	if err := v.Err(); err != nil {
		return Category{}, err
	}
	now := s.now().UTC()
	c.ID, c.CreatedAt, c.UpdatedAt = id.New(id.Category), now, now
	rec := audit.New(ctx, now, ActionCategoryCreate, c.ID, audit.Success, fmt.Sprintf("slug=%s parent=%s", c.Slug, c.ParentID))
	if err := s.categories.CreateCategory(ctx, c, rec); err != nil {
		return Category{}, fmt.Errorf("create category: %w", err)
	}
	return c, nil
}

// UpdateCategory renames, re-slugs, moves or re-orders a category. Needs access.CatalogWrite.
func (s *Service) UpdateCategory(ctx context.Context, categoryID string, patch CategoryPatch) (Category, error) {
	if _, err := access.Require(ctx, access.CatalogWrite); err != nil {
		return Category{}, err
	}
	if !id.Valid(id.Category, categoryID) {
		return Category{}, ErrCategoryNotFound
	}
	var v apperr.Validator
	checkCategoryFields(&v, patch.Name, patch.Slug, patch.Position)
	var changed []string
	for name, set := range map[string]bool{"name": patch.Name != nil, "slug": patch.Slug != nil, "position": patch.Position != nil} {
		if set {
			changed = append(changed, name)
		}
	}
	if patch.ParentID != nil {
		v.Check(*patch.ParentID == "" || id.Valid(id.Category, *patch.ParentID), "parent_id", "is not a category id")
		changed = append(changed, "parent="+*patch.ParentID)
	}
	v.Check(len(changed) > 0, "body", "send at least one of name, slug, parent_id, position")
	if err := v.Err(); err != nil {
		return Category{}, err
	}
	now := s.now().UTC()
	rec := audit.New(ctx, now, ActionCategoryUpdate, categoryID, audit.Success, strings.Join(changed, " "))
	c, err := s.categories.UpdateCategory(ctx, categoryID, patch, now, rec)
	if err != nil {
		return Category{}, fmt.Errorf("update category %s: %w", categoryID, err)
	}
	return c, nil
}

// DeleteCategory removes a category without children; its products leave
// it (and stay). Needs access.CatalogWrite.
func (s *Service) DeleteCategory(ctx context.Context, categoryID string) error {
	if _, err := access.Require(ctx, access.CatalogWrite); err != nil {
		return err
	}
	if !id.Valid(id.Category, categoryID) {
		return ErrCategoryNotFound
	}
	rec := audit.New(ctx, s.now().UTC(), ActionCategoryDelete, categoryID, audit.Success, "")
	if err := s.categories.DeleteCategory(ctx, categoryID, rec); err != nil {
		return fmt.Errorf("delete category %s: %w", categoryID, err)
	}
	return nil
}
