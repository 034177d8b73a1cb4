package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/testenv"
)

func TestAPIKeys(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("keys-admin@example.com")
		expires := s.Clock.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
		var created struct {
			ID, Key string
		}
		s.must(201, req{method: "POST", path: "/api/v1/admin/api-keys", token: admin, body: map[string]any{
			"name": "ERP sync", "permissions": []string{"catalog:write"}, "expires_at": expires}}).JSON(t, &created)
		if !strings.HasPrefix(created.Key, "bwk_") || !strings.HasPrefix(created.ID, "key_") {
			t.Fatalf("created = %+v", created)
		}
		key := created.Key

		t.Run("the key does what its permissions allow, and nothing else", func(t *testing.T) {
			p := s.createProduct(key, "KEY-1", 3)
			s.must(200, req{method: "POST", path: "/api/v1/admin/products/" + p.ID + "/stock", token: key, body: map[string]any{"delta": 1, "reason": "erp"}})
			if res := s.do(req{method: "GET", path: "/api/v1/admin/orders", token: key}); res.Status != 403 {
				t.Fatalf("orders with a catalog key = %d", res.Status)
			}
			if res := s.do(req{method: "GET", path: "/api/v1/me", token: key}); res.Status != 403 {
				t.Fatalf("account routes with a key = %d", res.Status)
			}
			if res := s.do(req{method: "POST", path: "/api/v1/admin/api-keys", token: key, body: map[string]any{
				"name": "escalate", "permissions": []string{"catalog:write"}, "expires_at": expires}}); res.Status != 403 {
				t.Fatalf("a key making keys = %d", res.Status)
			}
		})

		t.Run("keys can carry neither sensitive permissions nor a long life", func(t *testing.T) {
			for _, body := range []map[string]any{
				{"name": "x", "permissions": []string{"roles:manage"}, "expires_at": expires},
				{"name": "x", "permissions": []string{"orders:refund"}, "expires_at": expires},
				{"name": "x", "permissions": []string{"everything"}, "expires_at": expires},
				{"name": "x", "permissions": []string{}, "expires_at": expires},
				{"name": "x", "permissions": []string{"catalog:write"}, "expires_at": s.Clock.Now().Add(-time.Hour).UTC().Format(time.RFC3339)},
				{"name": "x", "permissions": []string{"catalog:write"}, "expires_at": s.Clock.Now().Add(400 * 24 * time.Hour).UTC().Format(time.RFC3339)},
			} {
				if res := s.do(req{method: "POST", path: "/api/v1/admin/api-keys", token: admin, body: body}); res.Status != 422 {
					t.Fatalf("%v = %d %s", body, res.Status, res.Body)
				}
			}
		})

		t.Run("the key is shown once and kept only as a hash", func(t *testing.T) {
			res := s.must(200, req{method: "GET", path: "/api/v1/admin/api-keys", token: admin})
			if strings.Contains(string(res.Body), key) || !strings.Contains(string(res.Body), created.ID) || !strings.Contains(string(res.Body), "last_used_at") {
				t.Fatalf("list = %s", res.Body)
			}
			if strings.Contains(string(shopDump(t, s)), strings.TrimPrefix(key, "bwk_")) {
				t.Fatal("the database holds the key")
			}
		})

		t.Run("revoked and expired keys stop working", func(t *testing.T) {
			var other struct{ ID, Key string }
			s.must(201, req{method: "POST", path: "/api/v1/admin/api-keys", token: admin, body: map[string]any{
				"name": "short", "permissions": []string{"orders:read"}, "expires_at": s.Clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)}}).JSON(t, &other)
			s.must(200, req{method: "GET", path: "/api/v1/admin/orders", token: other.Key})
			s.must(204, req{method: "DELETE", path: "/api/v1/admin/api-keys/" + created.ID, token: admin})
			if res := s.do(req{method: "GET", path: "/api/v1/products", token: key}); res.Status != 200 {
				t.Fatalf("public route with a revoked key = %d: public routes ignore credentials", res.Status)
			}
			if res := s.do(req{method: "POST", path: "/api/v1/admin/products", token: key, body: map[string]any{}}); res.Status != 401 {
				t.Fatalf("revoked key = %d", res.Status)
			}
			s.Clock.Advance(2 * time.Hour)
			if res := s.do(req{method: "GET", path: "/api/v1/admin/orders", token: other.Key}); res.Status != 401 {
				t.Fatalf("expired key = %d", res.Status)
			}
		})

		t.Run("creation and revocation are audited", func(t *testing.T) {
			if s.countAudit("api_key.create") != 2 || s.countAudit("api_key.revoke") != 1 {
				t.Fatal("API key events missing from the audit trail")
			}
		})
	})
}
