package app_test

import (
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
		}
		res := s.must(200, req{method: "GET", path: "/api/v1/me/export", token: sh.token})
		res.JSON(t, &e)
		body := string(res.Body)
		if e.Format != "bulwark-export/1" || e.Account.Email != "exported@example.com" || len(e.Sessions) != 1 ||
			len(e.PaymentMethods) != 1 || e.PaymentMethods[0].Last4 != "4444" || len(e.Orders) != 1 ||
			e.Orders[0].ShippingAddress.Line1 != "1 Main St" || len(e.Addresses) != 1 {
			t.Fatalf("export = %+v", e)
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
