package catalog

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/money"
)

// Limits of options and variants.
const (
	MaxVariants        = 100
	MaxOptions         = 3
	MaxOptionValues    = 50
	MaxOptionLength    = 50
	MaxWeightGrams     = 1_000_000_000
	MaxPricesOfVariant = 20
)

// Option is a dimension in which a product's variants differ ("size": S, M).
type Option struct {
	Name   string
	Values []string
}

// Variant is one buyable version of a product, with its own SKU, option
// values, prices (at most one per currency), stock and weight.
type Variant struct {
	ID          string
	ProductID   string
	SKU         string
	Options     map[string]string
	OptionsKey  string // canonical text of Options, unique within the product
	Prices      []money.Money
	Stock       int64
	WeightGrams int64
	Position    int
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Price returns v's price in currency, if it has one.
func (v Variant) Price(currency string) (money.Money, bool) {
	for _, p := range v.Prices {
		if p.Currency == currency {
			return p, true
		}
	}
	return money.Money{}, false
}

// NewVariant is what staff send to add a variant.
type NewVariant struct {
	SKU         string
	Options     map[string]string
	Prices      []money.Money
	Stock       int64
	WeightGrams int64
}

// VariantPatch changes some fields of a variant; nil fields stay as they are.
// Prices, when set, replaces every price of the variant.
type VariantPatch struct {
	SKU         *string
	Prices      *[]money.Money
	WeightGrams *int64
}

// checkOptions checks a product's option definitions.
func checkOptions(v *apperr.Validator, opts []Option) {
	v.Check(len(opts) <= MaxOptions, "options", fmt.Sprintf("at most %d options", MaxOptions))
	for i, o := range opts {
		field := fmt.Sprintf("options[%d]", i)
		v.CheckText(field+".name", o.Name, 1, MaxOptionLength, false)
		v.Check(!slices.ContainsFunc(opts[:i], func(p Option) bool { return p.Name == o.Name }), field+".name", "another option has this name")
		v.Check(len(o.Values) >= 1 && len(o.Values) <= MaxOptionValues, field+".values", fmt.Sprintf("must hold 1 to %d values", MaxOptionValues))
		for j, val := range o.Values {
			v.CheckText(fmt.Sprintf("%s.values[%d]", field, j), val, 1, MaxOptionLength, false)
			v.Check(!slices.Contains(o.Values[:j], val), fmt.Sprintf("%s.values[%d]", field, j), "is listed twice")
		}
	}
}

// checkVariant checks a new variant against its product's options: it names
// every option once, with one of its values, and nothing else.
func (s *Service) checkVariant(v *apperr.Validator, field string, opts []Option, nv NewVariant) {
	v.Check(skuShape.MatchString(nv.SKU), field+".sku", "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	v.Check(len(nv.Options) == len(opts), field+".options", fmt.Sprintf("must give a value for each of the product's %d options and nothing else", len(opts)))
	for _, o := range opts {
		val, ok := nv.Options[o.Name]
		v.Check(ok && slices.Contains(o.Values, val), field+".options."+o.Name, "must be one of the option's values")
	}
	s.checkPrices(v, field+".prices", nv.Prices)
	v.Check(nv.Stock >= 0 && nv.Stock <= MaxStock, field+".stock", fmt.Sprintf("must be between 0 and %d", MaxStock))
	v.Check(nv.WeightGrams >= 0 && nv.WeightGrams <= MaxWeightGrams, field+".weight_grams", fmt.Sprintf("must be between 0 and %d", MaxWeightGrams))
}

func (s *Service) checkPrice(v *apperr.Validator, field string, m money.Money) {
	v.Check(m.Amount >= 0 && m.Amount <= money.MaxAmount, field+".amount", fmt.Sprintf("must be between 0 and %d", int64(money.MaxAmount)))
	v.Check(s.Sells(m.Currency), field+".currency", "must be a currency the shop sells in: "+strings.Join(s.currencies, ", "))
}

func (s *Service) checkPrices(v *apperr.Validator, field string, prices []money.Money) {
	v.Check(len(prices) >= 1 && len(prices) <= MaxPricesOfVariant, field, fmt.Sprintf("must hold 1 to %d prices", MaxPricesOfVariant))
	for i, p := range prices {
		s.checkPrice(v, fmt.Sprintf("%s[%d]", field, i), p)
		v.Check(!slices.ContainsFunc(prices[:i], func(q money.Money) bool { return q.Currency == p.Currency }),
			fmt.Sprintf("%s[%d].currency", field, i), "a variant has at most one price per currency")
	}
}

// optionsKey is the canonical text of a variant's option values, in the
// order of the product's options. Option names and values hold no control
// characters (CheckText), so the separators cannot occur in them.
func optionsKey(opts []Option, values map[string]string) string {
	parts := make([]string, 0, len(opts))
	for _, o := range opts {
		parts = append(parts, o.Name+"\x1e"+values[o.Name])
	}
	return strings.Join(parts, "\x1f")
}

func newVariant(productID string, position int, opts []Option, nv NewVariant, now time.Time) Variant {
	values := maps.Clone(nv.Options)
	if values == nil {
		values = map[string]string{}
	}
	return Variant{ID: id.New(id.Variant), ProductID: productID, SKU: nv.SKU, Options: values, OptionsKey: optionsKey(opts, values),
		Prices: slices.Clone(nv.Prices), Stock: nv.Stock, WeightGrams: nv.WeightGrams, Position: position, CreatedAt: now, UpdatedAt: now}
}

// AddVariant adds a variant to a product: its option values must be the
// product's, in a combination no other variant has. Needs access.CatalogWrite.
func (s *Service) AddVariant(ctx context.Context, productID string, nv NewVariant) (Product, error) {
	if _, err := access.Require(ctx, access.CatalogWrite); err != nil {
		return Product{}, err
	}
	if !id.Valid(id.Product, productID) {
		return Product{}, ErrNotFound
	}
	p, err := s.store.Product(ctx, productID)
	if err != nil {
		return Product{}, fmt.Errorf("add variant to %s: %w", productID, err)
	}
	var v apperr.Validator
	s.checkVariant(&v, "variant", p.Options, nv)
	if err := v.Err(); err != nil {
		return Product{}, err
	}
	now := s.now().UTC()
	nvar := newVariant(p.ID, len(p.Variants), p.Options, nv, now)
	rec := audit.New(ctx, now, ActionVariantAdd, p.ID, audit.Success, fmt.Sprintf("variant=%s sku=%s stock=%d", nvar.ID, nvar.SKU, nvar.Stock))
	out, err := s.store.AddVariant(ctx, nvar, rec)
	if err != nil {
		return Product{}, fmt.Errorf("add variant to %s: %w", productID, err)
	}
	return out, nil
}

// UpdateVariant changes a variant's SKU, prices or weight. Needs access.CatalogWrite.
func (s *Service) UpdateVariant(ctx context.Context, variantID string, patch VariantPatch) (Product, error) {
	if _, err := access.Require(ctx, access.CatalogWrite); err != nil {
		return Product{}, err
	}
	if !id.Valid(id.Variant, variantID) {
		return Product{}, ErrVariantNotFound
	}
	var v apperr.Validator
	var changed []string
	if patch.SKU != nil {
		v.Check(skuShape.MatchString(*patch.SKU), "sku", "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
		changed = append(changed, "sku="+*patch.SKU)
	}
	if patch.Prices != nil {
		s.checkPrices(&v, "prices", *patch.Prices)
		for _, p := range *patch.Prices {
			changed = append(changed, fmt.Sprintf("price=%d %s", p.Amount, p.Currency))
		}
	}
	if patch.WeightGrams != nil {
		v.Check(*patch.WeightGrams >= 0 && *patch.WeightGrams <= MaxWeightGrams, "weight_grams", fmt.Sprintf("must be between 0 and %d", MaxWeightGrams))
		changed = append(changed, fmt.Sprintf("weight_grams=%d", *patch.WeightGrams))
	}
	v.Check(len(changed) > 0, "body", "send at least one of sku, prices, weight_grams")
	if err := v.Err(); err != nil {
		return Product{}, err
	}
	now := s.now().UTC()
	rec := audit.New(ctx, now, ActionVariantUpdate, variantID, audit.Success, strings.Join(changed, " "))
	p, err := s.store.UpdateVariant(ctx, variantID, patch, now, rec)
	if err != nil {
		return Product{}, fmt.Errorf("update variant %s: %w", variantID, err)
	}
	return p, nil
}

// AdjustStock adds delta (negative to remove) to the stock of a variant, or
// of a single-variant product named by its product id, for a reason kept in
// the audit trail. Stock never goes below zero. Needs access.CatalogWrite.
func (s *Service) AdjustStock(ctx context.Context, itemID string, delta int64, reason string) (Product, error) {
	if _, err := access.Require(ctx, access.CatalogWrite); err != nil {
		return Product{}, err
	}
	variantID := itemID
	switch {
	case id.Valid(id.Variant, itemID):
	case id.Valid(id.Product, itemID):
		p, err := s.store.Product(ctx, itemID)
		if err != nil {
			return Product{}, fmt.Errorf("adjust stock of %s: %w", itemID, err)
		}
		if len(p.Variants) != 1 {
			return Product{}, ErrNotSingle
		}
		variantID = p.Variants[0].ID
	default:
		return Product{}, ErrNotFound
	}
	var v apperr.Validator
	v.Check(delta != 0 && delta >= -MaxStockDelta && delta <= MaxStockDelta, "delta", fmt.Sprintf("must be a non-zero whole number between -%d and %d", MaxStockDelta, MaxStockDelta))
	v.CheckText("reason", reason, 1, MaxNameLength, false)
	if err := v.Err(); err != nil {
		return Product{}, err
	}
	now := s.now().UTC()
	// The target is what staff named: the product (v1 route) or the variant.
	rec := audit.New(ctx, now, audit.ActionStockAdjust, itemID, audit.Success, fmt.Sprintf("variant=%s delta=%d reason=%s", variantID, delta, reason))
	p, err := s.store.AdjustStock(ctx, variantID, delta, now, rec)
	if err != nil {
		return Product{}, fmt.Errorf("adjust stock of %s: %w", variantID, err)
	}
	return p, nil
}
