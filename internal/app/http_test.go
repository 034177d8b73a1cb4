package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/httpapi"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

func TestResponseConventions(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		s.register("conv@example.com")
		token := s.login("conv@example.com", testPassword)
		cases := []struct {
			name   string
			r      req
			status int
		}{
			{"health", req{method: "GET", path: "/healthz"}, 200},
			{"ready", req{method: "GET", path: "/readyz"}, 200},
			{"public list", req{method: "GET", path: "/api/v1/products"}, 200},
			{"authenticated", req{method: "GET", path: "/api/v1/me", token: token}, 200},
			{"no content", req{method: "POST", path: "/api/v1/auth/logout", token: token}, 204},
			{"unauthenticated", req{method: "GET", path: "/api/v1/me"}, 401},
			{"unknown path", req{method: "GET", path: "/api/v1/nothing-here"}, 404},
			{"wrong method", req{method: "DELETE", path: "/api/v1/products"}, 405},
			{"openapi", req{method: "GET", path: "/api/v1/openapi.json"}, 200},
		}
		ids := map[string]bool{}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				res := s.must(c.status, c.r)
				ct := res.Header.Get("Content-Type")
				if !strings.Contains(ct, "charset=utf-8") {
					t.Errorf("Content-Type %q has no charset", ct)
				}
				if c.status >= 400 && !strings.HasPrefix(ct, "application/problem+json") {
					t.Errorf("error Content-Type %q, want problem+json", ct)
				}
				id := res.Header.Get("X-Request-Id")
				if !strings.HasPrefix(id, "req_") || len(id) != 30 || ids[id] {
					t.Errorf("X-Request-Id %q missing or repeated", id)
				}
				ids[id] = true
				for h, want := range map[string]string{
					"X-Content-Type-Options":  "nosniff",
					"X-Frame-Options":         "DENY",
					"Referrer-Policy":         "no-referrer",
					"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
				} {
					if got := res.Header.Get(h); got != want {
						t.Errorf("%s = %q, want %q", h, got, want)
					}
				}
				checkIsolation(t, res) // edge_test.go: COOP, CORP, Permissions-Policy
				if c.r.token != "" && res.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("authenticated response Cache-Control = %q", res.Header.Get("Cache-Control"))
				}
				if c.status >= 400 {
					var p map[string]any
					res.JSON(t, &p)
					for _, k := range []string{"type", "title", "status", "code", "request_id"} {
						if _, ok := p[k]; !ok {
							t.Errorf("problem lacks %q: %s", k, res.Body)
						}
					}
					if p["request_id"] != id {
						t.Errorf("problem request_id %v != header %s", p["request_id"], id)
					}
				}
			})
		}
		if got := s.do(req{method: "DELETE", path: "/api/v1/products"}).Header.Get("Allow"); !strings.Contains(got, "GET") {
			t.Errorf("405 Allow = %q", got)
		}
	})
}

// TestInternalErrorsRevealNothing breaks the database under a running server and
// checks the 500 names only a request id, which the log has with the cause.
func TestInternalErrorsRevealNothing(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		s.App.DB.Close()
		res := s.do(req{method: "POST", path: "/api/v1/auth/register", body: map[string]string{"email": "e@example.com", "password": testPassword, "name": "E"}})
		if res.Status != 500 || res.Code(t) != "internal_error" {
			t.Fatalf("= %d %s", res.Status, res.Body)
		}
		// The request id is random letters and digits, so it may spell a
		// word of the list by chance ("req_b2qsql3..."): it is checked apart.
		id := res.Header.Get("X-Request-Id")
		if !strings.Contains(string(res.Body), `"request_id":"`+id+`"`) {
			t.Fatalf("the 500 body does not name its request id %s: %s", id, res.Body)
		}
		body := strings.ToLower(strings.Replace(string(res.Body), id, "", 1))
		for _, leak := range []string{"sql", "database", "closed", "insert", "users", ".go", "goroutine", "pgx", "sqlite", "/"} {
			if strings.Contains(strings.TrimPrefix(body, `{"type":"urn:bulwark:problem:internal_error"`), leak) {
				t.Errorf("500 body mentions %q: %s", leak, res.Body)
			}
		}
		var logged bool
		for _, line := range strings.Split(s.Logs.String(), "\n") {
			logged = logged || (strings.Contains(line, `"msg":"request failed"`) && strings.Contains(line, id) && strings.Contains(line, "closed"))
		}
		if !logged {
			t.Errorf("no log line names the request id %s with the cause:\n%s", id, s.Logs.String())
		}
	})
}

func TestMetricsOnlyOnTheirOwnListener(t *testing.T) {
	s := startServer(t, testenv.Databases(t)[0])
	s.must(200, req{method: "GET", path: "/healthz"})
	if res := s.do(req{method: "GET", path: "/metrics"}); res.Status != 404 {
		t.Fatalf("/metrics on the API listener = %d, want 404", res.Status)
	}
	res, err := http.Get(s.MetricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(b), `bulwark_http_requests_total{method="GET",route="GET /healthz",status="200"} 1`) {
		t.Fatalf("metrics = %d\n%s", res.StatusCode, b)
	}
	// Both in-memory counter stores tell the operator when they forgive.
	for _, use := range []string{"detection", "fraud scoring"} {
		if line := `bulwark_memory_counters_evicted_total{use="` + use + `"} 0`; !strings.Contains(string(b), line) {
			t.Errorf("no %s in the metrics", line)
		}
	}
	if !config.IsLoopback(strings.TrimPrefix(s.MetricsURL, "http://")) || config.Defaults().MetricsListen != "127.0.0.1:9090" {
		t.Fatalf("metrics listen %s / default %s is not loopback", s.MetricsURL, config.Defaults().MetricsListen)
	}
}

func TestOpenAPIDocumentMatchesRoutes(t *testing.T) {
	s := startServer(t, testenv.Databases(t)[0])
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	s.must(200, req{method: "GET", path: "/api/v1/openapi.json"}).JSON(t, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if slices.Contains([]string{"get", "post", "put", "patch", "delete"}, method) {
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	var routed []string
	for _, r := range httpapi.Routes() {
		if r.Unlisted {
			// Left out by design (the bot trap): a client or scanner walking
			// the document must never be led to it.
			if slices.Contains(documented, r.Pattern) {
				t.Errorf("unlisted route %s is in the OpenAPI document", r.Pattern)
			}
			continue
		}
		// "GET /{$}" is ServeMux's exact "/", the document's "/".
		routed = append(routed, strings.TrimSuffix(r.Pattern, "{$}"))
	}
	for _, r := range routed {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is missing from the OpenAPI document", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routed, d) {
			t.Errorf("the OpenAPI document names %s, which the server does not route", d)
		}
	}
}

// TestCrossOriginWritesRefused forges a browser's cross-site request carrying
// the session cookie and checks it is refused, while bearer clients and
// same-origin browsers go through.
func TestCrossOriginWritesRefused(t *testing.T) {
	s := startServer(t, testenv.Databases(t)[0])
	s.register("csrf@example.com")
	token := s.login("csrf@example.com", testPassword)
	cookie := map[string]string{"Cookie": "__Host-bulwark_session=" + token}
	with := func(extra map[string]string) map[string]string {
		h := map[string]string{}
		for k, v := range cookie {
			h[k] = v
		}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	for name, h := range map[string]map[string]string{
		"cross-site fetch":     {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
		"same-site subdomain":  {"Sec-Fetch-Site": "same-site", "Origin": "https://evil.shop.example"},
		"old browser, Origin":  {"Origin": "https://evil.example"},
		"null origin (iframe)": {"Origin": "null"},
	} {
		t.Run(name, func(t *testing.T) {
			res := s.do(req{method: "POST", path: "/api/v1/auth/logout", header: with(h)})
			if res.Status != 403 || res.Code(t) != "cross_origin_rejected" {
				t.Fatalf("= %d %s", res.Status, res.Body)
			}
			login := s.do(req{method: "POST", path: "/api/v1/auth/login", header: h, body: map[string]string{"email": "csrf@example.com", "password": testPassword}})
			if login.Status != 403 {
				t.Fatalf("cross-site login = %d, want 403 (login CSRF)", login.Status)
			}
		})
	}
	s.must(200, req{method: "GET", path: "/api/v1/me", header: with(map[string]string{"Sec-Fetch-Site": "cross-site"})})
	s.must(200, req{method: "GET", path: "/api/v1/me", token: token, header: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://storefront.example"}})
	s.must(204, req{method: "POST", path: "/api/v1/auth/logout", header: with(map[string]string{"Sec-Fetch-Site": "same-origin"})})
}

// TestCrossSiteStaffReadsRefused: a third-party page that navigates a staff
// member's browser to a staff route (the Lax session cookie rides along)
// gets nothing run, the costly file integrity check included; the staff's
// own pages, bearer clients and a customer's cross-site link still work.
func TestCrossSiteStaffReadsRefused(t *testing.T) {
	s := startServer(t, testenv.Databases(t)[0])
	admin := s.createAdmin("xsite-admin@example.com")
	cookie := "__Host-bulwark_session=" + admin
	for _, path := range []string{"/api/v1/admin/fim", "/api/v1/admin/posture", "/api/v1/admin/backups", "/api/v1/admin/orders", "/api/v1/admin/audit"} {
		res := s.do(req{method: "GET", path: path, header: map[string]string{"Cookie": cookie, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}})
		if res.Status != 403 || res.Code(t) != "cross_origin_rejected" {
			t.Errorf("cross-site navigation to %s = %d %s", path, res.Status, res.Body)
		}
		s.must(200, req{method: "GET", path: path, header: map[string]string{"Cookie": cookie, "Sec-Fetch-Site": "same-origin"}})
		s.must(200, req{method: "GET", path: path, token: admin, header: map[string]string{"Sec-Fetch-Site": "cross-site"}})
	}
	s.register("xsite@example.com")
	customer := s.login("xsite@example.com", testPassword)
	s.must(200, req{method: "GET", path: "/api/v1/me", header: map[string]string{"Cookie": "__Host-bulwark_session=" + customer, "Sec-Fetch-Site": "cross-site"}})
}

func TestLogsHoldNoSecrets(t *testing.T) {
	s := startServer(t, testenv.Databases(t)[0])
	secretPassword := "my very secret passphrase 4111"
	s.registerAs("logs@example.com", secretPassword, "4111 1111 1111 1111")
	token := s.login("logs@example.com", secretPassword)
	s.do(req{method: "GET", path: "/api/v1/me", token: token})
	s.do(req{method: "GET", path: "/api/v1/me", token: "bws_forgedforgedforgedforgedforgedforged"})
	s.do(req{method: "GET", path: "/api/v1/products?q=4111111111111111", header: map[string]string{"Cookie": "__Host-bulwark_session=" + token}})
	s.App.DB.Close() // force an error path that logs the failure
	s.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "logs@example.com", "password": secretPassword}})
	logs := s.Logs.String()
	if !strings.Contains(logs, `"msg":"request failed"`) {
		t.Fatalf("the error path did not log; the test proves nothing:\n%s", logs)
	}
	for _, secret := range []string{secretPassword, token, strings.TrimPrefix(token, "bws_"), "4111111111111111", "4111 1111 1111 1111", "bws_forged"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
}

// TestReadinessChecksRedis: Redis down leaves the instance ready (it serves
// safely without: docs/OPERATIONS.md, "Without Redis"), or a Redis outage
// would take every instance out of the pool at once; /readyz still names it.
func TestReadinessChecksRedis(t *testing.T) {
	db := testenv.Databases(t)[0]
	t.Run("ready with Redis up", func(t *testing.T) {
		s := startServer(t, db, func(c *config.Config) { c.RedisURL = testenv.RedisURL(t) })
		var body struct{ Dependencies map[string]string }
		s.must(200, req{method: "GET", path: "/readyz"}).JSON(t, &body)
		if body.Dependencies["redis"] != "up" {
			t.Fatalf("readyz dependencies = %v", body.Dependencies)
		}
	})
	t.Run("ready but degraded with Redis down", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens there now
		s := startServer(t, testenv.Database{Engine: "sqlite", DataDir: t.TempDir()}, func(c *config.Config) { c.RedisURL = "redis://" + addr })
		var body struct {
			Status       string
			Dependencies map[string]string
		}
		s.must(200, req{method: "GET", path: "/readyz"}).JSON(t, &body)
		want := map[string]string{"database": "up", "disk": "up", "vault": "up", "redis": "down"}
		if body.Status != "ready" || fmt.Sprint(body.Dependencies) != fmt.Sprint(want) {
			t.Fatalf("readyz = %+v, want ready with %v", body, want)
		}
		s.must(200, req{method: "GET", path: "/healthz"})
	})
}
