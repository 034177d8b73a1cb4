package pricing_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/pricing"
)

// memStore keeps what the tests give it; methods it does not override panic
// through the nil embedded interface, so a test notices an unexpected call.
type memStore struct {
	pricing.Store
	rates     []pricing.TaxRate
	options   map[string]pricing.ShippingOption
	discounts map[string]pricing.Discount // by code
	uses      map[string]int64            // discount id + customer id
	created   []pricing.Discount
}

func (m *memStore) TaxRatesFor(_ context.Context, country string) ([]pricing.TaxRate, error) {
	var out []pricing.TaxRate
	for _, r := range m.rates {
		if r.Place.Country == country {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memStore) ShippingOption(_ context.Context, optionID string) (pricing.ShippingOption, error) {
	o, ok := m.options[optionID]
	if !ok {
		return pricing.ShippingOption{}, pricing.ErrShippingOptionNotFound
	}
	return o, nil
}

func (m *memStore) DiscountForCustomer(_ context.Context, code, customerID string) (pricing.Discount, int64, error) {
	d, ok := m.discounts[code]
	if !ok {
		return pricing.Discount{}, 0, pricing.ErrDiscountNotFound
	}
	return d, m.uses[d.ID+customerID], nil
}

func (m *memStore) ShippingOptionsTo(_ context.Context, country string, _ int) ([]pricing.ShippingOption, error) {
	var out []pricing.ShippingOption
	for _, o := range m.options {
		for _, z := range o.Zones {
			if z.Country == country && o.Active { // as the store: active options only
				out = append(out, o)
				break
			}
		}
	}
	return out, nil
}

func (m *memStore) AnyShippingOption(context.Context) (bool, error) {
	for _, o := range m.options {
		if o.Active {
			return true, nil
		}
	}
	return false, nil
}

func (m *memStore) CreateDiscount(_ context.Context, d pricing.Discount, _ audit.Record) error {
	m.created = append(m.created, d)
	return nil
}

func TestServiceQuote(t *testing.T) {
	ship := flat(500, de)
	idle := *flat(500, de)
	idle.ID, idle.Active = id.New(id.ShippingOption), false
	once := discount(pricing.DiscountPercent, 1000, nil)
	once.Code, once.MaxUsesPerCustomer = "NEWBUYER", 1
	customer := id.New(id.User)
	m := &memStore{
		rates:     []pricing.TaxRate{rate("DE", "", 190000), rate("FR", "", 200000), rate("US", "NY", 88750)},
		options:   map[string]pricing.ShippingOption{ship.ID: *ship, idle.ID: idle},
		discounts: map[string]pricing.Discount{"SUMMERSALE": *discount(pricing.DiscountPercent, 1000, nil), "NEWBUYER": *once},
		uses:      map[string]int64{once.ID + customer: 1},
	}
	s := pricing.NewService(m, []string{"EUR"}, pricing.TaxInclusive, func() time.Time { return now })
	cart := []pricing.Line{line(prodA, 11900, 1)}
	tests := []struct {
		name  string
		req   pricing.QuoteRequest
		code  string
		total int64
		tax   int64
	}{
		{"lines only", pricing.QuoteRequest{Currency: "EUR", Lines: cart}, "", 11900, 0},
		{"the destination's rates apply, inclusive", pricing.QuoteRequest{Currency: "EUR", Lines: cart, Destination: dest("DE", "")}, "", 11900, 1900},
		{"shipping and a code typed in lower case", pricing.QuoteRequest{Currency: "EUR", Lines: cart, Destination: dest("DE", ""), ShippingOptionID: ship.ID, DiscountCode: "summer-sale"},
			"", 11900 - 1190 + 500, 1710 + 80},
		{"an unsold currency", pricing.QuoteRequest{Currency: "USD", Lines: cart}, apperr.CodeCurrencyNotSold, 0, 0},
		{"an unknown code", pricing.QuoteRequest{Currency: "EUR", Lines: cart, DiscountCode: "WINTERSALE"}, apperr.CodeDiscountInvalid, 0, 0},
		{"a malformed code", pricing.QuoteRequest{Currency: "EUR", Lines: cart, DiscountCode: "x' OR 1=1"}, apperr.CodeDiscountInvalid, 0, 0},
		{"the customer's uses are counted", pricing.QuoteRequest{Currency: "EUR", Lines: cart, DiscountCode: "NEWBUYER", CustomerID: customer}, apperr.CodeDiscountExhausted, 0, 0},
		{"another customer may use it", pricing.QuoteRequest{Currency: "EUR", Lines: cart, DiscountCode: "NEWBUYER", CustomerID: id.New(id.User)}, "", 11900 - 1190, 0},
		{"an unknown option", pricing.QuoteRequest{Currency: "EUR", Lines: cart, Destination: dest("DE", ""), ShippingOptionID: id.New(id.ShippingOption)}, apperr.CodeShippingUnavailable, 0, 0},
		{"a malformed option id", pricing.QuoteRequest{Currency: "EUR", Lines: cart, Destination: dest("DE", ""), ShippingOptionID: "ship_../x"}, apperr.CodeShippingUnavailable, 0, 0},
		{"an option for another zone", pricing.QuoteRequest{Currency: "EUR", Lines: cart, Destination: dest("FR", ""), ShippingOptionID: ship.ID}, apperr.CodeShippingUnavailable, 0, 0},
		{"an inactive option", pricing.QuoteRequest{Currency: "EUR", Lines: cart, Destination: dest("DE", ""), ShippingOptionID: idle.ID}, apperr.CodeShippingUnavailable, 0, 0},
		{"a country that does not exist", pricing.QuoteRequest{Currency: "EUR", Lines: cart, Destination: dest("ZZ", "")}, apperr.CodeValidation, 0, 0},
		{"a country taxed by region, without its region", pricing.QuoteRequest{Currency: "EUR", Lines: cart, Destination: dest("US", "")}, pricing.CodeRegionRequired, 0, 0},
		{"a country taxed by region, with one the shop does not know", pricing.QuoteRequest{Currency: "EUR", Lines: cart, Destination: dest("US", "ZZ")}, pricing.CodeRegionRequired, 0, 0},
		{"a country taxed by region, with its region", pricing.QuoteRequest{Currency: "EUR", Lines: cart, Destination: dest("US", "NY")}, "", 11900, 970},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := s.Quote(context.Background(), tt.req)
			if tt.code != "" {
				if apperr.Code(err) != tt.code {
					t.Fatalf("err = %v, want %s", err, tt.code)
				}
				return
			}
			if err != nil || q.Total != tt.total || q.Tax != tt.tax {
				t.Fatalf("total %d tax %d, err %v; want %d, %d", q.Total, q.Tax, err, tt.total, tt.tax)
			}
		})
	}
}

func TestServiceAdministration(t *testing.T) {
	m := &memStore{}
	s := pricing.NewService(m, []string{"EUR"}, pricing.TaxExclusive, func() time.Time { return now })
	staff := access.WithPrincipal(context.Background(), &access.Principal{UserID: "usr_x", Roles: []access.Role{access.Catalog}, MFAEnabled: true, AuthenticatedAt: now})
	support := access.WithPrincipal(context.Background(), &access.Principal{UserID: "usr_y", Roles: []access.Role{access.Support}, MFAEnabled: true, AuthenticatedAt: now})
	stale := access.WithPrincipal(context.Background(), &access.Principal{UserID: "usr_z", Roles: []access.Role{access.Catalog}, MFAEnabled: true, AuthenticatedAt: now.Add(-access.StepUpWindow - time.Second)})

	d, err := s.CreateDiscount(staff, pricing.Discount{Code: "summer deal", Kind: pricing.DiscountPercent, BasisPoints: 500, Uses: 99, Active: true})
	if err != nil || d.Code != "SUMMERDEAL" || d.Uses != 0 || !id.Valid(id.Discount, d.ID) || len(m.created) != 1 {
		t.Fatalf("create = %+v, %v", d, err)
	}
	if _, err := s.CreateDiscount(support, pricing.Discount{Code: "SNEAKY", Kind: pricing.DiscountPercent, BasisPoints: 10000}); apperr.Code(err) != apperr.CodeForbidden || len(m.created) != 1 {
		t.Fatalf("support created a discount: %v", err)
	}
	if _, err := s.CreateDiscount(stale, pricing.Discount{Code: "FREEFORALL", Kind: pricing.DiscountPercent, BasisPoints: 10000}); apperr.Code(err) != access.CodeReauthenticationNeeded || len(m.created) != 1 {
		t.Fatalf("a login older than the step-up window created a discount: %v", err)
	}
	if _, err := s.UpdateDiscount(stale, d.ID, pricing.DiscountPatch{BasisPoints: new(int64)}); apperr.Code(err) != access.CodeReauthenticationNeeded {
		t.Fatalf("a login older than the step-up window changed a discount: %v", err)
	}
	if err := s.DeleteTaxRate(stale, "tax_aaaaaaaaaaaaaaaaaaaaaaaaaa"); apperr.Code(err) != access.CodeReauthenticationNeeded {
		t.Fatalf("a login older than the step-up window deleted a tax rate: %v", err)
	}
	if _, _, err := s.ListDiscounts(stale, pricing.ListQuery{Limit: 0}); apperr.Code(err) != apperr.CodeValidation {
		t.Fatalf("reading needs no fresh login, only a valid limit: %v", err)
	}
	if _, err := s.CreateDiscount(staff, pricing.Discount{Code: "TOOMUCH", Kind: pricing.DiscountPercent, BasisPoints: 10001}); apperr.Code(err) != apperr.CodeValidation || len(m.created) != 1 {
		t.Fatalf("over 100 %%: %v", err)
	}
	if _, err := s.UpdateDiscount(staff, "disc_nope", pricing.DiscountPatch{}); apperr.Code(err) != apperr.CodeNotFound {
		t.Fatalf("a malformed id: %v", err)
	}
	if _, _, err := s.ListDiscounts(staff, pricing.ListQuery{Limit: 0}); apperr.Code(err) != apperr.CodeValidation {
		t.Fatalf("limit 0: %v", err)
	}
	if _, err := s.ShippingOptionsFor(context.Background(), pricing.Destination{Country: "de"}, ""); apperr.Code(err) != apperr.CodeValidation {
		t.Fatalf("a lower-case country: %v", err)
	}
}
