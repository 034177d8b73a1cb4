package pricing

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
)

// Actions recorded in the audit trail. Details name kinds and amounts, never
// a discount's code: the trail is read by more people than should hold codes.
const (
	ActionTaxRateCreate        = "tax_rate.create"
	ActionTaxRateUpdate        = "tax_rate.update"
	ActionTaxRateDelete        = "tax_rate.delete"
	ActionShippingOptionCreate = "shipping_option.create"
	ActionShippingOptionUpdate = "shipping_option.update"
	ActionShippingOptionDelete = "shipping_option.delete"
	ActionDiscountCreate       = "discount.create"
	ActionDiscountUpdate       = "discount.update"
	ActionDiscountDelete       = "discount.delete"
)

// Page limits of the staff lists and the public shipping list.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// Store keeps the staff-managed inputs of pricing. Methods that change data
// append rec to the audit trail in the same transaction. Replace methods
// write r only while the stored row's updated_at is still prev
// (ErrChangedMeanwhile otherwise), so two staff editing at once cannot
// silently undo each other.
type Store interface {
	CreateTaxRate(ctx context.Context, r TaxRate, rec audit.Record) error // ErrTaxRateOverlap
	ReplaceTaxRate(ctx context.Context, r TaxRate, prev time.Time, rec audit.Record) error
	DeleteTaxRate(ctx context.Context, id string, rec audit.Record) error // ErrTaxRateNotFound
	TaxRate(ctx context.Context, id string) (TaxRate, error)              // ErrTaxRateNotFound
	// ListTaxRates returns up to limit rates ordered by id, after after.
	ListTaxRates(ctx context.Context, after string, limit int) ([]TaxRate, error)

	CreateShippingOption(ctx context.Context, o ShippingOption, rec audit.Record) error
	ReplaceShippingOption(ctx context.Context, o ShippingOption, prev time.Time, rec audit.Record) error
	DeleteShippingOption(ctx context.Context, id string, rec audit.Record) error // ErrShippingOptionNotFound
	ShippingOption(ctx context.Context, id string) (ShippingOption, error)       // ErrShippingOptionNotFound
	ListShippingOptions(ctx context.Context, after string, limit int) ([]ShippingOption, error)
	// ShippingOptionsTo returns up to limit active options whose zone names
	// country (whole or a region of it), ordered by id.
	ShippingOptionsTo(ctx context.Context, country string, limit int) ([]ShippingOption, error)

	CreateDiscount(ctx context.Context, d Discount, rec audit.Record) error // ErrDiscountCodeTaken
	ReplaceDiscount(ctx context.Context, d Discount, prev time.Time, rec audit.Record) error
	DeleteDiscount(ctx context.Context, id string, rec audit.Record) error // ErrDiscountNotFound
	Discount(ctx context.Context, id string) (Discount, error)             // ErrDiscountNotFound
	ListDiscounts(ctx context.Context, after string, limit int) ([]Discount, error)

	// What a quote reads (quote.go's Service.Quote).
	TaxRatesFor(ctx context.Context, country string) ([]TaxRate, error)
	// DiscountForCustomer returns the discount with the normalized code and
	// how often customerID ("" for none) has used it, in one read;
	// ErrDiscountNotFound when there is none.
	DiscountForCustomer(ctx context.Context, code, customerID string) (Discount, int64, error)
	// AnyShippingOption reports whether the shop has an active shipping option.
	AnyShippingOption(ctx context.Context) (bool, error)
}

// Service is the staff administration of tax rates, shipping options and
// discounts, the public list of shipping options, and Quote, which cart and
// checkout call to price. Every staff method needs access.PricingManage;
// every staff write also needs a recent login (access.RequireRecent).
type Service struct {
	store   Store
	sold    []string
	taxMode TaxMode
	now     func() time.Time
}

// NewService returns the service for a shop that sells in currencies, its
// prices including tax or not as taxMode says.
func NewService(store Store, currencies []string, taxMode TaxMode, now func() time.Time) *Service {
	return &Service{store: store, sold: currencies, taxMode: taxMode, now: now}
}

// TaxMode says whether the shop's prices include tax.
func (s *Service) TaxMode() TaxMode { return s.taxMode }

// Currencies are the currencies the shop sells in.
func (s *Service) Currencies() []string { return s.sold }

// ListQuery selects a page of a staff list.
type ListQuery struct {
	Limit int
	After string // id of the last item of the previous page
}

func checkList(q ListQuery, prefix string) error {
	var v apperr.Validator
	v.Check(q.Limit >= 1 && q.Limit <= MaxLimit, "limit", fmt.Sprintf("must be between 1 and %d", MaxLimit))
	v.Check(q.After == "" || id.Valid(prefix, q.After), "cursor", "is not a cursor this server gave")
	return v.Err()
}

// page asks for one item more than wanted, which tells whether another page follows.
func page[T any](ctx context.Context, q ListQuery, prefix string, list func(context.Context, string, int) ([]T, error)) ([]T, bool, error) {
	if _, err := access.Require(ctx, access.PricingManage); err != nil {
		return nil, false, err
	}
	if err := checkList(q, prefix); err != nil {
		return nil, false, err
	}
	items, err := list(ctx, q.After, q.Limit+1)
	if err != nil {
		return nil, false, err
	}
	if len(items) > q.Limit {
		return items[:q.Limit], true, nil
	}
	return items, false, nil
}

// begin checks the caller and returns the time of the change. Every pricing
// write changes what customers pay (a 100 % code or a zero tax rate is worth
// money), so like refunds and role changes it needs a recent login:
// reauthentication_required otherwise.
func (s *Service) begin(ctx context.Context) (time.Time, error) {
	now := s.now()
	if _, err := access.RequireRecent(ctx, access.PricingManage, now); err != nil {
		return time.Time{}, err
	}
	return now.UTC().Truncate(time.Microsecond), nil
}

// CreateTaxRate adds r (its id and times are set here): validation_failed, or
// ErrTaxRateOverlap when a rate for its country and region exists.
func (s *Service) CreateTaxRate(ctx context.Context, r TaxRate) (TaxRate, error) {
	now, err := s.begin(ctx)
	if err != nil {
		return TaxRate{}, err
	}
	r.ID, r.CreatedAt, r.UpdatedAt = id.New(id.TaxRate), now, now
	if err := r.Validate(); err != nil {
		return TaxRate{}, err
	}
	rec := audit.New(ctx, now, ActionTaxRateCreate, r.ID, audit.Success, taxDetail(r))
	if err := s.store.CreateTaxRate(ctx, r, rec); err != nil {
		return TaxRate{}, fmt.Errorf("create tax rate: %w", err)
	}
	return r, nil
}

func taxDetail(r TaxRate) string {
	return fmt.Sprintf("country=%s region=%s rate_ppm=%d", r.Place.Country, r.Place.Region, r.RatePPM)
}

// TaxRatePatch changes some fields of a tax rate; nil fields stay.
type TaxRatePatch struct {
	Country *string
	Region  *string
	RatePPM *int64
	Name    *string
}

// UpdateTaxRate applies patch and validates the result as a whole.
func (s *Service) UpdateTaxRate(ctx context.Context, rateID string, p TaxRatePatch) (TaxRate, error) {
	now, err := s.begin(ctx)
	if err != nil {
		return TaxRate{}, err
	}
	if !id.Valid(id.TaxRate, rateID) {
		return TaxRate{}, ErrTaxRateNotFound
	}
	if p == (TaxRatePatch{}) {
		return TaxRate{}, emptyPatch("country, region, rate_ppm, name")
	}
	r, err := s.store.TaxRate(ctx, rateID)
	if err != nil {
		return TaxRate{}, fmt.Errorf("update tax rate %s: %w", rateID, err)
	}
	prev := r.UpdatedAt
	set(&r.Place.Country, p.Country)
	set(&r.Place.Region, p.Region)
	set(&r.RatePPM, p.RatePPM)
	set(&r.Name, p.Name)
	r.UpdatedAt = now
	if err := r.Validate(); err != nil {
		return TaxRate{}, err
	}
	rec := audit.New(ctx, now, ActionTaxRateUpdate, r.ID, audit.Success, taxDetail(r))
	if err := s.store.ReplaceTaxRate(ctx, r, prev, rec); err != nil {
		return TaxRate{}, fmt.Errorf("update tax rate %s: %w", rateID, err)
	}
	return r, nil
}

// DeleteTaxRate removes a rate; ErrTaxRateNotFound when there is none.
func (s *Service) DeleteTaxRate(ctx context.Context, rateID string) error {
	return remove(ctx, s, rateID, id.TaxRate, ErrTaxRateNotFound, ActionTaxRateDelete, s.store.TaxRate, taxDetail, s.store.DeleteTaxRate)
}

// ListTaxRates returns a page of rates and whether more follow.
func (s *Service) ListTaxRates(ctx context.Context, q ListQuery) ([]TaxRate, bool, error) {
	return page(ctx, q, id.TaxRate, s.store.ListTaxRates)
}

// CreateShippingOption adds o (its id and times are set here).
func (s *Service) CreateShippingOption(ctx context.Context, o ShippingOption) (ShippingOption, error) {
	now, err := s.begin(ctx)
	if err != nil {
		return ShippingOption{}, err
	}
	o.ID, o.CreatedAt, o.UpdatedAt = id.New(id.ShippingOption), now, now
	if err := o.Validate(s.sold); err != nil {
		return ShippingOption{}, err
	}
	rec := audit.New(ctx, now, ActionShippingOptionCreate, o.ID, audit.Success, shippingDetail(o))
	if err := s.store.CreateShippingOption(ctx, o, rec); err != nil {
		return ShippingOption{}, fmt.Errorf("create shipping option: %w", err)
	}
	return o, nil
}

// shippingDetail names what a customer pays: the prices, each band's
// weights and prices, and the free-above thresholds, so a price set to 0 or
// to a fortune shows in the trail.
func shippingDetail(o ShippingOption) string {
	var b strings.Builder
	fmt.Fprintf(&b, "kind=%s zones=%d active=%t prices=%s", o.Kind, len(o.Zones), o.Active, amounts(o.Prices))
	for i, band := range o.Bands {
		fmt.Fprintf(&b, " band%d=%d-%dg:%s", i, band.MinGrams, band.MaxGrams, amounts(band.Prices))
	}
	fmt.Fprintf(&b, " free_above=%s", amounts(o.FreeAbove))
	return b.String()
}

// amounts writes a list of money as "[EUR:500 USD:600]".
func amounts(ms []money.Money) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = fmt.Sprintf("%s:%d", m.Currency, m.Amount)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// ShippingOptionPatch changes some fields of a shipping option; nil fields stay.
type ShippingOptionPatch struct {
	Name      *string
	Zones     *[]Place
	Kind      *ShippingKind
	Prices    *[]money.Money
	Bands     *[]Band
	FreeAbove *[]money.Money
	Active    *bool
}

// UpdateShippingOption applies patch and validates the result as a whole
// (changing the kind needs the new kind's prices in the same patch).
func (s *Service) UpdateShippingOption(ctx context.Context, optionID string, p ShippingOptionPatch) (ShippingOption, error) {
	now, err := s.begin(ctx)
	if err != nil {
		return ShippingOption{}, err
	}
	if !id.Valid(id.ShippingOption, optionID) {
		return ShippingOption{}, ErrShippingOptionNotFound
	}
	if p == (ShippingOptionPatch{}) {
		return ShippingOption{}, emptyPatch("name, zones, kind, prices, bands, free_above, active")
	}
	o, err := s.store.ShippingOption(ctx, optionID)
	if err != nil {
		return ShippingOption{}, fmt.Errorf("update shipping option %s: %w", optionID, err)
	}
	prev := o.UpdatedAt
	set(&o.Name, p.Name)
	set(&o.Zones, p.Zones)
	set(&o.Kind, p.Kind)
	set(&o.Prices, p.Prices)
	set(&o.Bands, p.Bands)
	set(&o.FreeAbove, p.FreeAbove)
	set(&o.Active, p.Active)
	o.UpdatedAt = now
	if err := o.Validate(s.sold); err != nil {
		return ShippingOption{}, err
	}
	rec := audit.New(ctx, now, ActionShippingOptionUpdate, o.ID, audit.Success, shippingDetail(o))
	if err := s.store.ReplaceShippingOption(ctx, o, prev, rec); err != nil {
		return ShippingOption{}, fmt.Errorf("update shipping option %s: %w", optionID, err)
	}
	return o, nil
}

// DeleteShippingOption removes an option; ErrShippingOptionNotFound when there is none.
func (s *Service) DeleteShippingOption(ctx context.Context, optionID string) error {
	return remove(ctx, s, optionID, id.ShippingOption, ErrShippingOptionNotFound, ActionShippingOptionDelete, s.store.ShippingOption,
		shippingDetail, s.store.DeleteShippingOption)
}

// ListShippingOptions returns a page of every option, active or not, and whether more follow.
func (s *Service) ListShippingOptions(ctx context.Context, q ListQuery) ([]ShippingOption, bool, error) {
	return page(ctx, q, id.ShippingOption, s.store.ListShippingOptions)
}

// ShippingOptionsFor lists, for anyone, the active options that ship to d
// with a price in currency ("" for any currency): a storefront shows them
// before checkout. At most MaxLimit options are considered.
func (s *Service) ShippingOptionsFor(ctx context.Context, d Destination, currency string) ([]ShippingOption, error) {
	var v apperr.Validator
	checkPlace(&v, "", d)
	v.Check(currency == "" || currencyShape.MatchString(currency), "currency", "must be an ISO 4217 code such as EUR")
	if err := v.Err(); err != nil {
		return nil, err
	}
	if currency != "" {
		if err := CheckCurrency(s.sold, currency); err != nil {
			return nil, err
		}
	}
	opts, err := s.store.ShippingOptionsTo(ctx, d.Country, MaxLimit)
	if err != nil {
		return nil, fmt.Errorf("shipping options to %s: %w", d.Country, err)
	}
	return AvailableFor(opts, d, currency), nil
}

// CreateDiscount adds d (its id, times and use count are set here; the code
// is normalized first): validation_failed, currency_not_sold, or
// ErrDiscountCodeTaken.
func (s *Service) CreateDiscount(ctx context.Context, d Discount) (Discount, error) {
	now, err := s.begin(ctx)
	if err != nil {
		return Discount{}, err
	}
	d.ID, d.CreatedAt, d.UpdatedAt, d.Uses = id.New(id.Discount), now, now, 0
	if n, ok := NormalizeCode(d.Code); ok {
		d.Code = n
	}
	if err := d.Validate(s.sold); err != nil {
		return Discount{}, err
	}
	rec := audit.New(ctx, now, ActionDiscountCreate, d.ID, audit.Success, discountDetail(d, true))
	if err := s.store.CreateDiscount(ctx, d, rec); err != nil {
		return Discount{}, fmt.Errorf("create discount: %w", err)
	}
	return d, nil
}

// discountDetail names everything a discount is worth and to whom, never the
// code itself: codeChanged says only that a new code was set.
func discountDetail(d Discount, codeChanged bool) string {
	return fmt.Sprintf("kind=%s basis_points=%d amounts=%s min_subtotal=%s starts_at=%s ends_at=%s products=%d categories=%d max_uses=%d max_uses_per_customer=%d active=%t code_changed=%t",
		d.Kind, d.BasisPoints, amounts(d.Amounts), amounts(d.MinSubtotal), instant(d.StartsAt), instant(d.EndsAt),
		len(d.ProductIDs), len(d.CategoryIDs), d.MaxUses, d.MaxUsesPerCustomer, d.Active, codeChanged)
}

// instant writes t in RFC 3339, or "none" for the zero time (no bound).
func instant(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339)
}

// DiscountPatch changes some fields of a discount; nil fields stay. The use
// count is never patched: only orders count.
type DiscountPatch struct {
	Code               *string
	Kind               *DiscountKind
	BasisPoints        *int64
	Amounts            *[]money.Money
	StartsAt           *time.Time
	EndsAt             *time.Time
	MinSubtotal        *[]money.Money
	MaxUses            *int64
	MaxUsesPerCustomer *int64
	ProductIDs         *[]string
	CategoryIDs        *[]string
	Active             *bool
}

// UpdateDiscount applies patch and validates the result as a whole.
func (s *Service) UpdateDiscount(ctx context.Context, discountID string, p DiscountPatch) (Discount, error) {
	now, err := s.begin(ctx)
	if err != nil {
		return Discount{}, err
	}
	if !id.Valid(id.Discount, discountID) {
		return Discount{}, ErrDiscountNotFound
	}
	if p == (DiscountPatch{}) {
		return Discount{}, emptyPatch("code, kind, basis_points, amounts, starts_at, ends_at, min_subtotal, max_uses, max_uses_per_customer, product_ids, category_ids, active")
	}
	d, err := s.store.Discount(ctx, discountID)
	if err != nil {
		return Discount{}, fmt.Errorf("update discount %s: %w", discountID, err)
	}
	prev, oldCode := d.UpdatedAt, d.Code
	if p.Code != nil {
		d.Code = *p.Code
		if n, ok := NormalizeCode(d.Code); ok {
			d.Code = n
		}
	}
	set(&d.Kind, p.Kind)
	set(&d.BasisPoints, p.BasisPoints)
	set(&d.Amounts, p.Amounts)
	set(&d.StartsAt, p.StartsAt)
	set(&d.EndsAt, p.EndsAt)
	set(&d.MinSubtotal, p.MinSubtotal)
	set(&d.MaxUses, p.MaxUses)
	set(&d.MaxUsesPerCustomer, p.MaxUsesPerCustomer)
	set(&d.ProductIDs, p.ProductIDs)
	set(&d.CategoryIDs, p.CategoryIDs)
	set(&d.Active, p.Active)
	d.UpdatedAt = now
	if err := d.Validate(s.sold); err != nil {
		return Discount{}, err
	}
	rec := audit.New(ctx, now, ActionDiscountUpdate, d.ID, audit.Success, discountDetail(d, d.Code != oldCode))
	if err := s.store.ReplaceDiscount(ctx, d, prev, rec); err != nil {
		return Discount{}, fmt.Errorf("update discount %s: %w", discountID, err)
	}
	return d, nil
}

// DeleteDiscount removes a discount and its per-customer use counts.
func (s *Service) DeleteDiscount(ctx context.Context, discountID string) error {
	return remove(ctx, s, discountID, id.Discount, ErrDiscountNotFound, ActionDiscountDelete, s.store.Discount,
		func(d Discount) string { return discountDetail(d, false) }, s.store.DeleteDiscount)
}

// ListDiscounts returns a page of discounts, with their use counts, and
// whether more follow. Codes are listed to staff only; no public route
// lists or looks up discounts.
func (s *Service) ListDiscounts(ctx context.Context, q ListQuery) ([]Discount, bool, error) {
	return page(ctx, q, id.Discount, s.store.ListDiscounts)
}

// remove deletes an item, audited with what it was (the detail of its
// last state, as a change would record it), so the trail shows what a
// delete took away: a tax rate, a shipping price, a discount's terms.
func remove[T any](ctx context.Context, s *Service, itemID, prefix string, notFound error, action string,
	get func(context.Context, string) (T, error), detail func(T) string, del func(context.Context, string, audit.Record) error) error {
	now, err := s.begin(ctx)
	if err != nil {
		return err
	}
	if !id.Valid(prefix, itemID) {
		return notFound
	}
	item, err := get(ctx, itemID)
	if err != nil {
		return fmt.Errorf("delete %s: %w", itemID, err)
	}
	if err := del(ctx, itemID, audit.New(ctx, now, action, itemID, audit.Success, detail(item))); err != nil {
		return fmt.Errorf("delete %s: %w", itemID, err)
	}
	return nil
}

// set copies *from into to when from is not nil.
func set[T any](to *T, from *T) {
	if from != nil {
		*to = *from
	}
}

func emptyPatch(fields string) error {
	var v apperr.Validator
	v.Check(false, "body", "send at least one of "+fields)
	return v.Err()
}
