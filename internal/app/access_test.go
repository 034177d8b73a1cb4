package app_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/httpapi"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// allowed says, for every route, which callers may use it, as API.md states it.
// It is written out by hand rather than derived from the route table, so a
// change of permission in the code fails this test until the spec agrees.
var allowed = map[string][]string{
	"GET /healthz":                                {"anonymous", "customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"GET /.well-known/security.txt":               {"anonymous", "customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"GET /robots.txt":                             {"anonymous", "customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"GET /api/v1/private/export":                  {"anonymous", "customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"GET /{$}":                                    {"anonymous", "customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"GET /readyz":                                 {"anonymous", "customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"GET /api/v1/openapi.json":                    {"anonymous", "customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"POST /api/v1/auth/register":                  {"anonymous", "customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"POST /api/v1/auth/login":                     {"anonymous", "customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"POST /api/v1/auth/verify-email":              {"anonymous", "customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"POST /api/v1/auth/logout":                    {"customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"GET /api/v1/auth/oidc/begin":                 {"anonymous", "customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"GET /api/v1/auth/oidc/callback":              {"anonymous", "customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"POST /api/v1/auth/mfa":                       {"anonymous", "customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"POST /api/v1/auth/mfa/passkey/begin":         {"anonymous", "customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"POST /api/v1/auth/passkey/begin":             {"anonymous", "customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"POST /api/v1/auth/passkey/finish":            {"anonymous", "customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"POST /api/v1/me/passkeys/begin":              signedIn,
	"GET /api/v1/me/passkeys":                     signedIn,
	"DELETE /api/v1/me/passkeys/{id}":             signedIn,
	"POST /api/v1/me/mfa/recovery-codes":          signedIn,
	"PATCH /api/v1/me":                            signedIn,
	"POST /api/v1/me/passkeys/finish":             signedIn,
	"POST /api/v1/auth/password-reset":            {"anonymous", "customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"POST /api/v1/auth/password-reset/confirm":    {"anonymous", "customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"GET /api/v1/me":                              {"customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"DELETE /api/v1/me":                           signedIn,
	"GET /api/v1/me/export":                       signedIn,
	"PUT /api/v1/me/password":                     signedIn,
	"GET /api/v1/me/sessions":                     signedIn,
	"DELETE /api/v1/me/sessions/{id}":             signedIn,
	"POST /api/v1/me/mfa/totp":                    signedIn,
	"POST /api/v1/me/mfa/totp/confirm":            signedIn,
	"DELETE /api/v1/me/mfa/totp":                  signedIn,
	"GET /api/v1/products":                        {"anonymous", "customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"GET /api/v1/products/{id}":                   {"anonymous", "customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"POST /api/v1/admin/products":                 {"catalog", "admin"},
	"PATCH /api/v1/admin/products/{id}":           {"catalog", "admin"},
	"POST /api/v1/admin/products/{id}/stock":      {"catalog", "admin"},
	"POST /api/v1/admin/users/{id}/roles":         {"admin"},
	"DELETE /api/v1/admin/users/{id}":             {"admin"},
	"POST /api/v1/admin/api-keys":                 {"admin"},
	"GET /api/v1/admin/api-keys":                  {"admin"},
	"DELETE /api/v1/admin/api-keys/{id}":          {"admin"},
	"GET /api/v1/admin/blocks":                    {"admin"},
	"DELETE /api/v1/admin/blocks/{id}":            {"admin"},
	"POST /api/v1/admin/blocks/{id}/lift":         {"admin"},
	"POST /api/v1/carts":                          signedIn,
	"GET /api/v1/carts/{id}":                      signedIn,
	"POST /api/v1/payment-methods":                signedIn,
	"GET /api/v1/payment-methods":                 signedIn,
	"DELETE /api/v1/payment-methods/{id}":         signedIn,
	"GET /api/v1/me/addresses":                    signedIn,
	"POST /api/v1/me/addresses":                   signedIn,
	"DELETE /api/v1/me/addresses/{id}":            signedIn,
	"POST /api/v1/checkout":                       signedIn,
	"GET /api/v1/orders":                          signedIn,
	"GET /api/v1/orders/{id}":                     signedIn,
	"GET /api/v1/admin/orders":                    {"support", "fulfillment", "admin"},
	"POST /api/v1/admin/orders/{id}/refund":       {"finance", "admin"},
	"POST /api/v1/payment-events/stripe":          {"anonymous", "customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"GET /api/v1/shipping-options":                {"anonymous", "customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"GET /api/v1/admin/tax-rates":                 {"catalog", "admin"},
	"POST /api/v1/admin/tax-rates":                {"catalog", "admin"},
	"PATCH /api/v1/admin/tax-rates/{id}":          {"catalog", "admin"},
	"DELETE /api/v1/admin/tax-rates/{id}":         {"catalog", "admin"},
	"GET /api/v1/admin/shipping-options":          {"catalog", "admin"},
	"POST /api/v1/admin/shipping-options":         {"catalog", "admin"},
	"PATCH /api/v1/admin/shipping-options/{id}":   {"catalog", "admin"},
	"DELETE /api/v1/admin/shipping-options/{id}":  {"catalog", "admin"},
	"GET /api/v1/admin/discounts":                 {"catalog", "admin"},
	"POST /api/v1/admin/discounts":                {"catalog", "admin"},
	"PATCH /api/v1/admin/discounts/{id}":          {"catalog", "admin"},
	"DELETE /api/v1/admin/discounts/{id}":         {"catalog", "admin"},
	"GET /api/v1/admin/products":                  {"catalog", "admin"},
	"GET /api/v1/admin/products/{id}":             {"catalog", "admin"},
	"POST /api/v1/admin/products/{id}/variants":   {"catalog", "admin"},
	"PATCH /api/v1/admin/variants/{id}":           {"catalog", "admin"},
	"POST /api/v1/admin/variants/{id}/stock":      {"catalog", "admin"},
	"GET /api/v1/categories":                      {"anonymous", "customer", "support", "catalog", "fulfillment", "finance", "admin"},
	"GET /api/v1/admin/categories":                {"catalog", "admin"},
	"POST /api/v1/admin/categories":               {"catalog", "admin"},
	"PATCH /api/v1/admin/categories/{id}":         {"catalog", "admin"},
	"DELETE /api/v1/admin/categories/{id}":        {"catalog", "admin"},
	"PUT /api/v1/carts/{id}/items/{item_id}":      signedIn,
	"PUT /api/v1/carts/{id}/discount":             signedIn,
	"DELETE /api/v1/carts/{id}/discount":          signedIn,
	"PUT /api/v1/carts/{id}/shipping":             signedIn,
	"GET /api/v1/admin/orders/{id}":               {"support", "fulfillment", "admin"},
	"POST /api/v1/admin/orders/{id}/capture":      {"finance", "admin"},
	"POST /api/v1/admin/orders/{id}/void":         {"finance", "admin"},
	"POST /api/v1/admin/orders/{id}/cancel":       {"finance", "admin"},
	"POST /api/v1/admin/orders/{id}/fulfillments": {"fulfillment", "admin"},
	"POST /api/v1/orders/{id}/returns":            signedIn,
	"POST /api/v1/admin/returns/{id}/accept":      {"finance", "admin"},
	"POST /api/v1/admin/returns/{id}/reject":      {"finance", "admin"},
	"POST /api/v1/admin/returns/{id}/receive":     {"finance", "admin"},
	// Guest checkout (issue 13): public routes, answering 404 while the
	// setting is off (as in this matrix); the cart token, not a role,
	// decides (guest_test.go).
	"POST /api/v1/guest/carts":               callers,
	"POST /api/v1/guest/carts/{id}/checkout": callers,
	"GET /api/v1/guest/orders/{id}":          callers,

	// Webhooks (issue 13): admins only.
	"POST /api/v1/admin/webhooks":                      {"admin"},
	"GET /api/v1/admin/webhooks":                       {"admin"},
	"DELETE /api/v1/admin/webhooks/{id}":               {"admin"},
	"POST /api/v1/admin/webhooks/{id}/rotate-secret":   {"admin"},
	"GET /api/v1/admin/webhooks/{id}/deliveries":       {"admin"},
	"POST /api/v1/admin/webhook-deliveries/{id}/retry": {"admin"},

	// Order mail templates (issue 13): admins only.
	"GET /api/v1/admin/mail-templates":           {"admin"},
	"PUT /api/v1/admin/mail-templates/{name}":    {"admin"},
	"DELETE /api/v1/admin/mail-templates/{name}": {"admin"},

	// Threat findings (issue 14): admins only (there is no security role).
	"GET /api/v1/admin/findings":                {"admin"},
	"GET /api/v1/admin/findings/{id}":           {"admin"},
	"POST /api/v1/admin/findings/{id}/resolve":  {"admin"},
	"POST /api/v1/admin/findings/{id}/suppress": {"admin"},

	// Fraud review (issue 14): finance and admin.
	"GET /api/v1/admin/reviews":               {"finance", "admin"},
	"POST /api/v1/admin/reviews/{id}/approve": {"finance", "admin"},
	"POST /api/v1/admin/reviews/{id}/reject":  {"finance", "admin"},
	"POST /api/v1/admin/orders/{id}/label":    {"finance", "admin"},
	// The audit log (issue 15): permission audit:read, admins only.
	"GET /api/v1/admin/audit":                     {"admin"},
	"GET /api/v1/admin/audit/checkpoint":          {"admin"},
	"GET /api/v1/admin/audit/records/{seq}/proof": {"admin"},
	"GET /api/v1/admin/audit/consistency":         {"admin"},
	"GET /api/v1/admin/posture":                   {"admin"},
	"GET /api/v1/admin/posture/history":           {"admin"},
	"GET /api/v1/admin/discovery":                 {"admin"},
	"GET /api/v1/admin/fim":                       {"admin"},
	"GET /api/v1/admin/backups":                   {"admin"},
	"GET /api/v1/admin/keys":                      {"admin"},
	"GET /api/v1/admin/staff":                     {"admin"},
	// Fraud rules (issue 14): admins only.
	"GET /api/v1/admin/fraud/rules":     {"admin"},
	"PUT /api/v1/admin/fraud/rules":     {"admin"},
	"POST /api/v1/admin/fraud/backtest": {"admin"},
}

// signedIn is every role: each account is a customer too, acting on its own data.
var signedIn = []string{"customer", "support", "catalog", "fulfillment", "finance", "admin"}

var callers = []string{"anonymous", "customer", "support", "catalog", "fulfillment", "finance", "admin"}

// TestRoleMatrix walks every route with every role and checks the answer:
// 401 for an anonymous caller where a session is needed, 403 for a role without
// the permission, and neither for a caller who holds it.
// It walks the routes outside /api/v1/admin/; TestRoleMatrixAdmin walks the
// rest, so that the two halves of the walk run on two of CI's workers.
func TestRoleMatrix(t *testing.T) {
	var routes []string
	for _, r := range httpapi.Routes() {
		routes = append(routes, r.Pattern)
		if _, ok := allowed[r.Pattern]; !ok {
			t.Errorf("route %s is not in the role matrix: add it with the roles API.md gives it", r.Pattern)
		}
	}
	for p := range allowed {
		if !slices.Contains(routes, p) {
			t.Errorf("the role matrix names %s, which the server does not route", p)
		}
	}
	if t.Failed() {
		return
	}
	walkRoleMatrix(t, matrixRoutes(false))
}

// TestRoleMatrixAdmin is TestRoleMatrix's walk over the staff routes, those
// under /api/v1/admin/.
func TestRoleMatrixAdmin(t *testing.T) {
	walkRoleMatrix(t, matrixRoutes(true))
}

// matrixRoutes returns the server's route patterns under /api/v1/admin/
// (admin true) or outside it, in the server's order.
func matrixRoutes(admin bool) []string {
	var routes []string
	for _, r := range httpapi.Routes() {
		_, path, _ := strings.Cut(r.Pattern, " ")
		if strings.HasPrefix(path, "/api/v1/admin/") == admin {
			routes = append(routes, r.Pattern)
		}
	}
	return routes
}

// walkRoleMatrix calls each of routes as every caller, on every engine, and
// checks each answer against the matrix.
func walkRoleMatrix(t *testing.T, routes []string) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("matrix-admin@example.com")
		prod := s.createProduct(admin, "MATRIX-1", 1000)
		target := s.register("matrix-target@example.com")
		var someCart struct{ ID string }
		s.must(201, req{method: "POST", path: "/api/v1/carts", token: admin}).JSON(t, &someCart)

		// One account per caller, used for route after route while its
		// session lives: making an account costs password hashes and, for
		// staff, an enrolment, and a fresh one per route made this the
		// slowest test of the suite. A route that ends the session (logout,
		// erasure, a role change) leaves the next route a new account.
		// Only a request other than a GET can end a session (any caller's,
		// to be safe): writes counts them, and a token is checked (GET /me)
		// only when one was sent since it was last known to work, which
		// spares the walk a request for most of its steps.
		tokens := map[string]string{}
		writes, aliveAt := 0, map[string]int{}
		n := 0
		for _, pattern := range routes {
			for _, caller := range callers {
				n++
				email := fmt.Sprintf("m-%s-%d@example.com", caller, n)
				t.Run(pattern+" as "+caller, func(t *testing.T) {
					token := tokens[caller]
					if token != "" && aliveAt[caller] != writes && s.do(req{method: "GET", path: "/api/v1/me", token: token}).Status != 200 {
						token = ""
					}
					switch {
					case caller == "anonymous" || token != "":
					case caller == "customer":
						s.register(email)
						token = s.login(email, testPassword)
					case caller == "admin":
						token = s.createAdmin(email)
					default:
						token = s.staff(admin, email, caller)
					}
					tokens[caller], aliveAt[caller] = token, writes
					method, path, _ := strings.Cut(pattern, " ")
					if method != "GET" {
						writes++
					}
					path = strings.NewReplacer("products/{id}", "products/"+prod.ID, "users/{id}", "users/"+target.ID,
						"carts/{id}", "carts/"+someCart.ID, "{item_id}", prod.ID,
						"variants/{id}", "variants/var_aaaaaaaaaaaaaaaaaaaaaaaaaa", "categories/{id}", "categories/cat_aaaaaaaaaaaaaaaaaaaaaaaaaa", "payment-methods/{id}", "payment-methods/pm_aaaaaaaaaaaaaaaaaaaaaaaaaa",
						"orders/{id}", "orders/ord_aaaaaaaaaaaaaaaaaaaaaaaaaa",
						"sessions/{id}", "sessions/ses_aaaaaaaaaaaaaaaaaaaaaaaaaa",
						"api-keys/{id}", "api-keys/key_aaaaaaaaaaaaaaaaaaaaaaaaaa", "{$}", "", "passkeys/{id}", "passkeys/AAAAAAAAAAAAAAAAAAAAAA",
						"tax-rates/{id}", "tax-rates/tax_aaaaaaaaaaaaaaaaaaaaaaaaaa", "shipping-options/{id}", "shipping-options/ship_aaaaaaaaaaaaaaaaaaaaaaaaaa",
						"discounts/{id}", "discounts/disc_aaaaaaaaaaaaaaaaaaaaaaaaaa", "returns/{id}", "returns/ret_aaaaaaaaaaaaaaaaaaaaaaaaaa",
						"webhooks/{id}", "webhooks/wh_aaaaaaaaaaaaaaaaaaaaaaaaaa", "webhook-deliveries/{id}", "webhook-deliveries/whd_aaaaaaaaaaaaaaaaaaaaaaaaaa",
						"mail-templates/{name}", "mail-templates/shipment", "findings/{id}", "findings/fnd_aaaaaaaaaaaaaaaaaaaaaaaaaa").Replace(path)
					from := s
					if pattern == "GET /api/v1/private/export" {
						// The bot trap blocks its caller: each caller comes from an address of its own.
						from = s.from(fmt.Sprintf("127.0.1.%d", n%250+1))
					}
					res := from.do(req{method: method, path: path, token: token, body: matrixBody(pattern)})
					ok := slices.Contains(allowed[pattern], caller)
					switch {
					case ok && (res.Status == 401 || res.Status == 403):
						t.Fatalf("%s may use %s but got %d %s", caller, pattern, res.Status, res.Body)
					case ok && res.Status >= 500:
						t.Fatalf("%s %s = %d %s", caller, pattern, res.Status, res.Body)
					case !ok && caller == "anonymous" && res.Status != 401:
						t.Fatalf("anonymous %s = %d, want 401", pattern, res.Status)
					case !ok && caller != "anonymous" && res.Status != 403:
						t.Fatalf("%s %s = %d, want 403 %s", caller, pattern, res.Status, res.Body)
					}
				})
			}
		}
	})
}

// matrixBody is a valid body for each route that takes one, so an allowed
// caller's request succeeds rather than failing validation.
func matrixBody(pattern string) any {
	switch pattern {
	case "POST /api/v1/auth/register":
		// The same email each time: every caller gets 202, and the address one mail.
		return map[string]string{"email": "matrix-register@example.com", "password": testPassword, "name": "R"}
	case "POST /api/v1/auth/login":
		return map[string]string{"email": "matrix-target@example.com", "password": testPassword}
	case "POST /api/v1/admin/products":
		return map[string]any{"sku": "", "name": "x", "price": map[string]any{"amount": 1, "currency": "EUR"}, "stock": 1}
	case "PATCH /api/v1/admin/products/{id}":
		return map[string]any{"description": "changed"}
	case "POST /api/v1/admin/products/{id}/stock":
		return map[string]any{"delta": 1, "reason": "matrix"}
	case "POST /api/v1/admin/users/{id}/roles":
		return map[string][]string{"roles": {"support"}}
	case "DELETE /api/v1/me":
		return map[string]string{"password": testPassword}
	case "PUT /api/v1/carts/{id}/items/{item_id}":
		return map[string]int{"quantity": 1}
	case "PUT /api/v1/carts/{id}/discount":
		return map[string]string{"code": "MATRIX"}
	case "PUT /api/v1/carts/{id}/shipping":
		return map[string]any{"address": map[string]string{"country": "DE"}}
	case "POST /api/v1/admin/webhooks":
		// No address literal (the WAF refuses URLs with one); whether the name
		// resolves or not (422), the permission check has passed.
		return map[string]any{"url": "https://hooks.invalid/matrix", "events": []string{"order.paid"}}
	case "POST /api/v1/payment-methods":
		return map[string]any{"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "holder": "Matrix"}
	case "PUT /api/v1/admin/mail-templates/{name}":
		return map[string]string{"subject": "Sent: {{.OrderNumber}}", "body": "Your order is on its way.\n"}
	case "POST /api/v1/me/addresses":
		return map[string]any{"address": address}
	}
	return nil
}
