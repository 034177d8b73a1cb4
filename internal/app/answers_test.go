package app_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// TestRootPointsAtTheAPIDocument: GET / used to answer a bare 404; a newcomer
// who opens the server's address now learns where the API is described.
func TestRootPointsAtTheAPIDocument(t *testing.T) {
	s := startServer(t, testenv.Databases(t)[0])
	var root struct{ OpenAPI, Health, Docs string }
	s.must(200, req{method: "GET", path: "/"}).JSON(t, &root)
	if root.OpenAPI != "/api/v1/openapi.json" || root.Health != "/healthz" || !strings.Contains(root.Docs, "docs/API.md") {
		t.Fatalf("GET / = %+v", root)
	}
	s.must(200, req{method: "GET", path: root.OpenAPI})
	// Only the exact root: other unknown paths still answer 404.
	if res := s.do(req{method: "GET", path: "/nothing-here"}); res.Status != 404 || res.Code(t) != "not_found" {
		t.Fatalf("GET /nothing-here = %d %s", res.Status, res.Body)
	}
}

// timestampShape is the one format of a time in an answer: RFC 3339, UTC, milliseconds.
var timestampShape = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// TestTimestampsHaveOneFormat: create answers gave nanoseconds (the time in
// memory) and reads microseconds (the database's), so the same record's
// created_at differed between the two. Both now give the same string.
func TestTimestampsHaveOneFormat(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("time-admin@example.com")
		var created, read struct {
			ID        string `json:"id"`
			CreatedAt string `json:"created_at"`
			UpdatedAt string `json:"updated_at"`
		}
		s.must(201, req{method: "POST", path: "/api/v1/admin/products", token: admin,
			body: map[string]any{"sku": "TIME-1", "name": "Clock", "description": "", "price": map[string]any{"amount": 100, "currency": "EUR"}, "stock": 1}}).JSON(t, &created)
		s.must(200, req{method: "GET", path: "/api/v1/products/" + created.ID}).JSON(t, &read)
		if created.CreatedAt != read.CreatedAt || created.UpdatedAt != read.UpdatedAt {
			t.Fatalf("create said %+v, read says %+v", created, read)
		}
		var reg struct {
			User struct {
				CreatedAt string `json:"created_at"`
			} `json:"user"`
		}
		s.must(202, req{method: "POST", path: "/api/v1/auth/register",
			body: map[string]string{"email": "time@example.com", "password": testPassword, "name": "T"}})
		s.must(200, req{method: "POST", path: "/api/v1/auth/verify-email",
			body: map[string]string{"token": s.takeVerification("time@example.com")}}).JSON(t, &reg)
		var login struct {
			ExpiresAt string `json:"expires_at"`
			User      struct {
				CreatedAt string `json:"created_at"`
			} `json:"user"`
		}
		s.must(200, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "time@example.com", "password": testPassword}}).JSON(t, &login)
		if reg.User.CreatedAt != login.User.CreatedAt {
			t.Fatalf("registration said created_at %s, login says %s", reg.User.CreatedAt, login.User.CreatedAt)
		}
		for _, ts := range []string{created.CreatedAt, created.UpdatedAt, reg.User.CreatedAt, login.ExpiresAt} {
			if !timestampShape.MatchString(ts) {
				t.Fatalf("timestamp %q is not RFC 3339 UTC with milliseconds", ts)
			}
		}
	})
}

// TestStartupLogKeepsCounts: the retention purge at start-up logged
// "sessions":"[REDACTED]", as if a count were a secret.
func TestStartupLogKeepsCounts(t *testing.T) {
	s := startServer(t, testenv.Databases(t)[0])
	var line string
	waitFor(t, "the start-up retention purge in the log", func() bool {
		for _, l := range strings.Split(s.Logs.String(), "\n") {
			if strings.Contains(l, `"msg":"retention purge"`) {
				line = l
			}
		}
		return line != ""
	})
	if strings.Contains(line, "REDACTED") || !regexp.MustCompile(`"sessions":\d+`).MatchString(line) {
		t.Fatalf("the purge's counts are hidden: %s", line)
	}
}
