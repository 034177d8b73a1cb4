package app_test

import (
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/testenv"
)

func TestStaffNeedMFA(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("mfa-admin@example.com")
		u := s.register("new-staff@example.com")
		code := s.grantRoles(admin, u.ID, "catalog")
		staff := s.login("new-staff@example.com", testPassword)
		body := map[string]any{"sku": "MFA-1", "name": "n", "price": map[string]any{"amount": 1, "currency": "EUR"}, "stock": 1}
		res := s.do(req{method: "POST", path: "/api/v1/admin/products", token: staff, body: body})
		if res.Status != 403 || res.Code(t) != "mfa_enrollment_required" {
			t.Fatalf("staff without MFA = %d %s", res.Status, res.Body)
		}
		s.must(200, req{method: "GET", path: "/api/v1/me", token: staff}) // their own account still works
		s.enableMFAWith(staff, code)
		s.must(201, req{method: "POST", path: "/api/v1/admin/products", token: staff, body: body})
	})
}

func TestStepUp(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("stepup-admin@example.com")
		u := s.register("stepup-target@example.com")
		roles := req{method: "POST", path: "/api/v1/admin/users/" + u.ID + "/roles", token: admin, body: map[string][]string{"roles": {"support"}}}

		s.Clock.Advance(6 * time.Minute) // the session lives on (staff idle limit is 15 minutes), the login is old
		s.must(200, req{method: "GET", path: "/api/v1/me", token: admin})
		if res := s.do(roles); res.Status != 401 || res.Code(t) != "reauthentication_required" {
			t.Fatalf("role change six minutes after login = %d %s", res.Status, res.Body)
		}
		p := s.createProduct(admin, "STEP-1", 5) // ordinary staff work needs no fresh login
		sh := s.shopper("stepup-buyer@example.com", "4242424242424242")
		var o orderJSON
		s.checkout(sh, "step", s.cartWith(sh, 1, p.ID), "123").JSON(t, &o)
		refund := req{method: "POST", path: "/api/v1/admin/orders/" + o.ID + "/refund", token: admin, header: map[string]string{"Idempotency-Key": "step"}, body: map[string]any{}}
		if res := s.do(refund); res.Status != 401 || res.Code(t) != "reauthentication_required" {
			t.Fatalf("refund six minutes after login = %d %s", res.Status, res.Body)
		}

		fresh := s.loginWithMFA("stepup-admin@example.com", s.secrets["stepup-admin@example.com"])
		roles.token, refund.token = fresh, fresh
		s.must(200, roles)
		s.must(200, refund)
	})
}
