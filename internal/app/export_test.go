package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/testenv"
)

func TestExport(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("export-admin@example.com")
		p := s.createProduct(admin, "EXP-1", 5)
		sh := s.shopper("exported@example.com", "5555555555554444")
		s.checkout(sh, "export", s.cartWith(sh, 1, p.ID), "123")
		other := s.shopper("someone-else@example.com", "4242424242424242")
		s.checkout(other, "export-other", s.cartWith(other, 1, p.ID), "123")
		otherCart := s.cartWith(other, 1, p.ID)
		// A cart still being filled is the person's too: what they mean to buy, and where to.
		kept := s.cartWith(sh, 2, p.ID)
		s.must(200, req{method: "PUT", path: "/api/v1/carts/" + kept + "/shipping", token: sh.token,
			body: map[string]any{"address": map[string]string{"country": "DE"}}})

		var e struct {
			Format   string
			Account  struct{ ID, Email, Name string }
			Sessions []struct {
				ID, IP string
			}
			PaymentMethods []struct{ Last4 string } `json:"payment_methods"`
			Orders         []struct {
				ID              string
				ShippingAddress struct{ Name, Line1, City string } `json:"shipping_address"`
			}
			Addresses    []struct{ Line1 string }
			AuditRecords []struct{ Action string } `json:"audit_records"`
			Carts        []struct {
				ID              string
				Items           []struct{ Quantity int }
				ShippingCountry string `json:"shipping_country"`
			}
		}
		res := s.must(200, req{method: "GET", path: "/api/v1/me/export", token: sh.token})
		res.JSON(t, &e)
		body := string(res.Body)
		if e.Format != "bulwark-export/1" || e.Account.Email != "exported@example.com" || len(e.Sessions) != 1 ||
			len(e.PaymentMethods) != 1 || e.PaymentMethods[0].Last4 != "4444" || len(e.Orders) != 1 ||
			e.Orders[0].ShippingAddress.Line1 != "1 Main St" || len(e.Addresses) != 1 {
			t.Fatalf("export = %+v", e)
		}
		var found bool
		for _, c := range e.Carts {
			found = found || (c.ID == kept && len(c.Items) == 1 && c.Items[0].Quantity == 2 && c.ShippingCountry == "DE")
		}
		if len(e.Carts) != 2 || !found || strings.Contains(body, otherCart) {
			t.Fatalf("the export's carts = %+v, want the paid (empty) cart and %s", e.Carts, kept)
		}
		actions := map[string]bool{}
		for _, r := range e.AuditRecords {
			actions[r.Action] = true
		}
		for _, a := range []string{"user.register", "user.login", "payment_method.create", "user.data_export"} {
			if !actions[a] {
				t.Errorf("the export lacks the %s record about the person", a)
			}
		}
		for _, secret := range []string{"argon2id", "password_hash", "5555555555554444", "tok_", "bws_", "token_hash", "someone-else@example.com", "sim_auth_"} {
			if strings.Contains(body, secret) {
				t.Errorf("the export holds %q", secret)
			}
		}
		if !strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
			t.Errorf("Content-Disposition = %q", res.Header.Get("Content-Disposition"))
		}

		t.Run("needs a login from the last five minutes", func(t *testing.T) {
			s.Clock.Advance(6 * time.Minute)
			if res := s.do(req{method: "GET", path: "/api/v1/me/export", token: sh.token}); res.Status != 401 || res.Code(t) != "reauthentication_required" {
				t.Fatalf("stale export = %d %s", res.Status, res.Body)
			}
		})
	})
}

// TestDiscountUsesInExportAndErasure: a customer's uses of discount codes
// (table discount_uses, keyed by their account id) are theirs: the export
// lists them, by discount id and count, and erasure, by the person or by
// staff, deletes them, so no row ties the pseudonymous id to the codes it
// used. The discounts' total counts are accounting and do not move.
func TestDiscountUsesInExportAndErasure(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("du-admin@example.com")
		var summer, winter discountCode
		s.must(201, req{method: "POST", path: "/api/v1/admin/discounts", token: admin, body: map[string]any{
			"code": "SUMMERSALE", "kind": "percent", "basis_points": 1000}}).JSON(t, &summer)
		s.must(201, req{method: "POST", path: "/api/v1/admin/discounts", token: admin, body: map[string]any{
			"code": "BLACKFRDAY", "kind": "percent", "basis_points": 500, "max_uses_per_customer": 1}}).JSON(t, &winter)

		person := s.register("du-person@example.com")
		token := s.login("du-person@example.com", testPassword)
		byStaff := s.register("du-by-staff@example.com")
		stays := s.register("du-stays@example.com")
		// The counts as checkout makes them, in the order's transaction.
		for _, use := range []struct{ discount, user string }{
			{summer.ID, person.ID}, {summer.ID, person.ID}, {winter.ID, person.ID},
			{summer.ID, byStaff.ID}, {winter.ID, byStaff.ID}, {summer.ID, stays.ID},
		} {
			if err := s.App.DB.RedeemDiscount(context.Background(), use.discount, use.user, s.now()); err != nil {
				t.Fatal(err)
			}
		}
		totals := func() map[string]int64 {
			var list struct{ Items []discountCode }
			s.must(200, req{method: "GET", path: "/api/v1/admin/discounts", token: admin}).JSON(t, &list)
			out := map[string]int64{}
			for _, d := range list.Items {
				out[d.ID] = d.Uses
			}
			return out
		}
		before := totals()
		if before[summer.ID] != 4 || before[winter.ID] != 2 {
			t.Fatalf("totals before erasure = %v", before)
		}
		usesOf := func(userID string) int {
			var n int
			if err := shopDB(t, s).QueryRow("SELECT COUNT(*) FROM discount_uses WHERE user_id = $1", userID).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}

		t.Run("the export lists the person's uses, and only theirs", func(t *testing.T) {
			var e struct {
				DiscountUses []struct {
					DiscountID string `json:"discount_id"`
					Uses       int64  `json:"uses"`
				} `json:"discount_uses"`
			}
			res := s.must(200, req{method: "GET", path: "/api/v1/me/export", token: token})
			res.JSON(t, &e)
			got := map[string]int64{}
			for _, u := range e.DiscountUses {
				got[u.DiscountID] = u.Uses
			}
			if len(e.DiscountUses) != 2 || got[summer.ID] != 2 || got[winter.ID] != 1 {
				t.Fatalf("the export's discount uses = %+v, want %s×2 and %s×1", e.DiscountUses, summer.ID, winter.ID)
			}
			// The code is the shop's, and staff may have changed it since:
			// the export must not hand out a code the person was never given.
			for _, code := range []string{"SUMMERSALE", "BLACKFRDAY"} {
				if strings.Contains(string(res.Body), code) {
					t.Errorf("the export holds the code %s", code)
				}
			}
		})

		t.Run("a person who used no code exports an empty list", func(t *testing.T) {
			s.register("du-none@example.com")
			body := string(s.must(200, req{method: "GET", path: "/api/v1/me/export", token: s.login("du-none@example.com", testPassword)}).Body)
			if !strings.Contains(body, `"discount_uses":[]`) {
				t.Fatalf("the export of a person without uses: %s", body)
			}
		})

		t.Run("erasure by the person deletes their uses and carts; the totals stay", func(t *testing.T) {
			// A cart with a code and a destination: it goes with the person.
			var c struct{ ID string }
			s.must(201, req{method: "POST", path: "/api/v1/carts", token: token}).JSON(t, &c)
			s.must(200, req{method: "PUT", path: "/api/v1/carts/" + c.ID + "/shipping", token: token,
				body: map[string]any{"address": map[string]string{"country": "US", "region": "NY"}}})
			s.must(204, req{method: "DELETE", path: "/api/v1/me", token: token, body: map[string]string{"password": testPassword}})
			if n := usesOf(person.ID); n != 0 {
				t.Fatalf("%d discount_uses rows still carry the erased id", n)
			}
			var carts int
			if err := shopDB(t, s).QueryRow("SELECT COUNT(*) FROM carts WHERE owner_id = $1", person.ID).Scan(&carts); err != nil {
				t.Fatal(err)
			}
			if carts != 0 {
				t.Fatalf("%d carts still belong to the erased id", carts)
			}
			if after := totals(); after[summer.ID] != before[summer.ID] || after[winter.ID] != before[winter.ID] {
				t.Fatalf("totals after erasure = %v, before %v", after, before)
			}
		})

		t.Run("erasure by staff deletes their uses too; others' stay", func(t *testing.T) {
			s.must(204, req{method: "DELETE", path: "/api/v1/admin/users/" + byStaff.ID, token: admin})
			if n := usesOf(byStaff.ID); n != 0 {
				t.Fatalf("%d discount_uses rows still carry the id erased by staff", n)
			}
			if n := usesOf(stays.ID); n != 1 {
				t.Fatalf("another customer's uses = %d rows, want 1", n)
			}
			if after := totals(); after[summer.ID] != before[summer.ID] || after[winter.ID] != before[winter.ID] {
				t.Fatalf("totals after erasure = %v, before %v", after, before)
			}
		})
	})
}
