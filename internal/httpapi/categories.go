package httpapi

import (
	"net/http"

	"github.com/bulwark-shop/bulwark/internal/catalog"
)

// categoryJSON is the API's Category; parent_id is absent for a root.
type categoryJSON struct {
	ID        string    `json:"id"`
	ParentID  string    `json:"parent_id,omitempty"`
	Name      string    `json:"name"`
	Slug      string    `json:"slug"`
	Position  int       `json:"position"`
	CreatedAt Timestamp `json:"created_at"`
	UpdatedAt Timestamp `json:"updated_at"`
}

func toCategoryJSON(c catalog.Category) categoryJSON {
	return categoryJSON{ID: c.ID, ParentID: c.ParentID, Name: c.Name, Slug: c.Slug, Position: c.Position,
		CreatedAt: Timestamp(c.CreatedAt), UpdatedAt: Timestamp(c.UpdatedAt)}
}

// listCategories is the public list: only categories with a visible product
// in their subtree.
func (a *API) listCategories(w http.ResponseWriter, r *http.Request) error {
	cs, err := a.Catalog.Categories(r.Context())
	if err != nil {
		return err
	}
	writeCategories(w, cs)
	return nil
}

// adminListCategories is the staff list: the whole tree.
func (a *API) adminListCategories(w http.ResponseWriter, r *http.Request) error {
	cs, err := a.Catalog.AdminCategories(r.Context())
	if err != nil {
		return err
	}
	writeCategories(w, cs)
	return nil
}

func writeCategories(w http.ResponseWriter, cs []catalog.Category) {
	out := listJSON[categoryJSON]{Items: make([]categoryJSON, 0, len(cs))}
	for _, c := range cs {
		out.Items = append(out.Items, toCategoryJSON(c))
	}
	writeJSON(w, http.StatusOK, out)
}

type createCategoryRequest struct {
	Name     string `json:"name"`
	Slug     string `json:"slug"`
	ParentID string `json:"parent_id"`
	Position int    `json:"position"`
}

func (a *API) createCategory(w http.ResponseWriter, r *http.Request) error {
	var req createCategoryRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	c, err := a.Catalog.CreateCategory(r.Context(), catalog.Category{Name: req.Name, Slug: req.Slug, ParentID: req.ParentID, Position: req.Position})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toCategoryJSON(c))
	return nil
}

type updateCategoryRequest struct {
	Name     *string `json:"name"`
	Slug     *string `json:"slug"`
	ParentID *string `json:"parent_id"` // "" makes the category a root
	Position *int    `json:"position"`
}

func (a *API) updateCategory(w http.ResponseWriter, r *http.Request) error {
	var req updateCategoryRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	c, err := a.Catalog.UpdateCategory(r.Context(), r.PathValue("id"), catalog.CategoryPatch(req))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toCategoryJSON(c))
	return nil
}

func (a *API) deleteCategory(w http.ResponseWriter, r *http.Request) error {
	if err := a.Catalog.DeleteCategory(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
