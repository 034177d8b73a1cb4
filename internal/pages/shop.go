package pages

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/bulwark-shop/bulwark/internal/money"
)

// The API's shapes the storefront reads.
type (
	productJSON struct {
		ID          string        `json:"id"`
		Name        string        `json:"name"`
		Description string        `json:"description"`
		Price       money.Money   `json:"price"`
		Stock       int64         `json:"stock"`
		Categories  []string      `json:"categories"`
		Options     []optionJSON  `json:"options"`
		Variants    []variantJSON `json:"variants"`
	}
	optionJSON struct {
		Name   string   `json:"name"`
		Values []string `json:"values"`
	}
	variantJSON struct {
		ID      string            `json:"id"`
		SKU     string            `json:"sku"`
		Options map[string]string `json:"options"`
		Prices  []money.Money     `json:"prices"`
		Stock   int64             `json:"stock"`
	}
	categoryJSON struct {
		ID       string `json:"id"`
		ParentID string `json:"parent_id"`
		Name     string `json:"name"`
		Slug     string `json:"slug"`
	}
	list[T any] struct {
		Items      []T    `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
)

// Label names a variant by its option values ("Red / M"), or its SKU.
func (v variantJSON) Label(opts []optionJSON) string {
	var parts []string
	for _, o := range opts {
		if val := v.Options[o.Name]; val != "" {
			parts = append(parts, val)
		}
	}
	if len(parts) == 0 {
		return v.SKU
	}
	return strings.Join(parts, " / ")
}

// Price is the variant's first price (the shop's currency comes first).
func (v variantJSON) Price() money.Money {
	if len(v.Prices) == 0 {
		return money.Money{}
	}
	return v.Prices[0]
}

// catalogPage is the home, search and category pages' data.
type catalogPage struct {
	Query      string
	Category   *categoryJSON
	Categories []categoryJSON
	Products   []productJSON
	Next       string // the next page's query string, "" on the last
}

// home is the storefront's front page: the categories and the products.
func (p *page) home() error { return p.catalog("", "") }

// search lists the products matching ?q=.
func (p *page) search() error { return p.catalog(p.r.URL.Query().Get("q"), "") }

// category lists a category's products.
func (p *page) category() error { return p.catalog("", p.r.PathValue("id")) }

func (p *page) catalog(q, category string) error {
	var cats list[categoryJSON]
	if err := p.call(http.MethodGet, "/api/v1/categories?limit=100", nil, &cats); err != nil {
		return err
	}
	data := catalogPage{Query: q, Categories: cats.Items}
	title := "Shop"
	if category != "" {
		for i := range cats.Items {
			if cats.Items[i].ID == category {
				data.Category = &cats.Items[i]
			}
		}
		if data.Category == nil {
			return errNotFound
		}
		title = data.Category.Name
	}
	if q != "" {
		title = "Search: " + q
	}
	qs := url.Values{"limit": {"24"}}
	if q != "" {
		qs.Set("q", q)
	}
	if category != "" {
		qs.Set("category", category)
	}
	if c := p.r.URL.Query().Get("cursor"); c != "" {
		qs.Set("cursor", c)
	}
	var products list[productJSON]
	if err := p.call(http.MethodGet, "/api/v1/products?"+qs.Encode(), nil, &products); err != nil {
		return err
	}
	data.Products = products.Items
	if products.NextCursor != "" {
		nq := url.Values{"cursor": {products.NextCursor}}
		if q != "" {
			nq.Set("q", q)
		}
		data.Next = nq.Encode()
	}
	return p.show("catalog.html", title, data)
}

// productPage is the product page's data.
type productPage struct {
	Product productJSON
	// Selected is the variant the form has chosen (?variant=, or the first
	// in stock).
	Selected string
}

func (p *page) product() error {
	var prod productJSON
	if err := p.call(http.MethodGet, "/api/v1/products/"+url.PathEscape(p.r.PathValue("id")), nil, &prod); err != nil {
		return err
	}
	data := productPage{Product: prod, Selected: p.r.URL.Query().Get("variant")}
	if data.Selected == "" {
		for _, v := range prod.Variants {
			if v.Stock > 0 {
				data.Selected = v.ID
				break
			}
		}
	}
	return p.show("product.html", prod.Name, data)
}
