package httpapi

import (
	"net/http"
	"time"

	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/pricing"
)

// The staff routes of tax rates, shipping options and discounts
// (pricing.Service), and the public list of shipping options. Handlers only
// translate: every rule is in internal/pricing.

// placeJSON is a country, or one region of it.
type placeJSON struct {
	Country string `json:"country"`
	Region  string `json:"region,omitempty"`
}

func toPlaces(ps []placeJSON) []pricing.Place {
	out := make([]pricing.Place, len(ps))
	for i, p := range ps {
		out[i] = pricing.Place(p)
	}
	return out
}

func fromPlaces(ps []pricing.Place) []placeJSON {
	out := make([]placeJSON, len(ps))
	for i, p := range ps {
		out[i] = placeJSON(p)
	}
	return out
}

// prices answers a list of amounts as [] rather than null.
func prices(ms []money.Money) []money.Money {
	if ms == nil {
		return []money.Money{}
	}
	return ms
}

// listOf answers a page of items converted by conv.
func listOf[T, J any](w http.ResponseWriter, items []T, more bool, conv func(T) J, idOf func(T) string) {
	out := listJSON[J]{Items: make([]J, 0, len(items))}
	for _, it := range items {
		out.Items = append(out.Items, conv(it))
	}
	if more {
		out.NextCursor = encodeCursor(idOf(items[len(items)-1]))
	}
	writeJSON(w, http.StatusOK, out)
}

func pricingListQuery(r *http.Request, prefix string) (pricing.ListQuery, error) {
	after, err := decodeCursor(r.URL.Query().Get("cursor"), prefix)
	return pricing.ListQuery{Limit: parseLimit(r), After: after}, err
}

// Tax rates.

type taxRateJSON struct {
	ID        string    `json:"id"`
	Country   string    `json:"country"`
	Region    string    `json:"region,omitempty"`
	RatePPM   int64     `json:"rate_ppm"`
	Name      string    `json:"name"`
	CreatedAt Timestamp `json:"created_at"`
	UpdatedAt Timestamp `json:"updated_at"`
}

func toTaxRateJSON(t pricing.TaxRate) taxRateJSON {
	return taxRateJSON{ID: t.ID, Country: t.Place.Country, Region: t.Place.Region, RatePPM: t.RatePPM, Name: t.Name,
		CreatedAt: Timestamp(t.CreatedAt), UpdatedAt: Timestamp(t.UpdatedAt)}
}

type createTaxRateRequest struct {
	Country string `json:"country"`
	Region  string `json:"region"`
	RatePPM int64  `json:"rate_ppm"`
	Name    string `json:"name"`
}

type updateTaxRateRequest struct {
	Country *string `json:"country"`
	Region  *string `json:"region"`
	RatePPM *int64  `json:"rate_ppm"`
	Name    *string `json:"name"`
}

func (a *API) listTaxRates(w http.ResponseWriter, r *http.Request) error {
	q, err := pricingListQuery(r, id.TaxRate)
	if err != nil {
		return err
	}
	items, more, err := a.Pricing.ListTaxRates(r.Context(), q)
	if err != nil {
		return err
	}
	listOf(w, items, more, toTaxRateJSON, func(t pricing.TaxRate) string { return t.ID })
	return nil
}

func (a *API) createTaxRate(w http.ResponseWriter, r *http.Request) error {
	var req createTaxRateRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	t, err := a.Pricing.CreateTaxRate(r.Context(), pricing.TaxRate{Place: pricing.Place{Country: req.Country, Region: req.Region}, RatePPM: req.RatePPM, Name: req.Name})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toTaxRateJSON(t))
	return nil
}

func (a *API) updateTaxRate(w http.ResponseWriter, r *http.Request) error {
	var req updateTaxRateRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	t, err := a.Pricing.UpdateTaxRate(r.Context(), r.PathValue("id"), pricing.TaxRatePatch(req))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toTaxRateJSON(t))
	return nil
}

func (a *API) deleteTaxRate(w http.ResponseWriter, r *http.Request) error {
	if err := a.Pricing.DeleteTaxRate(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Shipping options.

type bandJSON struct {
	MinGrams int64         `json:"min_grams"`
	MaxGrams int64         `json:"max_grams"`
	Prices   []money.Money `json:"prices"`
}

func toBands(bs []bandJSON) []pricing.Band {
	out := make([]pricing.Band, len(bs))
	for i, b := range bs {
		out[i] = pricing.Band(b)
	}
	return out
}

func fromBands(bs []pricing.Band) []bandJSON {
	out := make([]bandJSON, len(bs))
	for i, b := range bs {
		out[i] = bandJSON{MinGrams: b.MinGrams, MaxGrams: b.MaxGrams, Prices: prices(b.Prices)}
	}
	return out
}

// shippingPriceJSON is what anyone may read of an option: its price, not its zone.
type shippingPriceJSON struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	Kind      string        `json:"kind"`
	Prices    []money.Money `json:"prices"`
	Bands     []bandJSON    `json:"bands"`
	FreeAbove []money.Money `json:"free_above"`
}

type shippingOptionJSON struct {
	shippingPriceJSON
	Zones     []placeJSON `json:"zones"`
	Active    bool        `json:"active"`
	CreatedAt Timestamp   `json:"created_at"`
	UpdatedAt Timestamp   `json:"updated_at"`
}

func toShippingPriceJSON(o pricing.ShippingOption) shippingPriceJSON {
	return shippingPriceJSON{ID: o.ID, Name: o.Name, Kind: string(o.Kind), Prices: prices(o.Prices), Bands: fromBands(o.Bands), FreeAbove: prices(o.FreeAbove)}
}

func toShippingOptionJSON(o pricing.ShippingOption) shippingOptionJSON {
	return shippingOptionJSON{shippingPriceJSON: toShippingPriceJSON(o), Zones: fromPlaces(o.Zones), Active: o.Active,
		CreatedAt: Timestamp(o.CreatedAt), UpdatedAt: Timestamp(o.UpdatedAt)}
}

type createShippingOptionRequest struct {
	Name      string        `json:"name"`
	Zones     []placeJSON   `json:"zones"`
	Kind      string        `json:"kind"`
	Prices    []money.Money `json:"prices"`
	Bands     []bandJSON    `json:"bands"`
	FreeAbove []money.Money `json:"free_above"`
	Active    *bool         `json:"active"`
}

type updateShippingOptionRequest struct {
	Name      *string        `json:"name"`
	Zones     *[]placeJSON   `json:"zones"`
	Kind      *string        `json:"kind"`
	Prices    *[]money.Money `json:"prices"`
	Bands     *[]bandJSON    `json:"bands"`
	FreeAbove *[]money.Money `json:"free_above"`
	Active    *bool          `json:"active"`
}

func (a *API) listShippingOptions(w http.ResponseWriter, r *http.Request) error {
	q, err := pricingListQuery(r, id.ShippingOption)
	if err != nil {
		return err
	}
	items, more, err := a.Pricing.ListShippingOptions(r.Context(), q)
	if err != nil {
		return err
	}
	listOf(w, items, more, toShippingOptionJSON, func(o pricing.ShippingOption) string { return o.ID })
	return nil
}

func (a *API) createShippingOption(w http.ResponseWriter, r *http.Request) error {
	var req createShippingOptionRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	o := pricing.ShippingOption{Name: req.Name, Zones: toPlaces(req.Zones), Kind: pricing.ShippingKind(req.Kind),
		Prices: req.Prices, Bands: toBands(req.Bands), FreeAbove: req.FreeAbove, Active: req.Active == nil || *req.Active}
	o, err := a.Pricing.CreateShippingOption(r.Context(), o)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toShippingOptionJSON(o))
	return nil
}

func (a *API) updateShippingOption(w http.ResponseWriter, r *http.Request) error {
	var req updateShippingOptionRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	p := pricing.ShippingOptionPatch{Name: req.Name, Prices: req.Prices, FreeAbove: req.FreeAbove, Active: req.Active}
	if req.Zones != nil {
		z := toPlaces(*req.Zones)
		p.Zones = &z
	}
	if req.Kind != nil {
		k := pricing.ShippingKind(*req.Kind)
		p.Kind = &k
	}
	if req.Bands != nil {
		b := toBands(*req.Bands)
		p.Bands = &b
	}
	o, err := a.Pricing.UpdateShippingOption(r.Context(), r.PathValue("id"), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toShippingOptionJSON(o))
	return nil
}

func (a *API) deleteShippingOption(w http.ResponseWriter, r *http.Request) error {
	if err := a.Pricing.DeleteShippingOption(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// shippingOptionsFor answers GET /api/v1/shipping-options?country=&region=&currency=:
// the active options for a destination, with their prices only.
func (a *API) shippingOptionsFor(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	opts, err := a.Pricing.ShippingOptionsFor(r.Context(), pricing.Destination{Country: q.Get("country"), Region: q.Get("region")}, q.Get("currency"))
	if err != nil {
		return err
	}
	out := listJSON[shippingPriceJSON]{Items: make([]shippingPriceJSON, 0, len(opts))}
	for _, o := range opts {
		out.Items = append(out.Items, toShippingPriceJSON(o))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// Discounts.

type discountJSON struct {
	ID                 string        `json:"id"`
	Code               string        `json:"code"`
	Kind               string        `json:"kind"`
	BasisPoints        int64         `json:"basis_points,omitempty"`
	Amounts            []money.Money `json:"amounts"`
	StartsAt           *Timestamp    `json:"starts_at,omitempty"`
	EndsAt             *Timestamp    `json:"ends_at,omitempty"`
	MinSubtotal        []money.Money `json:"min_subtotal"`
	MaxUses            int64         `json:"max_uses"`
	MaxUsesPerCustomer int64         `json:"max_uses_per_customer"`
	ProductIDs         []string      `json:"product_ids"`
	CategoryIDs        []string      `json:"category_ids"`
	Active             bool          `json:"active"`
	Uses               int64         `json:"uses"`
	CreatedAt          Timestamp     `json:"created_at"`
	UpdatedAt          Timestamp     `json:"updated_at"`
}

func ids(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func toDiscountJSON(d pricing.Discount) discountJSON {
	out := discountJSON{ID: d.ID, Code: d.Code, Kind: string(d.Kind), BasisPoints: d.BasisPoints, Amounts: prices(d.Amounts),
		MinSubtotal: prices(d.MinSubtotal), MaxUses: d.MaxUses, MaxUsesPerCustomer: d.MaxUsesPerCustomer,
		ProductIDs: ids(d.ProductIDs), CategoryIDs: ids(d.CategoryIDs), Active: d.Active, Uses: d.Uses,
		CreatedAt: Timestamp(d.CreatedAt), UpdatedAt: Timestamp(d.UpdatedAt)}
	if !d.StartsAt.IsZero() {
		out.StartsAt = stamp(d.StartsAt)
	}
	if !d.EndsAt.IsZero() {
		out.EndsAt = stamp(d.EndsAt)
	}
	return out
}

type createDiscountRequest struct {
	Code               string        `json:"code"`
	Kind               string        `json:"kind"`
	BasisPoints        int64         `json:"basis_points"`
	Amounts            []money.Money `json:"amounts"`
	StartsAt           *time.Time    `json:"starts_at"`
	EndsAt             *time.Time    `json:"ends_at"`
	MinSubtotal        []money.Money `json:"min_subtotal"`
	MaxUses            int64         `json:"max_uses"`
	MaxUsesPerCustomer int64         `json:"max_uses_per_customer"`
	ProductIDs         []string      `json:"product_ids"`
	CategoryIDs        []string      `json:"category_ids"`
	Active             *bool         `json:"active"`
}

type updateDiscountRequest struct {
	Code               *string        `json:"code"`
	Kind               *string        `json:"kind"`
	BasisPoints        *int64         `json:"basis_points"`
	Amounts            *[]money.Money `json:"amounts"`
	StartsAt           *time.Time     `json:"starts_at"`
	EndsAt             *time.Time     `json:"ends_at"`
	MinSubtotal        *[]money.Money `json:"min_subtotal"`
	MaxUses            *int64         `json:"max_uses"`
	MaxUsesPerCustomer *int64         `json:"max_uses_per_customer"`
	ProductIDs         *[]string      `json:"product_ids"`
	CategoryIDs        *[]string      `json:"category_ids"`
	Active             *bool          `json:"active"`
}

// utc is the time the domain keeps: UTC, to the microsecond the databases hold.
func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}

func (a *API) listDiscounts(w http.ResponseWriter, r *http.Request) error {
	q, err := pricingListQuery(r, id.Discount)
	if err != nil {
		return err
	}
	items, more, err := a.Pricing.ListDiscounts(r.Context(), q)
	if err != nil {
		return err
	}
	listOf(w, items, more, toDiscountJSON, func(d pricing.Discount) string { return d.ID })
	return nil
}

func (a *API) createDiscount(w http.ResponseWriter, r *http.Request) error {
	var req createDiscountRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	d := pricing.Discount{Code: req.Code, Kind: pricing.DiscountKind(req.Kind), BasisPoints: req.BasisPoints, Amounts: req.Amounts,
		MinSubtotal: req.MinSubtotal, MaxUses: req.MaxUses, MaxUsesPerCustomer: req.MaxUsesPerCustomer,
		ProductIDs: req.ProductIDs, CategoryIDs: req.CategoryIDs, Active: req.Active == nil || *req.Active}
	if t := utc(req.StartsAt); t != nil {
		d.StartsAt = *t
	}
	if t := utc(req.EndsAt); t != nil {
		d.EndsAt = *t
	}
	d, err := a.Pricing.CreateDiscount(r.Context(), d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toDiscountJSON(d))
	return nil
}

func (a *API) updateDiscount(w http.ResponseWriter, r *http.Request) error {
	var req updateDiscountRequest
	if err := decodeBody(r, a.MaxBodyBytes, &req); err != nil {
		return err
	}
	p := pricing.DiscountPatch{Code: req.Code, BasisPoints: req.BasisPoints, Amounts: req.Amounts, StartsAt: utc(req.StartsAt), EndsAt: utc(req.EndsAt),
		MinSubtotal: req.MinSubtotal, MaxUses: req.MaxUses, MaxUsesPerCustomer: req.MaxUsesPerCustomer,
		ProductIDs: req.ProductIDs, CategoryIDs: req.CategoryIDs, Active: req.Active}
	if req.Kind != nil {
		k := pricing.DiscountKind(*req.Kind)
		p.Kind = &k
	}
	d, err := a.Pricing.UpdateDiscount(r.Context(), r.PathValue("id"), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toDiscountJSON(d))
	return nil
}

func (a *API) deleteDiscount(w http.ResponseWriter, r *http.Request) error {
	if err := a.Pricing.DeleteDiscount(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
