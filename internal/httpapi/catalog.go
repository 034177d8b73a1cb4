package httpapi

import (
	"encoding/base64"
	"net/http"
	"strconv"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/catalog"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
)

// productJSON is the API's Product.
type productJSON struct {
	ID          string      `json:"id"`
	SKU         string      `json:"sku"`
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Price       money.Money `json:"price"`
	Stock       int64       `json:"stock"`
	Active      bool        `json:"active"`
	CreatedAt   Timestamp   `json:"created_at"`
	UpdatedAt   Timestamp   `json:"updated_at"`
}

func toProductJSON(p catalog.Product) productJSON {
	return productJSON{ID: p.ID, SKU: p.SKU, Name: p.Name, Description: p.Description, Price: p.Price,
		Stock: p.Stock, Active: p.Active, CreatedAt: Timestamp(p.CreatedAt), UpdatedAt: Timestamp(p.UpdatedAt)}
}

type listJSON[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// Cursors are opaque to clients: the last id of the page, encoded.
func encodeCursor(lastID string) string { return base64.RawURLEncoding.EncodeToString([]byte(lastID)) }

func decodeCursor(c, prefix string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !id.Valid(prefix, string(b)) {
		return "", apperr.New(apperr.CodeInvalidCursor, "the cursor is not one this server gave")
	}
	return string(b), nil
}

// parseLimit reads ?limit=, defaulting when absent; a malformed one becomes 0,
// which the service refuses with a field error.
func parseLimit(r *http.Request) int {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return catalog.DefaultLimit
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
}

func (a *API) listProducts(w http.ResponseWriter, r *http.Request) error {
	after, err := decodeCursor(r.URL.Query().Get("cursor"), id.Product)
	if err != nil {
		return err
	}
	items, more, err := a.Catalog.List(r.Context(), catalog.ListQuery{Search: r.URL.Query().Get("q"), Limit: parseLimit(r), After: after})
	if err != nil {
		return err
	}
	out := listJSON[productJSON]{Items: make([]productJSON, 0, len(items))}
	for _, p := range items {
		out.Items = append(out.Items, toProductJSON(p))
	}
	if more {
		out.NextCursor = encodeCursor(items[len(items)-1].ID)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getProduct(w http.ResponseWriter, r *http.Request) error {
	p, err := a.Catalog.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toProductJSON(p))
	return nil
}

type createProductRequest struct {
	SKU         string      `json:"sku"`
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Price       money.Money `json:"price"`
	Stock       int64       `json:"stock"`
}

func (a *API) createProduct(w http.ResponseWriter, r *http.Request) error {
	var req createProductRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	p, err := a.Catalog.Create(r.Context(), catalog.NewProduct(req))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toProductJSON(p))
	return nil
}

type updateProductRequest struct {
	Name        *string      `json:"name"`
	Description *string      `json:"description"`
	Price       *money.Money `json:"price"`
	Active      *bool        `json:"active"`
}

func (a *API) updateProduct(w http.ResponseWriter, r *http.Request) error {
	var req updateProductRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	p, err := a.Catalog.Update(r.Context(), r.PathValue("id"), catalog.Patch(req))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toProductJSON(p))
	return nil
}

type stockRequest struct {
	Delta  int64  `json:"delta"`
	Reason string `json:"reason"`
}

func (a *API) adjustStock(w http.ResponseWriter, r *http.Request) error {
	var req stockRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	p, err := a.Catalog.AdjustStock(r.Context(), r.PathValue("id"), req.Delta, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toProductJSON(p))
	return nil
}
