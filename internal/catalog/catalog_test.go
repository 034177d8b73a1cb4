package catalog_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/catalog"
	"github.com/bulwark-shop/bulwark/internal/money"
)

func TestVisible(t *testing.T) {
	at := time.Date(2027, 1, 31, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name      string
		status    string
		publishAt time.Time
		want      bool
	}{
		{"active without publish_at", catalog.StatusActive, time.Time{}, true},
		{"active, published before", catalog.StatusActive, at.Add(-time.Second), true},
		{"active, published at this instant", catalog.StatusActive, at, true},
		{"active, scheduled a nanosecond later", catalog.StatusActive, at.Add(time.Nanosecond), false},
		{"draft", catalog.StatusDraft, time.Time{}, false},
		{"draft with a past publish_at", catalog.StatusDraft, at.Add(-time.Hour), false},
		{"archived", catalog.StatusArchived, time.Time{}, false},
		{"an unknown status", "ACTIVE", time.Time{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := catalog.Product{Status: c.status, PublishAt: c.publishAt}
			if got := p.Visible(at); got != c.want {
				t.Fatalf("Visible = %t, want %t", got, c.want)
			}
		})
	}
}

func TestCheckPlacement(t *testing.T) {
	// a → b → c → d → f (a root, at depth 0; f at 4, the deepest allowed); e a root.
	tree := map[string]string{"a": "", "b": "a", "c": "b", "d": "c", "f": "d", "e": ""}
	for _, c := range []struct {
		name, id, parent string
		want             error
	}{
		{"a root stays a root", "e", "", nil},
		{"under a sibling", "e", "a", nil},
		{"under itself", "a", "a", catalog.ErrCategoryCycle},
		{"under its own descendant", "a", "d", catalog.ErrCategoryCycle},
		{"under a missing parent", "e", "zz", catalog.ErrCategoryNotFound},
		{"a subtree moved under another root", "b", "e", nil},
		{"at the deepest level allowed", "e", "d", nil},
		{"one level past it", "e", "f", catalog.ErrCategoryTooDeep},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := catalog.CheckPlacement(tree, c.id, c.parent); !errors.Is(err, c.want) {
				t.Fatalf("CheckPlacement(%s under %s) = %v, want %v", c.id, c.parent, err, c.want)
			}
		})
	}
	t.Run("a subtree that would pass the depth limit", func(t *testing.T) {
		deep := map[string]string{"a": "", "b": "a", "c": "b", "d": "c", "x": "", "y": "x"}
		if err := catalog.CheckPlacement(deep, "x", "d"); !errors.Is(err, catalog.ErrCategoryTooDeep) {
			t.Fatalf("x (with a child) under d (depth 3) = %v", err)
		}
	})
}

// memStore records what reaches storage: a refused request reaches nothing.
type memStore struct {
	catalog.Store
	created []catalog.Product
}

func (m *memStore) CreateProduct(_ context.Context, p catalog.Product, _ audit.Record) error {
	m.created = append(m.created, p)
	return nil
}

func staff() context.Context {
	return access.WithPrincipal(context.Background(), &access.Principal{UserID: "usr_test", Roles: []access.Role{access.Catalog}, MFAEnabled: true})
}

func TestCreateValidation(t *testing.T) {
	eur := func(a int64) money.Money { return money.Money{Amount: a, Currency: "EUR"} }
	size := []catalog.Option{{Name: "size", Values: []string{"S", "M"}}}
	good := func() catalog.NewProduct {
		return catalog.NewProduct{Name: "Tee", Options: size, Variants: []catalog.NewVariant{
			{SKU: "T-S", Options: map[string]string{"size": "S"}, Prices: []money.Money{eur(100)}, Stock: 1},
			{SKU: "T-M", Options: map[string]string{"size": "M"}, Prices: []money.Money{eur(100), {Amount: 120, Currency: "USD"}}, Stock: 1},
		}}
	}
	for _, c := range []struct {
		name   string
		change func(*catalog.NewProduct)
		field  string
	}{
		{"an option value not in the options", func(p *catalog.NewProduct) { p.Variants[0].Options["size"] = "XL" }, "variants[0].options.size"},
		{"a missing option", func(p *catalog.NewProduct) { p.Variants[0].Options = nil }, "variants[0].options"},
		{"an extra option", func(p *catalog.NewProduct) { p.Variants[0].Options["colour"] = "red" }, "variants[0].options"},
		{"a duplicate combination", func(p *catalog.NewProduct) { p.Variants[1].Options["size"] = "S" }, "variants[1].options"},
		{"a duplicate SKU", func(p *catalog.NewProduct) { p.Variants[1].SKU = "T-S" }, "variants[1].sku"},
		{"two prices in one currency", func(p *catalog.NewProduct) { p.Variants[0].Prices = []money.Money{eur(1), eur(2)} }, "variants[0].prices[1].currency"},
		{"a negative price", func(p *catalog.NewProduct) { p.Variants[0].Prices = []money.Money{eur(-1)} }, "variants[0].prices[0].amount"},
		{"an overflowing price", func(p *catalog.NewProduct) { p.Variants[0].Prices = []money.Money{eur(money.MaxAmount + 1)} }, "variants[0].prices[0].amount"},
		{"a currency not sold", func(p *catalog.NewProduct) { p.Variants[0].Prices = []money.Money{{Amount: 1, Currency: "GBP"}} }, "variants[0].prices[0].currency"},
		{"no variants", func(p *catalog.NewProduct) { p.Variants = nil }, "variants"},
		{"an unknown status", func(p *catalog.NewProduct) { p.Status = "live" }, "status"},
		{"a duplicate option value", func(p *catalog.NewProduct) {
			p.Options = []catalog.Option{{Name: "size", Values: []string{"S", "S", "M"}}}
		}, "options[0].values[1]"},
		{"a bad category id", func(p *catalog.NewProduct) { p.Categories = []string{"tees"} }, "categories[0]"},
		{"a description within the limit that sanitizing takes past it", func(p *catalog.NewProduct) {
			p.Description = "<p>" + strings.Repeat(`"`, catalog.MaxDescriptionLength-7) + "</p>"
		}, "description"},
	} {
		t.Run(c.name+" is refused and stores nothing", func(t *testing.T) {
			store := &memStore{}
			s := catalog.NewService(catalog.Deps{Store: store, Currencies: []string{"EUR", "USD"}, Now: time.Now})
			in := good()
			c.change(&in)
			_, err := s.Create(staff(), in)
			var e *apperr.Error
			if !errors.As(err, &e) || e.Code != apperr.CodeValidation {
				t.Fatalf("err = %v", err)
			}
			found := false
			for _, f := range e.Fields {
				found = found || f.Field == c.field
			}
			if !found || len(store.created) != 0 {
				t.Fatalf("fields %+v (want %s), stored %d", e.Fields, c.field, len(store.created))
			}
		})
	}
	t.Run("a good product is stored as a draft with its description sanitized", func(t *testing.T) {
		store := &memStore{}
		s := catalog.NewService(catalog.Deps{Store: store, Currencies: []string{"EUR", "USD"}, Now: time.Now})
		in := good()
		in.Description = `<p onclick="x()">Soft</p><script>alert(1)</script>`
		p, err := s.Create(staff(), in)
		if err != nil || len(store.created) != 1 || p.Status != catalog.StatusDraft || p.Description != "<p>Soft</p>" || len(p.Variants) != 2 {
			t.Fatalf("created %+v, %v", p, err)
		}
	})
	t.Run("the v1 shorthand is active at once", func(t *testing.T) {
		store := &memStore{}
		s := catalog.NewService(catalog.Deps{Store: store, Currencies: []string{"EUR"}, Now: time.Now})
		p, err := s.Create(staff(), catalog.SingleVariant("ONE", "One", "", eur(100), 3))
		if err != nil || p.Status != catalog.StatusActive || p.First().SKU != "ONE" || p.First().Stock != 3 {
			t.Fatalf("created %+v, %v", p, err)
		}
	})
}
