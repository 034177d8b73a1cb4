package httpapi

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"time"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/catalog"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
)

type optionJSON struct {
	Name   string   `json:"name"`
	Values []string `json:"values"`
}

type variantJSON struct {
	ID          string            `json:"id"`
	SKU         string            `json:"sku"`
	Options     map[string]string `json:"options"`
	Prices      []money.Money     `json:"prices"`
	Stock       int64             `json:"stock"`
	WeightGrams int64             `json:"weight_grams"`
}

// productJSON is the API's Product. sku, price, stock and active are the v1
// single-variant shorthand: the first variant's SKU, price (in the shop's
// default currency when it has one) and stock, and whether customers may
// see the product now.
type productJSON struct {
	ID          string        `json:"id"`
	SKU         string        `json:"sku"`
	Name        string        `json:"name"`
	Description string        `json:"description"`
	Price       money.Money   `json:"price"`
	Stock       int64         `json:"stock"`
	Active      bool          `json:"active"`
	Status      string        `json:"status"`
	PublishAt   *Timestamp    `json:"publish_at,omitempty"`
	Categories  []string      `json:"categories"`
	Options     []optionJSON  `json:"options"`
	Variants    []variantJSON `json:"variants"`
	CreatedAt   Timestamp     `json:"created_at"`
	UpdatedAt   Timestamp     `json:"updated_at"`
}

func (a *API) toProductJSON(p catalog.Product) productJSON {
	first := p.First()
	price, ok := first.Price(a.Catalog.Currency())
	if !ok && len(first.Prices) > 0 {
		price = first.Prices[0]
	}
	out := productJSON{ID: p.ID, SKU: first.SKU, Name: p.Name, Description: p.Description, Price: price,
		Stock: first.Stock, Active: p.Visible(a.Catalog.Now()), Status: p.Status, Categories: p.Categories,
		Options: make([]optionJSON, 0, len(p.Options)), Variants: make([]variantJSON, 0, len(p.Variants)),
		CreatedAt: Timestamp(p.CreatedAt), UpdatedAt: Timestamp(p.UpdatedAt)}
	if out.Categories == nil {
		out.Categories = []string{}
	}
	if !p.PublishAt.IsZero() {
		out.PublishAt = stamp(p.PublishAt)
	}
	for _, o := range p.Options {
		out.Options = append(out.Options, optionJSON(o))
	}
	for _, v := range p.Variants {
		vj := variantJSON{ID: v.ID, SKU: v.SKU, Options: v.Options, Prices: v.Prices, Stock: v.Stock, WeightGrams: v.WeightGrams}
		if vj.Options == nil {
			vj.Options = map[string]string{}
		}
		if vj.Prices == nil {
			vj.Prices = []money.Money{}
		}
		out.Variants = append(out.Variants, vj)
	}
	return out
}

type listJSON[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// Cursors are opaque to clients: the last id of the page. It was once
// base64url-encoded, which gave some ids a '-' or '_' that the WAF's
// SQL-injection detector reads as SQL, so one page of a list could be refused
// for good; the id's own alphabet cannot be. Cursors of the old form are
// still read, for a client that paginates across an upgrade.
func encodeCursor(lastID string) string { return lastID }

func decodeCursor(c, prefix string) (string, error) {
	if c == "" || id.Valid(prefix, c) {
		return c, nil
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

// listQuery reads the product list's query parameters.
func listQuery(r *http.Request) (catalog.ListQuery, error) {
	qs := r.URL.Query()
	after, err := decodeCursor(qs.Get("cursor"), id.Product)
	if err != nil {
		return catalog.ListQuery{}, err
	}
	q := catalog.ListQuery{Search: qs.Get("q"), Limit: parseLimit(r), After: after, Category: qs.Get("category"),
		Currency: qs.Get("currency"), Status: qs.Get("status")}
	var v apperr.Validator
	amount := func(name string) *int64 {
		s := qs.Get(name)
		if s == "" {
			return nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		v.Check(err == nil, name, "must be a whole number of minor units")
		return &n
	}
	q.MinPrice, q.MaxPrice = amount("min_price"), amount("max_price")
	switch qs.Get("in_stock") {
	case "", "false":
	case "true":
		q.InStock = true
	default:
		v.Check(false, "in_stock", "must be true or false")
	}
	return q, v.Err()
}

func (a *API) writeProducts(w http.ResponseWriter, items []catalog.Product, more bool) {
	out := listJSON[productJSON]{Items: make([]productJSON, 0, len(items))}
	for _, p := range items {
		out.Items = append(out.Items, a.toProductJSON(p))
	}
	if more {
		out.NextCursor = encodeCursor(items[len(items)-1].ID)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) listProducts(w http.ResponseWriter, r *http.Request) error {
	q, err := listQuery(r)
	if err != nil {
		return err
	}
	items, more, err := a.Catalog.List(r.Context(), q)
	if err != nil {
		return err
	}
	a.writeProducts(w, items, more)
	return nil
}

func (a *API) adminListProducts(w http.ResponseWriter, r *http.Request) error {
	q, err := listQuery(r)
	if err != nil {
		return err
	}
	items, more, err := a.Catalog.AdminList(r.Context(), q)
	if err != nil {
		return err
	}
	a.writeProducts(w, items, more)
	return nil
}

func (a *API) getProduct(w http.ResponseWriter, r *http.Request) error {
	p, err := a.Catalog.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.toProductJSON(p))
	return nil
}

func (a *API) adminGetProduct(w http.ResponseWriter, r *http.Request) error {
	p, err := a.Catalog.AdminGet(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.toProductJSON(p))
	return nil
}

// parseTime reads an optional RFC 3339 time field: nil when absent, and
// clear when given as "".
func parseTime(v *apperr.Validator, field string, s *string) (t *time.Time, clear bool) {
	if s == nil {
		return nil, false
	}
	if *s == "" {
		return nil, true
	}
	parsed, err := time.Parse(time.RFC3339, *s)
	v.Check(err == nil, field, "must be an RFC 3339 time such as 2027-01-31T09:00:00Z, or \"\" for none")
	return &parsed, false
}

type newVariantJSON struct {
	SKU         string            `json:"sku"`
	Options     map[string]string `json:"options"`
	Prices      []money.Money     `json:"prices"`
	Stock       int64             `json:"stock"`
	WeightGrams int64             `json:"weight_grams"`
}

// createProductRequest is a product with its variants, or the v1 shorthand
// (sku, price, stock) for a single-variant product.
type createProductRequest struct {
	SKU         *string          `json:"sku"`
	Price       *money.Money     `json:"price"`
	Stock       *int64           `json:"stock"`
	Name        string           `json:"name"`
	Description string           `json:"description"`
	Status      string           `json:"status"`
	PublishAt   *string          `json:"publish_at"`
	Categories  []string         `json:"categories"`
	Options     []optionJSON     `json:"options"`
	Variants    []newVariantJSON `json:"variants"`
}

func (a *API) createProduct(w http.ResponseWriter, r *http.Request) error {
	var req createProductRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	var v apperr.Validator
	publishAt, clear := parseTime(&v, "publish_at", req.PublishAt)
	v.Check(!clear, "publish_at", "leave it out for none")
	shorthand := req.SKU != nil || req.Price != nil || req.Stock != nil
	v.Check(!shorthand || req.Variants == nil, "variants", "send either sku, price and stock (one variant) or variants, not both")
	if err := v.Err(); err != nil {
		return err
	}
	var in catalog.NewProduct
	if shorthand {
		var sku string
		var price money.Money
		var stock int64
		if req.SKU != nil {
			sku = *req.SKU
		}
		if req.Price != nil {
			price = *req.Price
		}
		if req.Stock != nil {
			stock = *req.Stock
		}
		in = catalog.SingleVariant(sku, req.Name, req.Description, price, stock)
		if req.Status != "" {
			in.Status = req.Status
		}
	} else {
		in = catalog.NewProduct{Name: req.Name, Description: req.Description, Status: req.Status}
		for _, nv := range req.Variants {
			in.Variants = append(in.Variants, catalog.NewVariant(nv))
		}
	}
	in.PublishAt, in.Categories = publishAt, req.Categories
	for _, o := range req.Options {
		in.Options = append(in.Options, catalog.Option(o))
	}
	p, err := a.Catalog.Create(r.Context(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, a.toProductJSON(p))
	return nil
}

type updateProductRequest struct {
	Name        *string      `json:"name"`
	Description *string      `json:"description"`
	Price       *money.Money `json:"price"`
	Active      *bool        `json:"active"`
	Status      *string      `json:"status"`
	PublishAt   *string      `json:"publish_at"`
	Categories  *[]string    `json:"categories"`
}

func (a *API) updateProduct(w http.ResponseWriter, r *http.Request) error {
	var req updateProductRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	var v apperr.Validator
	publishAt, clear := parseTime(&v, "publish_at", req.PublishAt)
	if err := v.Err(); err != nil {
		return err
	}
	p, err := a.Catalog.Update(r.Context(), r.PathValue("id"), catalog.Patch{Name: req.Name, Description: req.Description,
		Price: req.Price, Active: req.Active, Status: req.Status, PublishAt: publishAt, ClearPublishAt: clear, Categories: req.Categories})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.toProductJSON(p))
	return nil
}

func (a *API) addVariant(w http.ResponseWriter, r *http.Request) error {
	var req newVariantJSON
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	p, err := a.Catalog.AddVariant(r.Context(), r.PathValue("id"), catalog.NewVariant(req))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, a.toProductJSON(p))
	return nil
}

type updateVariantRequest struct {
	SKU         *string        `json:"sku"`
	Prices      *[]money.Money `json:"prices"`
	WeightGrams *int64         `json:"weight_grams"`
}

func (a *API) updateVariant(w http.ResponseWriter, r *http.Request) error {
	var req updateVariantRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	p, err := a.Catalog.UpdateVariant(r.Context(), r.PathValue("id"), catalog.VariantPatch(req))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.toProductJSON(p))
	return nil
}

type stockRequest struct {
	Delta  int64  `json:"delta"`
	Reason string `json:"reason"`
}

// adjustStock serves both stock routes: a variant's, and a single-variant
// product's by its product id.
func (a *API) adjustStock(w http.ResponseWriter, r *http.Request) error {
	var req stockRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	p, err := a.Catalog.AdjustStock(r.Context(), r.PathValue("id"), req.Delta, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.toProductJSON(p))
	return nil
}
