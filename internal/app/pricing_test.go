package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/pricing"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

type taxRate struct {
	ID      string `json:"id"`
	Country string `json:"country"`
	Region  string `json:"region"`
	RatePPM int64  `json:"rate_ppm"`
	Name    string `json:"name"`
}

type amount struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

type shippingOption struct {
	ID     string           `json:"id"`
	Name   string           `json:"name"`
	Kind   string           `json:"kind"`
	Zones  []map[string]any `json:"zones"`
	Prices []amount         `json:"prices"`
	Bands  []struct {
		MinGrams int64    `json:"min_grams"`
		MaxGrams int64    `json:"max_grams"`
		Prices   []amount `json:"prices"`
	} `json:"bands"`
	FreeAbove []amount `json:"free_above"`
	Active    bool     `json:"active"`
}

type discountCode struct {
	ID          string   `json:"id"`
	Code        string   `json:"code"`
	Kind        string   `json:"kind"`
	BasisPoints int64    `json:"basis_points"`
	Amounts     []amount `json:"amounts"`
	EndsAt      string   `json:"ends_at"`
	MaxUses     int64    `json:"max_uses"`
	Uses        int64    `json:"uses"`
	Active      bool     `json:"active"`
	ProductIDs  []string `json:"product_ids"`
}

func eurJSON(a int64) []map[string]any { return []map[string]any{{"amount": a, "currency": "EUR"}} }

// TestPricingAdministration: staff manage tax rates, shipping options and
// discount codes; other roles cannot; bad input answers a problem and changes
// nothing; every change is audited; the public sees shipping prices only.
func TestPricingAdministration(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("pricing-admin@example.com")
		catalogStaff := s.staff(admin, "pricing-catalog@example.com", "catalog")
		support := s.staff(admin, "pricing-support@example.com", "support")
		s.register("pricing-customer@example.com")
		customer := s.login("pricing-customer@example.com", testPassword)

		// pricingAudits counts the audit records of pricing changes, so a
		// refused request can be shown to have written none.
		pricingAudits := func() (n int, byAction map[string][]string) {
			byAction = map[string][]string{}
			if _, err := s.App.DB.ScanAudit(context.Background(), func(r audit.Record) error {
				if strings.HasPrefix(r.Action, "tax_rate.") || strings.HasPrefix(r.Action, "shipping_option.") || strings.HasPrefix(r.Action, "discount.") {
					n++
					byAction[r.Action] = append(byAction[r.Action], r.Target)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			return n, byAction
		}
		// refused sends r, expects status and code, and checks that neither
		// list nor audit trail changed.
		refused := func(t *testing.T, status int, code string, r req) {
			t.Helper()
			before, _ := pricingAudits()
			lists := map[string]string{}
			for _, l := range []string{"tax-rates", "shipping-options", "discounts"} {
				lists[l] = string(s.must(200, req{method: "GET", path: "/api/v1/admin/" + l + "?limit=100", token: admin}).Body)
			}
			res := s.do(r)
			if res.Status != status || (code != "" && res.Code(t) != code) {
				t.Fatalf("%s %s = %d %s, want %d %s", r.method, r.path, res.Status, res.Body, status, code)
			}
			for l, was := range lists {
				if now := string(s.must(200, req{method: "GET", path: "/api/v1/admin/" + l + "?limit=100", token: admin}).Body); now != was {
					t.Fatalf("a refused request changed %s:\n%s\n→\n%s", l, was, now)
				}
			}
			if after, _ := pricingAudits(); after != before {
				t.Fatalf("a refused request wrote %d audit records", after-before)
			}
		}

		var vat taxRate
		t.Run("tax rates: create, list, patch, delete", func(t *testing.T) {
			s.must(201, req{method: "POST", path: "/api/v1/admin/tax-rates", token: catalogStaff,
				body: map[string]any{"country": "DE", "rate_ppm": 190000, "name": "MwSt"}}).JSON(t, &vat)
			if !strings.HasPrefix(vat.ID, "tax_") || vat.Country != "DE" || vat.Region != "" || vat.RatePPM != 190000 {
				t.Fatalf("created %+v", vat)
			}
			var regional taxRate
			s.must(201, req{method: "POST", path: "/api/v1/admin/tax-rates", token: admin,
				body: map[string]any{"country": "US", "region": "NY", "rate_ppm": 88750, "name": "NY sales tax"}}).JSON(t, &regional)
			var list struct{ Items []taxRate }
			s.must(200, req{method: "GET", path: "/api/v1/admin/tax-rates", token: catalogStaff}).JSON(t, &list)
			if len(list.Items) != 2 {
				t.Fatalf("list = %+v", list)
			}
			var patched taxRate
			s.must(200, req{method: "PATCH", path: "/api/v1/admin/tax-rates/" + regional.ID, token: catalogStaff,
				body: map[string]any{"rate_ppm": 40000, "name": "NY state"}}).JSON(t, &patched)
			if patched.RatePPM != 40000 || patched.Name != "NY state" || patched.Region != "NY" {
				t.Fatalf("patched %+v", patched)
			}
			s.must(204, req{method: "DELETE", path: "/api/v1/admin/tax-rates/" + regional.ID, token: catalogStaff})
			s.must(404, req{method: "DELETE", path: "/api/v1/admin/tax-rates/" + regional.ID, token: catalogStaff})
			s.must(404, req{method: "PATCH", path: "/api/v1/admin/tax-rates/" + regional.ID, token: catalogStaff, body: map[string]any{"name": "x"}})
		})

		t.Run("tax rates: bad input changes nothing", func(t *testing.T) {
			refused(t, 409, "tax_rate_overlap", req{method: "POST", path: "/api/v1/admin/tax-rates", token: admin,
				body: map[string]any{"country": "DE", "rate_ppm": 70000, "name": "reduced, by mistake"}})
			refused(t, 422, "validation_failed", req{method: "POST", path: "/api/v1/admin/tax-rates", token: admin,
				body: map[string]any{"country": "DE", "region": "BY", "rate_ppm": 1000001, "name": "over 100 %"}})
			refused(t, 422, "validation_failed", req{method: "POST", path: "/api/v1/admin/tax-rates", token: admin,
				body: map[string]any{"country": "DE", "region": "BY", "rate_ppm": -1, "name": "negative"}})
			refused(t, 422, "validation_failed", req{method: "POST", path: "/api/v1/admin/tax-rates", token: admin,
				body: map[string]any{"country": "Germany", "rate_ppm": 1, "name": "x"}})
			refused(t, 400, "invalid_json", req{method: "POST", path: "/api/v1/admin/tax-rates", token: admin,
				body: `{"country": "FR", "rate_ppm": 200000.5, "name": "a float"}`})
			refused(t, 422, "validation_failed", req{method: "PATCH", path: "/api/v1/admin/tax-rates/" + vat.ID, token: admin,
				body: map[string]any{"rate_ppm": 2000000}})
			refused(t, 422, "validation_failed", req{method: "PATCH", path: "/api/v1/admin/tax-rates/" + vat.ID, token: admin, body: map[string]any{}})
		})

		var flat shippingOption
		t.Run("shipping options: create, list, patch, public list, delete", func(t *testing.T) {
			s.must(201, req{method: "POST", path: "/api/v1/admin/shipping-options", token: catalogStaff, body: map[string]any{
				"name": "Standard", "zones": []map[string]any{{"country": "DE"}, {"country": "AT"}}, "kind": "flat", "prices": eurJSON(495)}}).JSON(t, &flat)
			if !strings.HasPrefix(flat.ID, "ship_") || !flat.Active || flat.Prices[0].Amount != 495 || len(flat.Zones) != 2 {
				t.Fatalf("created %+v", flat)
			}
			var heavy shippingOption
			s.must(201, req{method: "POST", path: "/api/v1/admin/shipping-options", token: admin, body: map[string]any{
				"name": "Freight", "zones": []map[string]any{{"country": "DE"}}, "kind": "weight_bands",
				"bands": []map[string]any{{"min_grams": 0, "max_grams": 1000, "prices": eurJSON(500)}, {"min_grams": 1000, "max_grams": 30000, "prices": eurJSON(1500)}}}}).JSON(t, &heavy)
			var free shippingOption
			s.must(201, req{method: "POST", path: "/api/v1/admin/shipping-options", token: admin, body: map[string]any{
				"name": "California", "zones": []map[string]any{{"country": "US", "region": "CA"}}, "kind": "free_above",
				"prices": eurJSON(900), "free_above": eurJSON(10000)}}).JSON(t, &free)

			var public struct{ Items []map[string]any }
			s.must(200, req{method: "GET", path: "/api/v1/shipping-options?country=DE"}).JSON(t, &public)
			if len(public.Items) != 2 {
				t.Fatalf("DE options = %+v", public.Items)
			}
			for _, o := range public.Items {
				if _, ok := o["zones"]; ok {
					t.Fatalf("the public list shows zones: %+v", o)
				}
				if _, ok := o["active"]; ok {
					t.Fatalf("the public list shows staff fields: %+v", o)
				}
			}
			s.must(200, req{method: "GET", path: "/api/v1/shipping-options?country=US&region=CA&currency=EUR"}).JSON(t, &public)
			if len(public.Items) != 1 || public.Items[0]["id"] != free.ID {
				t.Fatalf("US-CA options = %+v", public.Items)
			}
			s.must(200, req{method: "GET", path: "/api/v1/shipping-options?country=US&region=NY"}).JSON(t, &public)
			if len(public.Items) != 0 {
				t.Fatalf("US-NY options = %+v", public.Items)
			}
			if res := s.do(req{method: "GET", path: "/api/v1/shipping-options?country=DE&currency=USD"}); res.Status != 422 || res.Code(t) != "currency_not_sold" {
				t.Fatalf("an unsold currency = %d %s", res.Status, res.Body)
			}
			s.must(422, req{method: "GET", path: "/api/v1/shipping-options"})

			var patched shippingOption
			s.must(200, req{method: "PATCH", path: "/api/v1/admin/shipping-options/" + heavy.ID, token: catalogStaff,
				body: map[string]any{"active": false}}).JSON(t, &patched)
			if patched.Active || len(patched.Bands) != 2 {
				t.Fatalf("patched %+v", patched)
			}
			s.must(200, req{method: "GET", path: "/api/v1/shipping-options?country=DE"}).JSON(t, &public)
			if len(public.Items) != 1 || public.Items[0]["id"] != flat.ID {
				t.Fatalf("an inactive option is listed: %+v", public.Items)
			}
			s.must(200, req{method: "PATCH", path: "/api/v1/admin/shipping-options/" + free.ID, token: admin,
				body: map[string]any{"kind": "flat", "free_above": []any{}}}).JSON(t, &patched)
			if patched.Kind != "flat" || len(patched.FreeAbove) != 0 || patched.Prices[0].Amount != 900 {
				t.Fatalf("kind changed: %+v", patched)
			}
			s.must(204, req{method: "DELETE", path: "/api/v1/admin/shipping-options/" + heavy.ID, token: admin})
			var list struct{ Items []shippingOption }
			s.must(200, req{method: "GET", path: "/api/v1/admin/shipping-options", token: admin}).JSON(t, &list)
			if len(list.Items) != 2 {
				t.Fatalf("list = %+v", list.Items)
			}
		})

		t.Run("shipping options: bad input changes nothing", func(t *testing.T) {
			option := func(change map[string]any) map[string]any {
				o := map[string]any{"name": "Bad", "zones": []map[string]any{{"country": "DE"}}, "kind": "flat", "prices": eurJSON(100)}
				for k, v := range change {
					o[k] = v
				}
				return o
			}
			post := func(body any) req {
				return req{method: "POST", path: "/api/v1/admin/shipping-options", token: admin, body: body}
			}
			refused(t, 422, "validation_failed", post(option(map[string]any{"prices": eurJSON(-1)})))
			refused(t, 422, "validation_failed", post(option(map[string]any{"prices": eurJSON(1_000_000_000_001)})))
			refused(t, 400, "invalid_json", post(`{"name":"Bad","zones":[{"country":"DE"}],"kind":"flat","prices":[{"amount":99999999999999999999,"currency":"EUR"}]}`))
			refused(t, 422, "currency_not_sold", post(option(map[string]any{"prices": []map[string]any{{"amount": 100, "currency": "USD"}}})))
			refused(t, 422, "validation_failed", post(option(map[string]any{"zones": []map[string]any{}})))
			refused(t, 422, "validation_failed", post(option(map[string]any{"kind": "weight_bands", "prices": []any{},
				"bands": []map[string]any{{"min_grams": 0, "max_grams": 1000, "prices": eurJSON(1)}, {"min_grams": 500, "max_grams": 2000, "prices": eurJSON(2)}}})))
			refused(t, 422, "validation_failed", post(option(map[string]any{"kind": "teleport"})))
			refused(t, 422, "validation_failed", req{method: "PATCH", path: "/api/v1/admin/shipping-options/" + flat.ID, token: admin,
				body: map[string]any{"kind": "free_above"}}) // the new kind's threshold is missing
		})

		var disc discountCode
		t.Run("discounts: create, list with uses, patch, delete", func(t *testing.T) {
			s.must(201, req{method: "POST", path: "/api/v1/admin/discounts", token: catalogStaff, body: map[string]any{
				"code": "summer-sale", "kind": "percent", "basis_points": 1500, "max_uses": 100, "ends_at": "2099-01-01T00:00:00+02:00"}}).JSON(t, &disc)
			if !strings.HasPrefix(disc.ID, "disc_") || disc.Code != "SUMMERSALE" || disc.BasisPoints != 1500 || disc.Uses != 0 || !disc.Active ||
				disc.EndsAt != "2098-12-31T22:00:00.000Z" || disc.ProductIDs == nil {
				t.Fatalf("created %+v", disc)
			}
			var fixed discountCode
			s.must(201, req{method: "POST", path: "/api/v1/admin/discounts", token: admin, body: map[string]any{
				"code": "TENEURS", "kind": "fixed", "amounts": eurJSON(1000), "min_subtotal": eurJSON(5000)}}).JSON(t, &fixed)
			var list struct{ Items []discountCode }
			s.must(200, req{method: "GET", path: "/api/v1/admin/discounts", token: catalogStaff}).JSON(t, &list)
			if len(list.Items) != 2 {
				t.Fatalf("list = %+v", list.Items)
			}
			// The use count comes from orders only; a redemption (as checkout will make) shows in the staff list.
			if err := s.App.DB.RedeemDiscount(context.Background(), disc.ID, "usr_aaaaaaaaaaaaaaaaaaaaaaaaaa", s.now()); err != nil {
				t.Fatal(err)
			}
			var patched discountCode
			s.must(200, req{method: "PATCH", path: "/api/v1/admin/discounts/" + disc.ID, token: admin,
				body: map[string]any{"active": false, "basis_points": 2000}}).JSON(t, &patched)
			if patched.Active || patched.BasisPoints != 2000 || patched.Uses != 1 || patched.Code != "SUMMERSALE" {
				t.Fatalf("patched %+v", patched)
			}
			s.must(200, req{method: "GET", path: "/api/v1/admin/discounts?limit=1", token: admin}).JSON(t, &list)
			if len(list.Items) != 1 {
				t.Fatalf("a page of one = %+v", list.Items)
			}
			s.must(204, req{method: "DELETE", path: "/api/v1/admin/discounts/" + fixed.ID, token: admin})
			s.must(404, req{method: "PATCH", path: "/api/v1/admin/discounts/" + fixed.ID, token: admin, body: map[string]any{"active": true}})
		})

		t.Run("discounts: bad input changes nothing", func(t *testing.T) {
			post := func(body map[string]any) req {
				return req{method: "POST", path: "/api/v1/admin/discounts", token: admin, body: body}
			}
			refused(t, 422, "validation_failed", post(map[string]any{"code": "TOOMUCH", "kind": "percent", "basis_points": 10001}))
			refused(t, 409, "discount_code_taken", post(map[string]any{"code": "Summer Sale", "kind": "percent", "basis_points": 100}))
			for _, code := range []string{"ABC", "NO_UNDERSCORE", strings.Repeat("A", 33), "ÄBCD", "ABCD!"} {
				refused(t, 422, "validation_failed", post(map[string]any{"code": code, "kind": "percent", "basis_points": 100}))
			}
			refused(t, 422, "validation_failed", post(map[string]any{"code": "NEGATIVE", "kind": "fixed", "amounts": eurJSON(-5)}))
			refused(t, 422, "currency_not_sold", post(map[string]any{"code": "USDCASH", "kind": "fixed", "amounts": []map[string]any{{"amount": 5, "currency": "USD"}}}))
			refused(t, 422, "validation_failed", post(map[string]any{"code": "BACKWARDS", "kind": "percent", "basis_points": 100,
				"starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"}))
			refused(t, 422, "validation_failed", post(map[string]any{"code": "NEEDSPRDS", "kind": "percent", "basis_points": 100, "product_ids": []string{"usr_aaaaaaaaaaaaaaaaaaaaaaaaaa"}}))
			refused(t, 400, "invalid_json", post(map[string]any{"code": "EXTRAFEE", "kind": "percent", "basis_points": 100, "uses": 0}))
			refused(t, 400, "invalid_json", req{method: "PATCH", path: "/api/v1/admin/discounts/" + disc.ID, token: admin, body: map[string]any{"uses": 0}})
			refused(t, 422, "validation_failed", req{method: "PATCH", path: "/api/v1/admin/discounts/" + disc.ID, token: admin, body: map[string]any{"basis_points": 20000}})
		})

		t.Run("other roles are refused and change nothing", func(t *testing.T) {
			for _, r := range []req{
				{method: "GET", path: "/api/v1/admin/discounts"},
				{method: "POST", path: "/api/v1/admin/discounts", body: map[string]any{"code": "SNEAKY", "kind": "percent", "basis_points": 10000}},
				{method: "PATCH", path: "/api/v1/admin/discounts/" + disc.ID, body: map[string]any{"basis_points": 10000, "active": true}},
				{method: "DELETE", path: "/api/v1/admin/tax-rates/" + vat.ID},
				{method: "POST", path: "/api/v1/admin/shipping-options", body: map[string]any{"name": "x", "zones": []map[string]any{{"country": "DE"}}, "kind": "flat", "prices": eurJSON(0)}},
			} {
				for who, token := range map[string]string{"anonymous": "", "customer": customer, "support": support} {
					r.token = token
					want := 403
					if who == "anonymous" {
						want = 401
					}
					if r.method == "GET" {
						if res := s.do(r); res.Status != want {
							t.Fatalf("%s %s as %s = %d", r.method, r.path, who, res.Status)
						}
						continue
					}
					refused(t, want, "", r)
				}
			}
		})

		t.Run("every change is audited", func(t *testing.T) {
			_, byAction := pricingAudits()
			for action, want := range map[string]int{
				pricing.ActionTaxRateCreate: 2, pricing.ActionTaxRateUpdate: 1, pricing.ActionTaxRateDelete: 1,
				pricing.ActionShippingOptionCreate: 3, pricing.ActionShippingOptionUpdate: 2, pricing.ActionShippingOptionDelete: 1,
				pricing.ActionDiscountCreate: 2, pricing.ActionDiscountUpdate: 1, pricing.ActionDiscountDelete: 1,
			} {
				if got := len(byAction[action]); got != want {
					t.Errorf("%s: %d records, want %d", action, got, want)
				}
			}
			if byAction[pricing.ActionTaxRateCreate][0] != vat.ID || byAction[pricing.ActionDiscountUpdate][0] != disc.ID {
				t.Errorf("audit targets = %v", byAction)
			}
			// The trail never holds a discount code.
			if _, err := s.App.DB.ScanAudit(context.Background(), func(r audit.Record) error {
				if strings.Contains(r.Detail, "SUMMERSALE") || strings.Contains(r.Detail, "TENEURS") {
					t.Errorf("audit record %d holds a code: %q", r.Seq, r.Detail)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})

		// lastDetail is the detail of the newest audit record of action on target.
		lastDetail := func(t *testing.T, action, target string) string {
			t.Helper()
			var detail string
			found := false
			if _, err := s.App.DB.ScanAudit(context.Background(), func(r audit.Record) error {
				if r.Action == action && r.Target == target {
					detail, found = r.Detail, true
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !found {
				t.Fatalf("no %s record for %s", action, target)
			}
			return detail
		}

		t.Run("the trail shows the amounts a change sets, never the code", func(t *testing.T) {
			var fixed discountCode
			s.must(201, req{method: "POST", path: "/api/v1/admin/discounts", token: catalogStaff, body: map[string]any{
				"code": "AUDITME", "kind": "fixed", "amounts": eurJSON(500), "min_subtotal": eurJSON(2000),
				"starts_at": "2030-01-01T00:00:00Z", "ends_at": "2031-01-01T00:00:00Z", "max_uses": 7}}).JSON(t, &fixed)
			created := lastDetail(t, pricing.ActionDiscountCreate, fixed.ID)
			for _, want := range []string{"EUR:500", "min_subtotal=[EUR:2000]", "starts_at=2030-01-01T00:00:00Z", "ends_at=2031-01-01T00:00:00Z", "max_uses=7"} {
				if !strings.Contains(created, want) {
					t.Errorf("create detail %q lacks %q", created, want)
				}
			}
			s.must(200, req{method: "PATCH", path: "/api/v1/admin/discounts/" + fixed.ID, token: catalogStaff,
				body: map[string]any{"amounts": eurJSON(1_000_000_000_000), "code": "AUDITMETOO"}})
			updated := lastDetail(t, pricing.ActionDiscountUpdate, fixed.ID)
			for _, want := range []string{"EUR:1000000000000", "code_changed=true"} {
				if !strings.Contains(updated, want) {
					t.Errorf("update detail %q lacks %q", updated, want)
				}
			}
			s.must(200, req{method: "PATCH", path: "/api/v1/admin/discounts/" + fixed.ID, token: catalogStaff,
				body: map[string]any{"basis_points": 0, "max_uses": 8}})
			if d := lastDetail(t, pricing.ActionDiscountUpdate, fixed.ID); !strings.Contains(d, "code_changed=false") || !strings.Contains(d, "max_uses=8") {
				t.Errorf("a patch without a code says %q", d)
			}

			s.must(200, req{method: "PATCH", path: "/api/v1/admin/shipping-options/" + flat.ID, token: catalogStaff,
				body: map[string]any{"prices": eurJSON(0)}})
			if d := lastDetail(t, pricing.ActionShippingOptionUpdate, flat.ID); !strings.Contains(d, "prices=[EUR:0]") {
				t.Errorf("shipping detail %q lacks the new price", d)
			}
			s.must(200, req{method: "PATCH", path: "/api/v1/admin/tax-rates/" + vat.ID, token: catalogStaff,
				body: map[string]any{"rate_ppm": 0}})
			if d := lastDetail(t, pricing.ActionTaxRateUpdate, vat.ID); !strings.Contains(d, "country=DE") || !strings.Contains(d, "rate_ppm=0") {
				t.Errorf("tax detail %q lacks the rate", d)
			}
			// A delete records what it took away, as a change records what it sets.
			s.must(204, req{method: "DELETE", path: "/api/v1/admin/discounts/" + fixed.ID, token: catalogStaff})
			if d := lastDetail(t, pricing.ActionDiscountDelete, fixed.ID); !strings.Contains(d, "amounts=[EUR:") || strings.Contains(d, "AUDITME") {
				t.Errorf("discount delete detail %q lacks its terms (or holds the code)", d)
			}

			if _, err := s.App.DB.ScanAudit(context.Background(), func(r audit.Record) error {
				if strings.Contains(r.Detail, "AUDITME") {
					t.Errorf("audit record %d holds a code: %q", r.Seq, r.Detail)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})

		// Last, as it moves the clock: every pricing write changes what
		// customers pay, so it needs a login from the step-up window.
		t.Run("pricing writes need a recent login", func(t *testing.T) {
			s.Clock.Advance(6 * time.Minute)                                                      // the sessions live on (staff idle limit is 15 minutes), the logins are old
			s.must(200, req{method: "GET", path: "/api/v1/admin/discounts", token: catalogStaff}) // reading needs no fresh login
			stale := []req{
				{method: "POST", path: "/api/v1/admin/discounts", body: map[string]any{"code": "FREEFORALL", "kind": "percent", "basis_points": 10000}},
				{method: "PATCH", path: "/api/v1/admin/discounts/" + disc.ID, body: map[string]any{"basis_points": 10000, "active": true}},
				{method: "DELETE", path: "/api/v1/admin/discounts/" + disc.ID},
				{method: "POST", path: "/api/v1/admin/shipping-options", body: map[string]any{"name": "x", "zones": []map[string]any{{"country": "DE"}}, "kind": "flat", "prices": eurJSON(0)}},
				{method: "PATCH", path: "/api/v1/admin/shipping-options/" + flat.ID, body: map[string]any{"prices": eurJSON(1)}},
				{method: "DELETE", path: "/api/v1/admin/shipping-options/" + flat.ID},
				{method: "POST", path: "/api/v1/admin/tax-rates", body: map[string]any{"country": "FR", "rate_ppm": 0, "name": "none"}},
				{method: "PATCH", path: "/api/v1/admin/tax-rates/" + vat.ID, body: map[string]any{"rate_ppm": 1}},
				{method: "DELETE", path: "/api/v1/admin/tax-rates/" + vat.ID},
			}
			for _, r := range stale {
				r.token = catalogStaff
				refused(t, 401, "reauthentication_required", r)
			}
			fresh := s.loginWithMFA("pricing-catalog@example.com", s.secrets["pricing-catalog@example.com"])
			s.must(201, req{method: "POST", path: "/api/v1/admin/discounts", token: fresh, body: map[string]any{"code": "FRESHLOGIN", "kind": "percent", "basis_points": 500}})
			for _, r := range stale[1:] {
				if r.method == "POST" {
					continue
				}
				r.token = fresh
				if res := s.do(r); res.Status != 200 && res.Status != 204 {
					t.Fatalf("%s %s with a fresh login = %d %s", r.method, r.path, res.Status, res.Body)
				}
			}
		})
	})
}
