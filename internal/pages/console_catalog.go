package pages

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/money"
)

// catalogRoutes are the catalog pages: products of every status, the
// product editor, variants and stock, and categories.
func catalogRoutes() []pageRoute {
	return []pageRoute{
		get("/console/catalog", (*page).consoleCatalog),
		get("/console/catalog/new", (*page).consoleNewProduct),
		bigForm("/console/catalog/products", (*page).consoleCreateProduct),
		get("/console/catalog/products/{id}", (*page).consoleProduct),
		bigForm("/console/catalog/products/{id}", (*page).consoleUpdateProduct),
		post("/console/catalog/products/{id}/variants", (*page).consoleAddVariant),
		post("/console/catalog/products/{id}/variants/{vid}", (*page).consoleUpdateVariant),
		post("/console/catalog/products/{id}/variants/{vid}/stock", (*page).consoleAdjustStock),
		get("/console/catalog/categories", (*page).consoleCategories),
		post("/console/catalog/categories", (*page).consoleCreateCategory),
		get("/console/catalog/categories/{id}", (*page).consoleCategory),
		post("/console/catalog/categories/{id}", (*page).consoleUpdateCategory),
		post("/console/catalog/categories/{id}/delete", (*page).consoleDeleteCategory),
	}
}

// adminProduct is the API's Product as staff read it.
type (
	adminProduct struct {
		ID          string         `json:"id"`
		SKU         string         `json:"sku"`
		Name        string         `json:"name"`
		Description string         `json:"description"`
		Price       money.Money    `json:"price"`
		Stock       int64          `json:"stock"`
		Active      bool           `json:"active"`
		Status      string         `json:"status"`
		PublishAt   string         `json:"publish_at"`
		Categories  []string       `json:"categories"`
		Options     []optionJSON   `json:"options"`
		Variants    []adminVariant `json:"variants"`
		UpdatedAt   string         `json:"updated_at"`
	}
	adminVariant struct {
		ID          string            `json:"id"`
		SKU         string            `json:"sku"`
		Options     map[string]string `json:"options"`
		Prices      []money.Money     `json:"prices"`
		Stock       int64             `json:"stock"`
		WeightGrams int64             `json:"weight_grams"`
	}
	adminCategory struct {
		ID       string `json:"id"`
		ParentID string `json:"parent_id"`
		Name     string `json:"name"`
		Slug     string `json:"slug"`
		Position int    `json:"position"`
	}
)

// PriceText is the variant's prices as the form writes them.
func (v adminVariant) PriceText() string { return formatPrices(v.Prices) }

// Label names a variant by its option values, or its SKU.
func (v adminVariant) Label(opts []optionJSON) string {
	return variantJSON{SKU: v.SKU, Options: v.Options}.Label(opts)
}

// PublishInput is the launch time as a datetime-local value (UTC).
func (p adminProduct) PublishInput() string { return inputTime(p.PublishAt) }

// Scheduled says whether an active product waits for its launch time.
func (p adminProduct) Scheduled() bool { return p.Status == "active" && !p.Active && p.PublishAt != "" }

// productStatuses are the statuses a product may have.
var productStatuses = []string{"draft", "active", "archived"}

// catalogPage is the product list's data.
type catalogListPage struct {
	Status, Query string
	Statuses      []string
	Products      []adminProduct
	Next          string
}

func (p *page) consoleCatalog() error {
	q := p.r.URL.Query()
	data := catalogListPage{Status: q.Get("status"), Query: q.Get("q"), Statuses: productStatuses}
	qs := url.Values{"limit": {"25"}}
	for _, k := range []string{"status", "q", "cursor"} {
		if v := q.Get(k); v != "" {
			qs.Set(k, v)
		}
	}
	var out list[adminProduct]
	if err := p.call(http.MethodGet, "/api/v1/admin/products?"+qs.Encode(), nil, &out); err != nil {
		return p.refused(err, "", func() (string, string, any, error) { return "console-catalog.html", "Catalog", data, nil })
	}
	data.Products = out.Items
	if out.NextCursor != "" {
		qs.Del("limit")
		qs.Set("cursor", out.NextCursor)
		data.Next = qs.Encode()
	}
	return p.show("console-catalog.html", "Catalog", data)
}

// productForm is the product editor's data: the product (nil when new) and
// the categories to choose from.
type productForm struct {
	Product    *adminProduct
	Categories []adminCategory
	Statuses   []string
}

// In says whether the product is in category id (a new product is in none).
func (f productForm) In(id string) bool {
	return f.Product != nil && contains(f.Product.Categories, id)
}

func (p *page) categories() ([]adminCategory, error) {
	var out list[adminCategory]
	err := p.call(http.MethodGet, "/api/v1/admin/categories", nil, &out)
	return out.Items, err
}

func (p *page) drawNewProduct() (string, string, any, error) {
	cats, err := p.categories()
	return "console-catalog-new.html", "New product", productForm{Categories: cats, Statuses: productStatuses}, err
}

func (p *page) consoleNewProduct() error {
	tmpl, title, data, err := p.drawNewProduct()
	if err != nil {
		return err
	}
	return p.show(tmpl, title, data)
}

// parseOptions reads the product's options, one a line: "size: S, M, L".
func parseOptions(s string) ([]optionJSON, error) {
	out := []optionJSON{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, values, ok := strings.Cut(line, ":")
		if !ok {
			return nil, formError("options", "write each option on a line of its own as name: value, value")
		}
		out = append(out, optionJSON{Name: strings.TrimSpace(name), Values: splitList(values)})
	}
	return out, nil
}

// parseChoice reads a variant's option values: "size=M, colour=red".
func parseChoice(field, s string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range splitList(s) {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, formError(field, "write the variant's values as option=value, separated by commas")
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

// publishAt reads the launch time field as the API's RFC 3339 text: ""
// (none) when empty.
func (p *page) publishAt() (string, error) {
	t, err := parseUTC("publish_at", p.r.PostFormValue("publish_at"))
	if err != nil || t == nil {
		return "", err
	}
	return t.Format(time.RFC3339), nil
}

// consoleCreateProduct creates a product with its first variant through
// POST /api/v1/admin/products (the full form, never the shorthand: its
// status is the form's, draft unless chosen).
func (p *page) consoleCreateProduct() error {
	f := p.r.PostForm
	body, err := func() (map[string]any, error) {
		opts, err := parseOptions(f.Get("options"))
		if err != nil {
			return nil, err
		}
		choice, err := parseChoice("variant_options", f.Get("variant_options"))
		if err != nil {
			return nil, err
		}
		prices, err := parsePrices("prices", f.Get("prices"))
		if err != nil {
			return nil, err
		}
		stock, err := parseInt("stock", f.Get("stock"))
		if err != nil {
			return nil, err
		}
		weight, err := parseInt("weight_grams", f.Get("weight_grams"))
		if err != nil {
			return nil, err
		}
		body := map[string]any{"name": f.Get("name"), "description": f.Get("description"), "status": f.Get("status"),
			"categories": nonNil(f["category"]), "options": opts,
			"variants": []map[string]any{{"sku": f.Get("sku"), "options": choice, "prices": prices, "stock": stock, "weight_grams": weight}}}
		at, err := p.publishAt()
		if at != "" {
			body["publish_at"] = at
		}
		return body, err
	}()
	if err == nil {
		var created adminProduct
		if err = p.call(http.MethodPost, "/api/v1/admin/products", body, &created); err == nil {
			return p.redirect("/console/catalog/products/"+url.PathEscape(created.ID), "product-created")
		}
	}
	return p.refused(err, "/console/catalog/new", p.drawNewProduct)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// productBack is the product's page.
func (p *page) productBack() string {
	return "/console/catalog/products/" + url.PathEscape(p.r.PathValue("id"))
}

func (p *page) drawProduct() (string, string, any, error) {
	var prod adminProduct
	if err := p.call(http.MethodGet, "/api/v1/admin/products/"+esc(p.r.PathValue("id")), nil, &prod); err != nil {
		return "", "", nil, err
	}
	cats, err := p.categories()
	return "console-catalog-product.html", prod.Name, productForm{Product: &prod, Categories: cats, Statuses: productStatuses}, err
}

func (p *page) consoleProduct() error {
	tmpl, title, data, err := p.drawProduct()
	if err != nil {
		return err
	}
	return p.show(tmpl, title, data)
}

// consoleUpdateProduct changes the product's name, description, status,
// launch time and categories (PATCH: options cannot change).
func (p *page) consoleUpdateProduct() error {
	f := p.r.PostForm
	at, err := p.publishAt()
	if err == nil {
		err = p.call(http.MethodPatch, "/api/v1/admin/products/"+esc(p.r.PathValue("id")), map[string]any{
			"name": f.Get("name"), "description": f.Get("description"), "status": f.Get("status"),
			"publish_at": at, "categories": nonNil(f["category"])}, nil)
	}
	if err != nil {
		return p.refused(err, p.productBack(), p.drawProduct)
	}
	return p.redirect(p.productBack(), "updated")
}

// variantBody reads the variant form: SKU, the option values (opt-<name>),
// prices, weight, and (new variants) stock.
func (p *page) variantBody(withStock bool) (map[string]any, error) {
	f := p.r.PostForm
	prices, err := parsePrices("prices", f.Get("prices"))
	if err != nil {
		return nil, err
	}
	weight, err := parseInt("weight_grams", f.Get("weight_grams"))
	if err != nil {
		return nil, err
	}
	body := map[string]any{"sku": f.Get("sku"), "prices": prices, "weight_grams": weight}
	if withStock {
		stock, err := parseInt("stock", f.Get("stock"))
		if err != nil {
			return nil, err
		}
		choice := map[string]string{}
		for k, v := range f {
			if name, ok := strings.CutPrefix(k, "opt-"); ok && len(v) > 0 {
				choice[name] = v[0]
			}
		}
		body["stock"], body["options"] = stock, choice
	}
	return body, nil
}

func (p *page) consoleAddVariant() error {
	body, err := p.variantBody(true)
	if err == nil {
		err = p.call(http.MethodPost, "/api/v1/admin/products/"+esc(p.r.PathValue("id"))+"/variants", body, nil)
	}
	if err != nil {
		return p.refused(err, p.productBack(), p.drawProduct)
	}
	return p.redirect(p.productBack(), "variant-added")
}

func (p *page) consoleUpdateVariant() error {
	body, err := p.variantBody(false)
	if err == nil {
		err = p.call(http.MethodPatch, "/api/v1/admin/variants/"+esc(p.r.PathValue("vid")), body, nil)
	}
	if err != nil {
		return p.refused(err, p.productBack(), p.drawProduct)
	}
	return p.redirect(p.productBack(), "updated")
}

func (p *page) consoleAdjustStock() error {
	delta, err := parseInt("delta", p.r.PostFormValue("delta"))
	if err == nil {
		err = p.call(http.MethodPost, "/api/v1/admin/variants/"+esc(p.r.PathValue("vid"))+"/stock",
			map[string]any{"delta": delta, "reason": p.r.PostFormValue("reason")}, nil)
	}
	if err != nil {
		return p.refused(err, p.productBack(), p.drawProduct)
	}
	return p.redirect(p.productBack(), "stock-adjusted")
}

// categoriesPage is the categories page's data; Edit is the category of
// its edit page.
type categoriesPage struct {
	Categories []adminCategory
	Edit       *adminCategory
}

// Name names the category id.
func (c categoriesPage) Name(id string) string {
	for _, x := range c.Categories {
		if x.ID == id {
			return x.Name
		}
	}
	return id
}

func (p *page) drawCategories() (string, string, any, error) {
	cats, err := p.categories()
	return "console-catalog-categories.html", "Categories", categoriesPage{Categories: cats}, err
}

func (p *page) consoleCategories() error {
	tmpl, title, data, err := p.drawCategories()
	if err != nil {
		return err
	}
	return p.show(tmpl, title, data)
}

func (p *page) categoryBody() (map[string]any, error) {
	f := p.r.PostForm
	pos, err := parseInt("position", f.Get("position"))
	return map[string]any{"name": f.Get("name"), "slug": f.Get("slug"), "parent_id": f.Get("parent_id"), "position": pos}, err
}

func (p *page) consoleCreateCategory() error {
	body, err := p.categoryBody()
	if err == nil {
		err = p.call(http.MethodPost, "/api/v1/admin/categories", body, nil)
	}
	if err != nil {
		return p.refused(err, "/console/catalog/categories", p.drawCategories)
	}
	return p.redirect("/console/catalog/categories", "category-created")
}

func (p *page) drawCategory() (string, string, any, error) {
	cats, err := p.categories()
	if err != nil {
		return "", "", nil, err
	}
	data := categoriesPage{Categories: cats}
	for i := range cats {
		if cats[i].ID == p.r.PathValue("id") {
			data.Edit = &cats[i]
		}
	}
	if data.Edit == nil {
		return "", "", nil, errNotFound
	}
	return "console-catalog-category.html", data.Edit.Name, data, nil
}

func (p *page) consoleCategory() error {
	tmpl, title, data, err := p.drawCategory()
	if err != nil {
		return err
	}
	return p.show(tmpl, title, data)
}

func (p *page) consoleUpdateCategory() error {
	back := "/console/catalog/categories/" + url.PathEscape(p.r.PathValue("id"))
	body, err := p.categoryBody()
	if err == nil {
		err = p.call(http.MethodPatch, "/api/v1/admin/categories/"+esc(p.r.PathValue("id")), body, nil)
	}
	if err != nil {
		return p.refused(err, back, p.drawCategory)
	}
	return p.redirect("/console/catalog/categories", "updated")
}

func (p *page) consoleDeleteCategory() error {
	if err := p.call(http.MethodDelete, "/api/v1/admin/categories/"+esc(p.r.PathValue("id")), nil, nil); err != nil {
		return p.refused(err, "/console/catalog/categories", p.drawCategories)
	}
	return p.redirect("/console/catalog/categories", "deleted")
}
