package pages

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/money"
)

// pricingRoutes are the pricing pages: discount codes, tax rates and
// shipping options, each listed, created, edited and deleted. Every change
// needs a recent sign-in (the API's step-up), which the forms turn into a
// sign-in that comes back.
func pricingRoutes() []pageRoute {
	return []pageRoute{
		get("/console/pricing", (*page).consolePricing),
		post("/console/pricing/discounts", (*page).consoleCreateDiscount),
		get("/console/pricing/discounts/{id}", (*page).consoleDiscount),
		post("/console/pricing/discounts/{id}", (*page).consoleUpdateDiscount),
		post("/console/pricing/discounts/{id}/delete", pricingDelete("discounts")),
		post("/console/pricing/tax-rates", (*page).consoleCreateTaxRate),
		get("/console/pricing/tax-rates/{id}", (*page).consoleTaxRate),
		post("/console/pricing/tax-rates/{id}", (*page).consoleUpdateTaxRate),
		post("/console/pricing/tax-rates/{id}/delete", pricingDelete("tax-rates")),
		post("/console/pricing/shipping", (*page).consoleCreateShipping),
		get("/console/pricing/shipping/{id}", (*page).consoleShipping),
		post("/console/pricing/shipping/{id}", (*page).consoleUpdateShipping),
		post("/console/pricing/shipping/{id}/delete", pricingDelete("shipping-options")),
	}
}

// The API's pricing shapes.
type (
	discount struct {
		ID                 string        `json:"id"`
		Code               string        `json:"code"`
		Kind               string        `json:"kind"`
		BasisPoints        int64         `json:"basis_points"`
		Amounts            []money.Money `json:"amounts"`
		StartsAt           string        `json:"starts_at"`
		EndsAt             string        `json:"ends_at"`
		MinSubtotal        []money.Money `json:"min_subtotal"`
		MaxUses            int64         `json:"max_uses"`
		MaxUsesPerCustomer int64         `json:"max_uses_per_customer"`
		ProductIDs         []string      `json:"product_ids"`
		CategoryIDs        []string      `json:"category_ids"`
		Active             bool          `json:"active"`
		Uses               int64         `json:"uses"`
	}
	taxRate struct {
		ID      string `json:"id"`
		Country string `json:"country"`
		Region  string `json:"region"`
		RatePPM int64  `json:"rate_ppm"`
		Name    string `json:"name"`
	}
	shippingOption struct {
		ID        string        `json:"id"`
		Name      string        `json:"name"`
		Kind      string        `json:"kind"`
		Prices    []money.Money `json:"prices"`
		Bands     []band        `json:"bands"`
		FreeAbove []money.Money `json:"free_above"`
		Zones     []place       `json:"zones"`
		Active    bool          `json:"active"`
	}
	band struct {
		MinGrams int64         `json:"min_grams"`
		MaxGrams int64         `json:"max_grams"`
		Prices   []money.Money `json:"prices"`
	}
	place struct {
		Country string `json:"country"`
		Region  string `json:"region,omitempty"`
	}
)

// Value is the discount's worth as the console writes it.
func (d discount) Value() string {
	switch d.Kind {
	case "percent":
		return formatFixed(d.BasisPoints, 2) + " %"
	case "fixed":
		return formatPrices(d.Amounts)
	}
	return "free shipping"
}

// Percent, AmountsText, MinText, Starts, Ends, Products and Cats are the
// edit form's values.
func (d discount) Percent() string {
	if d.BasisPoints == 0 {
		return ""
	}
	return formatFixed(d.BasisPoints, 2)
}
func (d discount) AmountsText() string { return formatPrices(d.Amounts) }
func (d discount) MinText() string     { return formatPrices(d.MinSubtotal) }
func (d discount) Starts() string      { return inputTime(d.StartsAt) }
func (d discount) Ends() string        { return inputTime(d.EndsAt) }
func (d discount) Products() string    { return strings.Join(d.ProductIDs, ", ") }
func (d discount) Cats() string        { return strings.Join(d.CategoryIDs, ", ") }

// Percent is the rate in percent ("8.875").
func (t taxRate) Percent() string { return formatFixed(t.RatePPM, 4) }

// Place is "US-CA" or "DE".
func (t taxRate) Place() string { return place{t.Country, t.Region}.String() }

func (p place) String() string {
	if p.Region == "" {
		return p.Country
	}
	return p.Country + "-" + p.Region
}

// ZonesText, PricesText, FreeText and BandsText are the form's values.
func (o shippingOption) ZonesText() string {
	parts := make([]string, len(o.Zones))
	for i, z := range o.Zones {
		parts[i] = z.String()
	}
	return strings.Join(parts, ", ")
}
func (o shippingOption) PricesText() string { return formatPrices(o.Prices) }
func (o shippingOption) FreeText() string   { return formatPrices(o.FreeAbove) }
func (o shippingOption) BandsText() string {
	lines := make([]string, len(o.Bands))
	for i, b := range o.Bands {
		lines[i] = fmt.Sprintf("%d-%d: %s", b.MinGrams, b.MaxGrams, formatPrices(b.Prices))
	}
	return strings.Join(lines, "\n")
}

// pricingPage is the pricing page's data, and an edit page's (one of
// Discount, Tax, Shipping set).
type pricingPage struct {
	Discounts []discount
	TaxRates  []taxRate
	Shipping  []shippingOption
	NextDisc  string
	Discount  *discount
	Tax       *taxRate
	Ship      *shippingOption
}

// Kinds of discounts and of shipping options, for the forms' selects.
func (pricingPage) DiscountKinds() []string { return []string{"percent", "fixed", "free_shipping"} }
func (pricingPage) ShippingKinds() []string { return []string{"flat", "weight_bands", "free_above"} }

func (p *page) drawPricing() (string, string, any, error) {
	var data pricingPage
	qs := url.Values{"limit": {"50"}}
	if c := p.r.URL.Query().Get("cursor"); c != "" {
		qs.Set("cursor", c)
	}
	var ds list[discount]
	if err := p.call(http.MethodGet, "/api/v1/admin/discounts?"+qs.Encode(), nil, &ds); err != nil {
		return "", "", nil, err
	}
	data.Discounts = ds.Items
	if ds.NextCursor != "" {
		data.NextDisc = url.Values{"cursor": {ds.NextCursor}}.Encode()
	}
	var err error
	if data.TaxRates, err = allOf[taxRate](p, "/api/v1/admin/tax-rates"); err != nil {
		return "", "", nil, err
	}
	if data.Shipping, err = allOf[shippingOption](p, "/api/v1/admin/shipping-options"); err != nil {
		return "", "", nil, err
	}
	return "console-pricing.html", "Pricing", data, nil
}

// maxListPages bounds how many pages of a list a console page reads.
const maxListPages = 20

// allOf reads every item of a paged list, up to maxListPages pages of 100.
func allOf[T any](p *page, path string) ([]T, error) {
	var items []T
	cursor := ""
	for range maxListPages {
		qs := url.Values{"limit": {"100"}}
		if cursor != "" {
			qs.Set("cursor", cursor)
		}
		var out list[T]
		if err := p.call(http.MethodGet, path+"?"+qs.Encode(), nil, &out); err != nil {
			return nil, err
		}
		items = append(items, out.Items...)
		if cursor = out.NextCursor; cursor == "" {
			break
		}
	}
	return items, nil
}

// find returns the item of a list whose id is the page's {id}: the API has
// no route for one discount, tax rate or shipping option.
func find[T any](p *page, path string, idOf func(T) string) (*T, error) {
	items, err := allOf[T](p, path)
	if err != nil {
		return nil, err
	}
	for i := range items {
		if idOf(items[i]) == p.r.PathValue("id") {
			return &items[i], nil
		}
	}
	return nil, errNotFound
}

func (p *page) consolePricing() error {
	tmpl, title, data, err := p.drawPricing()
	if err != nil {
		return err
	}
	return p.show(tmpl, title, data)
}

// pricingDelete deletes a discount, tax rate or shipping option.
func pricingDelete(kind string) handler {
	return func(p *page) error {
		if err := p.call(http.MethodDelete, "/api/v1/admin/"+kind+"/"+esc(p.r.PathValue("id")), nil, nil); err != nil {
			return p.refused(err, "/console/pricing", p.drawPricing)
		}
		return p.redirect("/console/pricing", "deleted")
	}
}

// discountBody reads the discount form. An edit never sends an empty time
// (the API cannot remove one).
func (p *page) discountBody() (map[string]any, error) {
	f := p.r.PostForm
	body := map[string]any{"code": f.Get("code"), "kind": f.Get("kind"), "active": f.Get("active") == "on",
		"product_ids": splitList(f.Get("product_ids")), "category_ids": splitList(f.Get("category_ids"))}
	var err error
	set := func(key string, v any, e error) {
		if err == nil {
			body[key], err = v, e
		}
	}
	if pct := strings.TrimSpace(f.Get("percent")); pct != "" || f.Get("kind") == "percent" {
		bp, e := parseFixed("percent", pct, 2)
		set("basis_points", bp, e)
	} else {
		set("basis_points", int64(0), nil)
	}
	amounts, e := parsePrices("amounts", f.Get("amounts"))
	set("amounts", amounts, e)
	minimum, e := parsePrices("min_subtotal", f.Get("min_subtotal"))
	set("min_subtotal", minimum, e)
	uses, e := parseInt("max_uses", f.Get("max_uses"))
	set("max_uses", uses, e)
	per, e := parseInt("max_uses_per_customer", f.Get("max_uses_per_customer"))
	set("max_uses_per_customer", per, e)
	for _, k := range []string{"starts_at", "ends_at"} {
		t, e := parseUTC(k, f.Get(k))
		if err == nil && e != nil {
			err = e
		}
		if t != nil {
			body[k] = t.Format(time.RFC3339)
		}
	}
	return body, err
}

func (p *page) consoleCreateDiscount() error {
	body, err := p.discountBody()
	if err == nil {
		err = p.call(http.MethodPost, "/api/v1/admin/discounts", body, nil)
	}
	if err != nil {
		return p.refused(err, "/console/pricing", p.drawPricing)
	}
	return p.redirect("/console/pricing", "discount-created")
}

func (p *page) drawDiscount() (string, string, any, error) {
	d, err := find(p, "/api/v1/admin/discounts", func(d discount) string { return d.ID })
	if err != nil {
		return "", "", nil, err
	}
	return "console-pricing-discount.html", "Discount " + d.Code, pricingPage{Discount: d}, nil
}

func (p *page) consoleDiscount() error { return p.draw(p.drawDiscount) }

func (p *page) consoleUpdateDiscount() error {
	back := "/console/pricing/discounts/" + url.PathEscape(p.r.PathValue("id"))
	body, err := p.discountBody()
	if err == nil {
		err = p.call(http.MethodPatch, "/api/v1/admin/discounts/"+esc(p.r.PathValue("id")), body, nil)
	}
	if err != nil {
		return p.refused(err, back, p.drawDiscount)
	}
	return p.redirect("/console/pricing", "updated")
}

// draw shows the page draw makes.
func (p *page) draw(draw func() (string, string, any, error)) error {
	tmpl, title, data, err := draw()
	if err != nil {
		return err
	}
	return p.show(tmpl, title, data)
}

func (p *page) taxBody() (map[string]any, error) {
	f := p.r.PostForm
	ppm, err := parseFixed("rate", f.Get("rate"), 4)
	return map[string]any{"country": strings.ToUpper(strings.TrimSpace(f.Get("country"))),
		"region": strings.ToUpper(strings.TrimSpace(f.Get("region"))), "rate_ppm": ppm, "name": f.Get("name")}, err
}

func (p *page) consoleCreateTaxRate() error {
	body, err := p.taxBody()
	if err == nil {
		err = p.call(http.MethodPost, "/api/v1/admin/tax-rates", body, nil)
	}
	if err != nil {
		return p.refused(err, "/console/pricing", p.drawPricing)
	}
	return p.redirect("/console/pricing", "tax-created")
}

func (p *page) drawTaxRate() (string, string, any, error) {
	t, err := find(p, "/api/v1/admin/tax-rates", func(t taxRate) string { return t.ID })
	if err != nil {
		return "", "", nil, err
	}
	return "console-pricing-tax.html", "Tax rate " + t.Name, pricingPage{Tax: t}, nil
}

func (p *page) consoleTaxRate() error { return p.draw(p.drawTaxRate) }

func (p *page) consoleUpdateTaxRate() error {
	back := "/console/pricing/tax-rates/" + url.PathEscape(p.r.PathValue("id"))
	body, err := p.taxBody()
	if err == nil {
		err = p.call(http.MethodPatch, "/api/v1/admin/tax-rates/"+esc(p.r.PathValue("id")), body, nil)
	}
	if err != nil {
		return p.refused(err, back, p.drawTaxRate)
	}
	return p.redirect("/console/pricing", "updated")
}

// parseZones reads "DE, FR, US-CA".
func parseZones(s string) []place {
	out := []place{}
	for _, z := range splitList(strings.ToUpper(s)) {
		c, r, _ := strings.Cut(z, "-")
		out = append(out, place{Country: c, Region: r})
	}
	return out
}

// parseBands reads weight bands, one a line: "0-1000: 4.90 EUR, 5.50 USD".
func parseBands(s string) ([]band, error) {
	out := []band{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		rng, prices, ok := strings.Cut(line, ":")
		lo, hi, ok2 := strings.Cut(rng, "-")
		minG, err1 := strconv.ParseInt(strings.TrimSpace(lo), 10, 64)
		maxG, err2 := strconv.ParseInt(strings.TrimSpace(hi), 10, 64)
		if !ok || !ok2 || err1 != nil || err2 != nil {
			return nil, formError("bands", "write each band on a line of its own as grams-grams: prices, such as 0-1000: 4.90 EUR")
		}
		ps, err := parsePrices("bands", prices)
		if err != nil {
			return nil, err
		}
		out = append(out, band{MinGrams: minG, MaxGrams: maxG, Prices: ps})
	}
	return out, nil
}

func (p *page) shippingBody() (map[string]any, error) {
	f := p.r.PostForm
	prices, err := parsePrices("prices", f.Get("prices"))
	if err != nil {
		return nil, err
	}
	free, err := parsePrices("free_above", f.Get("free_above"))
	if err != nil {
		return nil, err
	}
	bands, err := parseBands(f.Get("bands"))
	if err != nil {
		return nil, err
	}
	return map[string]any{"name": f.Get("name"), "zones": parseZones(f.Get("zones")), "kind": f.Get("kind"),
		"prices": prices, "free_above": free, "bands": bands, "active": f.Get("active") == "on"}, nil
}

func (p *page) consoleCreateShipping() error {
	body, err := p.shippingBody()
	if err == nil {
		err = p.call(http.MethodPost, "/api/v1/admin/shipping-options", body, nil)
	}
	if err != nil {
		return p.refused(err, "/console/pricing", p.drawPricing)
	}
	return p.redirect("/console/pricing", "shipping-created")
}

func (p *page) drawShipping() (string, string, any, error) {
	o, err := find(p, "/api/v1/admin/shipping-options", func(o shippingOption) string { return o.ID })
	if err != nil {
		return "", "", nil, err
	}
	return "console-pricing-shipping.html", "Shipping option " + o.Name, pricingPage{Ship: o}, nil
}

func (p *page) consoleShipping() error { return p.draw(p.drawShipping) }

func (p *page) consoleUpdateShipping() error {
	back := "/console/pricing/shipping/" + url.PathEscape(p.r.PathValue("id"))
	body, err := p.shippingBody()
	if err == nil {
		err = p.call(http.MethodPatch, "/api/v1/admin/shipping-options/"+esc(p.r.PathValue("id")), body, nil)
	}
	if err != nil {
		return p.refused(err, back, p.drawShipping)
	}
	return p.redirect("/console/pricing", "updated")
}
