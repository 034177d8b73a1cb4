// Package catalog owns products, their prices and their stock. It guarantees
// that stock never goes below zero, that prices are integer minor units of the
// shop's currency, and that every change is audited in the same transaction.
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
)

// Errors returned by the store and the service.
var (
	ErrNotFound          = apperr.NotFound("product")
	ErrSKUTaken          = apperr.New(apperr.CodeSKUTaken, "a product with this sku already exists")
	ErrInsufficientStock = apperr.New(apperr.CodeInsufficientStock, "stock cannot go below zero")
)

var skuShape = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Product is an item for sale.
type Product struct {
	ID          string
	SKU         string
	Name        string
	Description string
	Price       money.Money
	Stock       int64
	Active      bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// NewProduct is what staff send to create a product.
type NewProduct struct {
	SKU         string
	Name        string
	Description string
	Price       money.Money
	Stock       int64
}

// Patch changes some fields of a product; nil fields stay as they are.
type Patch struct {
	Name        *string
	Description *string
	Price       *money.Money
	Active      *bool
}

// ListQuery selects a page of products.
type ListQuery struct {
	Search     string // matched case-insensitively in name and sku
	Limit      int
	After      string // id of the last product of the previous page
	ActiveOnly bool
}

// Store keeps products. Methods that change data append rec to the audit trail
// in the same transaction.
type Store interface {
	CreateProduct(ctx context.Context, p Product, rec audit.Record) error // ErrSKUTaken
	UpdateProduct(ctx context.Context, id string, patch Patch, at time.Time, rec audit.Record) (Product, error)
	// AdjustStock adds delta to the stock unless the result would be negative
	// (ErrInsufficientStock); ErrNotFound for an unknown id.
	AdjustStock(ctx context.Context, id string, delta int64, at time.Time, rec audit.Record) (Product, error)
	Product(ctx context.Context, id string) (Product, error) // ErrNotFound
	// ListProducts returns up to q.Limit products ordered by id, after q.After.
	ListProducts(ctx context.Context, q ListQuery) ([]Product, error)
}

// Service is the catalog's use cases.
type Service struct {
	store    Store
	currency string
	now      func() time.Time
}

// NewService returns a catalog whose prices are in currency.
func NewService(store Store, currency string, now func() time.Time) *Service {
	return &Service{store: store, currency: currency, now: now}
}

// Currency is the shop's currency.
func (s *Service) Currency() string { return s.currency }

func (s *Service) checkPrice(v *apperr.Validator, field string, m money.Money) {
	v.Check(m.Amount >= 0 && m.Amount <= money.MaxAmount, field+".amount", fmt.Sprintf("must be between 0 and %d", int64(money.MaxAmount)))
	v.Check(m.Currency == s.currency, field+".currency", "must be the shop currency "+s.currency)
}

// Create adds a product. Needs access.CatalogWrite.
func (s *Service) Create(ctx context.Context, in NewProduct) (Product, error) {
	if _, err := access.Require(ctx, access.CatalogWrite); err != nil {
		return Product{}, err
	}
	var v apperr.Validator
	v.Check(skuShape.MatchString(in.SKU), "sku", "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	v.CheckText("name", in.Name, 1, MaxNameLength, false)
	v.CheckText("description", in.Description, 0, MaxDescriptionLength, true)
	s.checkPrice(&v, "price", in.Price)
	v.Check(in.Stock >= 0 && in.Stock <= MaxStock, "stock", fmt.Sprintf("must be between 0 and %d", MaxStock))
	if err := v.Err(); err != nil {
		return Product{}, err
	}
	now := s.now().UTC()
	p := Product{
		ID: id.New(id.Product), SKU: in.SKU, Name: in.Name, Description: in.Description,
		Price: in.Price, Stock: in.Stock, Active: true, CreatedAt: now, UpdatedAt: now,
	}
	rec := audit.New(ctx, now, audit.ActionProductCreate, p.ID, audit.Success, fmt.Sprintf("sku=%s stock=%d", p.SKU, p.Stock))
	if err := s.store.CreateProduct(ctx, p, rec); err != nil {
		return Product{}, fmt.Errorf("create product %s: %w", in.SKU, err)
	}
	return p, nil
}

// Update changes a product's name, description, price or active flag. Needs access.CatalogWrite.
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
		v.CheckText("description", *patch.Description, 0, MaxDescriptionLength, true)
		changed = append(changed, "description")
	}
	if patch.Price != nil {
		s.checkPrice(&v, "price", *patch.Price)
		changed = append(changed, fmt.Sprintf("price=%d", patch.Price.Amount))
	}
	if patch.Active != nil {
		changed = append(changed, fmt.Sprintf("active=%t", *patch.Active))
	}
	v.Check(len(changed) > 0, "body", "send at least one of name, description, price, active")
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

// AdjustStock adds delta (negative to remove) to a product's stock, for a
// reason kept in the audit trail. Stock never goes below zero. Needs access.CatalogWrite.
func (s *Service) AdjustStock(ctx context.Context, productID string, delta int64, reason string) (Product, error) {
	if _, err := access.Require(ctx, access.CatalogWrite); err != nil {
		return Product{}, err
	}
	if !id.Valid(id.Product, productID) {
		return Product{}, ErrNotFound
	}
	var v apperr.Validator
	v.Check(delta != 0 && delta >= -MaxStockDelta && delta <= MaxStockDelta, "delta", fmt.Sprintf("must be a non-zero whole number between -%d and %d", MaxStockDelta, MaxStockDelta))
	v.CheckText("reason", reason, 1, MaxNameLength, false)
	if err := v.Err(); err != nil {
		return Product{}, err
	}
	now := s.now().UTC()
	rec := audit.New(ctx, now, audit.ActionStockAdjust, productID, audit.Success, fmt.Sprintf("delta=%d reason=%s", delta, reason))
	p, err := s.store.AdjustStock(ctx, productID, delta, now, rec)
	if err != nil {
		return Product{}, fmt.Errorf("adjust stock of %s: %w", productID, err)
	}
	return p, nil
}

// Get returns an active product; inactive products are not found for the public.
func (s *Service) Get(ctx context.Context, productID string) (Product, error) {
	if !id.Valid(id.Product, productID) {
		return Product{}, ErrNotFound
	}
	p, err := s.store.Product(ctx, productID)
	if err != nil {
		return Product{}, fmt.Errorf("get product %s: %w", productID, err)
	}
	if !p.Active {
		return Product{}, ErrNotFound
	}
	return p, nil
}

// List returns a page of active products matching q.Search and whether more follow.
func (s *Service) List(ctx context.Context, q ListQuery) ([]Product, bool, error) {
	var v apperr.Validator
	v.CheckText("q", q.Search, 0, MaxQueryLength, false)
	v.Check(q.Limit >= 1 && q.Limit <= MaxLimit, "limit", fmt.Sprintf("must be between 1 and %d", MaxLimit))
	v.Check(q.After == "" || id.Valid(id.Product, q.After), "cursor", "is not a cursor this server gave")
	if err := v.Err(); err != nil {
		return nil, false, err
	}
	q.ActiveOnly = true
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
