// Package catalog owns products, their variants, prices, stock, visibility
// and categories. It guarantees that stock never goes below zero, that prices
// are integer minor units of a currency the shop sells (at most one price per
// currency per variant), that a product no customer may see yet (draft,
// archived, or scheduled for later) answers every public read exactly like a
// product that does not exist, and that every change — and every staff read
// of a hidden product — is audited in the same transaction.
package catalog

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
)

// Limits of product fields.
const (
	MaxNameLength        = 200
	MaxDescriptionLength = 10_000
	MaxStock             = 1_000_000_000
	MaxStockDelta        = 1_000_000
	MaxQueryLength       = 100
	MaxLimit             = 100
	DefaultLimit         = 20
	MaxCategories        = 20 // categories of one product
)

// Statuses of a product. Only an active product whose publish_at (if any)
// has passed is visible to customers.
const (
	StatusDraft    = "draft"
	StatusActive   = "active"
	StatusArchived = "archived"
)

// Audit actions of the catalog beyond audit's own.
const (
	ActionVariantAdd    = "product.variant_add"
	ActionVariantUpdate = "variant.update"
	ActionVariantStock  = "variant.stock_adjust"
	ActionHiddenRead    = "product.read_hidden"
	// ActionSanitizePass records the start-up pass that sanitized the
	// descriptions stored before sanitizing on write, with their count.
	ActionSanitizePass = "product.descriptions_sanitized"
)

// Codes of this package's errors.
const (
	CodeNotPriced       = "not_priced_in_currency"
	CodeVariantRequired = "variant_required"
	CodeOptionsTaken    = "variant_options_taken"
	CodeTooManyVariants = "too_many_variants"
	CodeNotSingle       = "not_single_variant"
)

// Errors returned by the store and the service. ErrNotFound is the one answer
// for a product or variant that does not exist and for one customers may not
// see: same code, same message.
var (
	ErrNotFound          = apperr.NotFound("product")
	ErrVariantNotFound   = apperr.NotFound("variant")
	ErrSKUTaken          = apperr.New(apperr.CodeSKUTaken, "a product with this sku already exists")
	ErrInsufficientStock = apperr.New(apperr.CodeInsufficientStock, "stock cannot go below zero")
	ErrCurrencyNotSold   = apperr.New(apperr.CodeCurrencyNotSold, "the shop does not sell in this currency")
	ErrNotPriced         = apperr.New(CodeNotPriced, "this item has no price in the cart's currency")
	ErrVariantRequired   = apperr.New(CodeVariantRequired, "this product has several variants: name one by its variant id")
	ErrOptionsTaken      = apperr.New(CodeOptionsTaken, "the product already has a variant with these option values")
	ErrTooManyVariants   = apperr.New(CodeTooManyVariants, "a product has at most %d variants", MaxVariants)
	ErrNotSingle         = apperr.New(CodeNotSingle, "this product has several variants: change prices and stock per variant")
)

var skuShape = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Product is an item for sale: what its variants share.
type Product struct {
	ID          string
	Name        string
	Description string
	Status      string
	PublishAt   time.Time // zero: published as soon as it is active
	Categories  []string
	Options     []Option
	Variants    []Variant // in position order; never empty
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Visible is the one rule for whether customers may see p at time at: it is
// active, and its publish_at (if any) has come. Every public read, the cart
// and checkout follow it; a product that is not visible does not exist for them.
func (p Product) Visible(at time.Time) bool {
	return Visible(p.Status, p.PublishAt, at)
}

// Visible is Product.Visible for a product's status and publish_at alone, for
// storage that reads no more of the product.
func Visible(status string, publishAt, at time.Time) bool {
	return status == StatusActive && (publishAt.IsZero() || !at.Before(publishAt))
}

// First is the product's first variant, which the v1 shorthand fields
// (sku, price, stock) describe.
func (p Product) First() Variant {
	if len(p.Variants) == 0 {
		return Variant{}
	}
	return p.Variants[0]
}

// Variant returns p's variant with id.
func (p Product) Variant(variantID string) (Variant, bool) {
	for _, v := range p.Variants {
		if v.ID == variantID {
			return v, true
		}
	}
	return Variant{}, false
}

// NewProduct is what staff send to create a product.
type NewProduct struct {
	Name        string
	Description string
	Status      string // empty: draft
	PublishAt   *time.Time
	Categories  []string
	Options     []Option
	Variants    []NewVariant
}

// SingleVariant is the v1 shorthand: a product with one variant, no
// options, one price, and — as v1 products were — active at once.
func SingleVariant(sku, name, description string, price money.Money, stock int64) NewProduct {
	return NewProduct{Name: name, Description: description, Status: StatusActive,
		Variants: []NewVariant{{SKU: sku, Prices: []money.Money{price}, Stock: stock}}}
}

// Patch changes some fields of a product; nil fields stay as they are.
type Patch struct {
	Name        *string
	Description *string
	// Price sets the price of the product's only variant in Price.Currency
	// (the v1 shorthand; ErrNotSingle for a product with several).
	Price  *money.Money
	Active *bool // v1: true is status active, false archived
	Status *string
	// PublishAt: set to a time, or ClearPublishAt to remove it.
	PublishAt      *time.Time
	ClearPublishAt bool
	Categories     *[]string
}

// ListQuery selects a page of products.
type ListQuery struct {
	// Search is the query's text: a product matches when each of its
	// SearchTerms starts a word of the product's SearchText (its name,
	// description text and variant SKUs). Text without a letter or digit
	// matches nothing; empty is no search.
	Search string
	Limit  int
	After  string // id of the last product of the previous page
	// VisibleAt, when set, keeps only the products visible at that time (the
	// public list); zero lists every product (staff, Status may narrow it).
	VisibleAt time.Time
	Status    string
	// Category keeps the products in this category or any below it.
	Category string
	// Currency, MinPrice, MaxPrice, InStock keep the products with at least
	// one variant priced in Currency within [MinPrice, MaxPrice] (when set)
	// and, with InStock, in stock.
	Currency string
	MinPrice *int64
	MaxPrice *int64
	InStock  bool
}

// Store keeps products. Methods that change data append rec to the audit trail
// in the same transaction.
type Store interface {
	CreateProduct(ctx context.Context, p Product, rec audit.Record) error // ErrSKUTaken, ErrCategoryNotFound
	// UpdateProduct applies patch (its Price to the only variant, counted in
	// the same transaction: ErrNotSingle for a product with several);
	// ErrNotFound for an unknown id.
	UpdateProduct(ctx context.Context, id string, patch Patch, at time.Time, rec audit.Record) (Product, error)
	// AddVariant adds v to its product unless the product has MaxVariants
	// (ErrTooManyVariants) or one with v's options (ErrOptionsTaken); ErrSKUTaken.
	AddVariant(ctx context.Context, v Variant, rec audit.Record) (Product, error)
	// UpdateVariant applies patch; ErrVariantNotFound, ErrSKUTaken.
	UpdateVariant(ctx context.Context, variantID string, patch VariantPatch, at time.Time, rec audit.Record) (Product, error)
	// AdjustStock adds delta to a variant's stock unless the result would be
	// negative (ErrInsufficientStock); ErrVariantNotFound for an unknown id.
	AdjustStock(ctx context.Context, variantID string, delta int64, at time.Time, rec audit.Record) (Product, error)
	Product(ctx context.Context, id string) (Product, error) // ErrNotFound
	// VisibleProduct returns the product if it is Visible at at, and
	// ErrNotFound for a hidden product as for a missing one, after the same
	// work: visibility is part of the read, not a check after it.
	VisibleProduct(ctx context.Context, id string, at time.Time) (Product, error)
	// VisibleProductOfVariant returns the product holding the variant if it
	// is Visible at at; ErrNotFound otherwise, as VisibleProduct.
	VisibleProductOfVariant(ctx context.Context, variantID string, at time.Time) (Product, error)
	// VisibleProductsOfVariants returns the products Visible at at that hold
	// any of variantIDs, each once, holding of their variants only those
	// named; hidden and missing ones are left out alike.
	VisibleProductsOfVariants(ctx context.Context, variantIDs []string, at time.Time) ([]Product, error)
	// ListProducts returns up to q.Limit products ordered by id, after q.After.
	ListProducts(ctx context.Context, q ListQuery) ([]Product, error)
	AppendAudit(ctx context.Context, rec audit.Record) error
}

// Service is the catalog's use cases.
type Service struct {
	store      Store
	categories CategoryStore
	currencies []string
	now        func() time.Time
}

// Deps is what the catalog service is built from.
type Deps struct {
	Store      Store
	Categories CategoryStore
	// Currencies the shop sells in; the first is the default.
	Currencies []string
	Now        func() time.Time
}

// NewService returns the catalog.
func NewService(d Deps) *Service {
	return &Service{store: d.Store, categories: d.Categories, currencies: slices.Clone(d.Currencies), now: d.Now}
}

// Currency is the shop's first (default) currency.
func (s *Service) Currency() string { return s.currencies[0] }

// Currencies are the currencies the shop sells in.
func (s *Service) Currencies() []string { return slices.Clone(s.currencies) }

// Sells reports whether the shop sells in currency.
func (s *Service) Sells(currency string) bool { return slices.Contains(s.currencies, currency) }

// Now is the catalog's clock.
func (s *Service) Now() time.Time { return s.now().UTC() }

func checkStatus(v *apperr.Validator, field, status string) {
	v.Check(status == StatusDraft || status == StatusActive || status == StatusArchived, field, "must be draft, active or archived")
}

func (s *Service) checkCategories(v *apperr.Validator, cats []string) {
	v.Check(len(cats) <= MaxCategories, "categories", fmt.Sprintf("at most %d", MaxCategories))
	for i, c := range cats {
		v.Check(id.Valid(id.Category, c), fmt.Sprintf("categories[%d]", i), "is not a category id")
		v.Check(!slices.Contains(cats[:i], c), fmt.Sprintf("categories[%d]", i), "is listed twice")
	}
}

// Create adds a product with its variants. Needs access.CatalogWrite.
func (s *Service) Create(ctx context.Context, in NewProduct) (Product, error) {
	if _, err := access.Require(ctx, access.CatalogWrite); err != nil {
		return Product{}, err
	}
	if in.Status == "" {
		in.Status = StatusDraft
	}
	var v apperr.Validator
	v.CheckText("name", in.Name, 1, MaxNameLength, false)
	description := checkDescription(&v, in.Description)
	checkStatus(&v, "status", in.Status)
	s.checkCategories(&v, in.Categories)
	checkOptions(&v, in.Options)
	v.Check(len(in.Variants) >= 1 && len(in.Variants) <= MaxVariants, "variants", fmt.Sprintf("must hold 1 to %d variants", MaxVariants))
	keys := map[string]bool{}
	skus := map[string]bool{}
	for i, nv := range in.Variants {
		field := fmt.Sprintf("variants[%d]", i)
		s.checkVariant(&v, field, in.Options, nv)
		key := optionsKey(in.Options, nv.Options)
		v.Check(!keys[key], field+".options", "another variant has the same option values")
		v.Check(!skus[nv.SKU], field+".sku", "another variant has the same sku")
		keys[key], skus[nv.SKU] = true, true
	}
	if err := v.Err(); err != nil {
		return Product{}, err
	}
	now := s.now().UTC()
	p := Product{ID: id.New(id.Product), Name: in.Name, Description: description, Status: in.Status,
		Categories: nonNil(in.Categories), Options: nonNilOptions(in.Options), CreatedAt: now, UpdatedAt: now}
	if in.PublishAt != nil {
		p.PublishAt = in.PublishAt.UTC()
	}
	for i, nv := range in.Variants {
		p.Variants = append(p.Variants, newVariant(p.ID, i, in.Options, nv, now))
	}
	rec := audit.New(ctx, now, audit.ActionProductCreate, p.ID, audit.Success,
		fmt.Sprintf("status=%s variants=%d sku=%s stock=%d", p.Status, len(p.Variants), p.First().SKU, p.First().Stock))
	if err := s.store.CreateProduct(ctx, p, rec); err != nil {
		return Product{}, fmt.Errorf("create product: %w", err)
	}
	return p, nil
}

// Update changes a product's shared fields, its status, publication time,
// categories, or (v1 shorthand) its only variant's price. Needs access.CatalogWrite.
func (s *Service) Update(ctx context.Context, productID string, patch Patch) (Product, error) {
	if _, err := access.Require(ctx, access.CatalogWrite); err != nil {
		return Product{}, err
	}
	if !id.Valid(id.Product, productID) {
		return Product{}, ErrNotFound
	}
	var v apperr.Validator
	var changed []string
	if patch.Name != nil {
		v.CheckText("name", *patch.Name, 1, MaxNameLength, false)
		changed = append(changed, "name")
	}
	if patch.Description != nil {
		clean := checkDescription(&v, *patch.Description)
		patch.Description = &clean
		changed = append(changed, "description")
	}
	if patch.Price != nil {
		s.checkPrice(&v, "price", *patch.Price)
		changed = append(changed, fmt.Sprintf("price=%d %s", patch.Price.Amount, patch.Price.Currency))
	}
	if patch.Active != nil {
		v.Check(patch.Status == nil, "active", "send status or active, not both")
		status := StatusArchived
		if *patch.Active {
			status = StatusActive
		}
		patch.Status, patch.Active = &status, nil
	}
	if patch.Status != nil {
		checkStatus(&v, "status", *patch.Status)
		changed = append(changed, "status="+*patch.Status)
	}
	if patch.PublishAt != nil {
		v.Check(!patch.ClearPublishAt, "publish_at", "set it or clear it, not both")
		t := patch.PublishAt.UTC()
		patch.PublishAt = &t
		changed = append(changed, "publish_at="+t.Format(time.RFC3339))
	} else if patch.ClearPublishAt {
		changed = append(changed, "publish_at=none")
	}
	if patch.Categories != nil {
		s.checkCategories(&v, *patch.Categories)
		changed = append(changed, "categories="+strings.Join(*patch.Categories, ","))
	}
	v.Check(len(changed) > 0, "body", "send at least one of name, description, price, active, status, publish_at, categories")
	if err := v.Err(); err != nil {
		return Product{}, err
	}
	now := s.now().UTC()
	rec := audit.New(ctx, now, audit.ActionProductUpdate, productID, audit.Success, strings.Join(changed, " "))
	p, err := s.store.UpdateProduct(ctx, productID, patch, now, rec)
	if err != nil {
		return Product{}, fmt.Errorf("update product %s: %w", productID, err)
	}
	return p, nil
}

// Get returns a product customers may see now; any other is ErrNotFound,
// from the same one-statement read as a missing product (the store applies
// Visible in its query), so neither the answer nor its timing tells a hidden
// product from a missing one.
func (s *Service) Get(ctx context.Context, productID string) (Product, error) {
	if !id.Valid(id.Product, productID) {
		return Product{}, ErrNotFound
	}
	p, err := s.store.VisibleProduct(ctx, productID, s.now().UTC())
	if err != nil {
		return Product{}, fmt.Errorf("get product %s: %w", productID, err)
	}
	return p, nil
}

// Item is a variant and the product that holds it.
type Item struct {
	Product Product
	Variant Variant
}

// PurchasableVariants returns, by variant id, those of variantIDs that
// customers may buy now, in one read whatever their number; a hidden or
// missing variant is simply absent.
func (s *Service) PurchasableVariants(ctx context.Context, variantIDs []string) (map[string]Item, error) {
	ps, err := s.store.VisibleProductsOfVariants(ctx, variantIDs, s.now().UTC())
	if err != nil {
		return nil, err
	}
	items := make(map[string]Item, len(variantIDs))
	for _, p := range ps {
		for _, v := range p.Variants {
			items[v.ID] = Item{Product: p, Variant: v}
		}
	}
	for id := range items {
		if !slices.Contains(variantIDs, id) {
			delete(items, id) // another variant of a product in the cart
		}
	}
	return items, nil
}

// Purchasable resolves what a customer names to buy — a variant id, or the
// product id of a single-variant product — to a visible product and its
// variant. Hidden and missing items are both ErrNotFound; a visible product
// with several variants named by its product id is ErrVariantRequired.
func (s *Service) Purchasable(ctx context.Context, itemID string) (Product, Variant, error) {
	var p Product
	var err error
	now := s.now().UTC()
	switch {
	case id.Valid(id.Variant, itemID):
		p, err = s.store.VisibleProductOfVariant(ctx, itemID, now)
	case id.Valid(id.Product, itemID):
		p, err = s.store.VisibleProduct(ctx, itemID, now)
	default:
		return Product{}, Variant{}, ErrNotFound
	}
	if err != nil {
		return Product{}, Variant{}, fmt.Errorf("find %s: %w", itemID, err)
	}
	if strings.HasPrefix(itemID, id.Product) {
		if len(p.Variants) != 1 {
			return Product{}, Variant{}, ErrVariantRequired
		}
		return p, p.Variants[0], nil
	}
	v, _ := p.Variant(itemID)
	return p, v, nil
}

// AdminGet returns any product, whatever its status, to staff. Reading one
// customers cannot see yet (an unreleased design) is audited. Needs access.CatalogWrite.
func (s *Service) AdminGet(ctx context.Context, productID string) (Product, error) {
	if _, err := access.Require(ctx, access.CatalogWrite); err != nil {
		return Product{}, err
	}
	if !id.Valid(id.Product, productID) {
		return Product{}, ErrNotFound
	}
	p, err := s.store.Product(ctx, productID)
	if err != nil {
		return Product{}, fmt.Errorf("get product %s: %w", productID, err)
	}
	now := s.now().UTC()
	if !p.Visible(now) {
		rec := audit.New(ctx, now, ActionHiddenRead, p.ID, audit.Success, "status="+p.Status)
		if err := s.store.AppendAudit(ctx, rec); err != nil {
			return Product{}, fmt.Errorf("audit read of %s: %w", productID, err)
		}
	}
	return p, nil
}

func (s *Service) checkList(q ListQuery) error {
	var v apperr.Validator
	checkSearch(&v, q.Search)
	v.Check(q.Limit >= 1 && q.Limit <= MaxLimit, "limit", fmt.Sprintf("must be between 1 and %d", MaxLimit))
	v.Check(q.After == "" || id.Valid(id.Product, q.After), "cursor", "is not a cursor this server gave")
	v.Check(q.Category == "" || id.Valid(id.Category, q.Category), "category", "is not a category id")
	v.Check(q.Status == "" || q.Status == StatusDraft || q.Status == StatusActive || q.Status == StatusArchived, "status", "must be draft, active or archived")
	v.Check(q.MinPrice == nil || (*q.MinPrice >= 0 && *q.MinPrice <= money.MaxAmount), "min_price", "must be a whole number of minor units")
	v.Check(q.MaxPrice == nil || (*q.MaxPrice >= 0 && *q.MaxPrice <= money.MaxAmount), "max_price", "must be a whole number of minor units")
	if err := v.Err(); err != nil {
		return err
	}
	if q.Currency != "" && !s.Sells(q.Currency) {
		return ErrCurrencyNotSold
	}
	return nil
}

func (s *Service) list(ctx context.Context, q ListQuery) ([]Product, bool, error) {
	if (q.MinPrice != nil || q.MaxPrice != nil) && q.Currency == "" {
		q.Currency = s.Currency() // a price range is in the default currency unless one is named
	}
	if err := s.checkList(q); err != nil {
		return nil, false, err
	}
	want := q.Limit
	q.Limit++ // one more tells whether another page follows
	items, err := s.store.ListProducts(ctx, q)
	if err != nil {
		return nil, false, fmt.Errorf("list products: %w", err)
	}
	if len(items) > want {
		return items[:want], true, nil
	}
	return items, false, nil
}

// List returns a page of the products customers may see now, matching q,
// and whether more follow. Status in q is ignored.
func (s *Service) List(ctx context.Context, q ListQuery) ([]Product, bool, error) {
	q.Status = ""
	q.VisibleAt = s.now().UTC()
	return s.list(ctx, q)
}

// AdminList returns a page of every product (q.Status narrows it), for staff.
// Listing hidden products is audited. Needs access.CatalogWrite.
func (s *Service) AdminList(ctx context.Context, q ListQuery) ([]Product, bool, error) {
	if _, err := access.Require(ctx, access.CatalogWrite); err != nil {
		return nil, false, err
	}
	q.VisibleAt = time.Time{}
	items, more, err := s.list(ctx, q)
	if err != nil {
		return nil, false, err
	}
	now := s.now().UTC()
	var hidden []string
	for _, p := range items {
		if !p.Visible(now) {
			hidden = append(hidden, p.ID)
		}
	}
	if len(hidden) > 0 {
		rec := audit.New(ctx, now, ActionHiddenRead, "products", audit.Success, "listed "+strings.Join(hidden, ","))
		if err := s.store.AppendAudit(ctx, rec); err != nil {
			return nil, false, fmt.Errorf("audit product list: %w", err)
		}
	}
	return items, more, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilOptions(o []Option) []Option {
	if o == nil {
		return []Option{}
	}
	return o
}
