package app_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/testenv"
	"github.com/bulwark-shop/bulwark/internal/vaultapi"
)

// isolationHeaders are on every response, next to the baseline of TestResponseConventions.
var isolationHeaders = map[string]string{
	"Content-Security-Policy":      "default-src 'none'; frame-ancestors 'none'",
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
}

func checkIsolation(t *testing.T, res response) {
	t.Helper()
	for h, want := range isolationHeaders {
		if got := res.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	pp := res.Header.Get("Permissions-Policy")
	for _, f := range []string{"camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"} {
		if !strings.Contains(pp, f) {
			t.Errorf("Permissions-Policy %q does not deny %s", pp, f)
		}
	}
}

func TestEdgeHeaders(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		const shop = "https://shop.example.com"
		s := startServer(t, db, func(c *config.Config) {
			c.CORSOrigins = shop
			c.SecurityContact = "mailto:security@example.com"
			c.SecurityPolicy = "https://example.com/disclosure"
		})
		token := s.login(s.register("edge-h@example.com").Email, testPassword)

		t.Run("isolation headers on success, error and unknown paths; no HSTS over plain HTTP", func(t *testing.T) {
			for _, r := range []req{{method: "GET", path: "/healthz"}, {method: "GET", path: "/api/v1/me"},
				{method: "GET", path: "/nothing"}, {method: "GET", path: "/api/v1/me", token: token}} {
				res := s.do(r)
				checkIsolation(t, res)
				if h := res.Header.Get("Strict-Transport-Security"); h != "" {
					t.Errorf("%s: HSTS %q over plain HTTP", r.path, h)
				}
			}
		})

		t.Run("a preflight from an allowed origin is answered", func(t *testing.T) {
			res := s.must(204, req{method: "OPTIONS", path: "/api/v1/carts", header: map[string]string{
				"Origin": shop, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}})
			for h, want := range map[string]string{
				"Access-Control-Allow-Origin":      shop,
				"Access-Control-Allow-Credentials": "true",
			} {
				if got := res.Header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			if m := res.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "POST") {
				t.Errorf("Allow-Methods %q", m)
			}
			if m := res.Header.Get("Access-Control-Allow-Headers"); !strings.Contains(m, "Content-Type") {
				t.Errorf("Allow-Headers %q", m)
			}
		})

		t.Run("an allowed origin's browser may write with its cookie", func(t *testing.T) {
			res := s.do(req{method: "POST", path: "/api/v1/carts", header: map[string]string{
				"Origin": shop, "Sec-Fetch-Site": "cross-site", "Cookie": "__Host-bulwark_session=" + token}})
			if res.Status != 201 {
				t.Fatalf("cross-origin write from the allowed origin = %d %s", res.Status, res.Body)
			}
			if res.Header.Get("Access-Control-Allow-Origin") != shop {
				t.Errorf("no Allow-Origin on the actual request")
			}
		})

		t.Run("any other origin gets no CORS header at all", func(t *testing.T) {
			for _, r := range []req{
				{method: "OPTIONS", path: "/api/v1/carts", header: map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}},
				{method: "GET", path: "/api/v1/products", header: map[string]string{"Origin": "https://evil.example"}},
				{method: "GET", path: "/api/v1/products", header: map[string]string{"Origin": "https://shop.example.com.evil.example"}},
			} {
				res := s.do(r)
				for h := range res.Header {
					if strings.HasPrefix(h, "Access-Control-") {
						t.Errorf("%s %s from %s: %s present", r.method, r.path, r.header["Origin"], h)
					}
				}
				if r.method == "OPTIONS" && res.Status < 400 {
					t.Errorf("preflight from another origin = %d", res.Status)
				}
			}
		})

		t.Run("security.txt names the contact, the policy and an expiry a year ahead", func(t *testing.T) {
			res := s.must(200, req{method: "GET", path: "/.well-known/security.txt"})
			body := string(res.Body)
			for _, want := range []string{"Contact: mailto:security@example.com\n", "Policy: https://example.com/disclosure\n"} {
				if !strings.Contains(body, want) {
					t.Errorf("security.txt lacks %q:\n%s", want, body)
				}
			}
			_, exp, _ := strings.Cut(body, "Expires: ")
			exp, _, _ = strings.Cut(exp, "\n")
			when, err := time.Parse(time.RFC3339, exp)
			if err != nil || when.Sub(s.Clock.Now()) < 364*24*time.Hour || when.Sub(s.Clock.Now()) > 366*24*time.Hour {
				t.Errorf("Expires %q (%v), want one year ahead", exp, err)
			}
			if ct := res.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	})
}

func TestEdgeNoCORSAndNoSecurityTxtByDefault(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		if s.must(404, req{method: "GET", path: "/.well-known/security.txt"}).Code(t) != "not_found" {
			t.Error("security.txt without a contact is not a plain 404")
		}
		res := s.do(req{method: "OPTIONS", path: "/api/v1/products", header: map[string]string{
			"Origin": "http://localhost:8080", "Access-Control-Request-Method": "GET"}})
		for h := range res.Header {
			if strings.HasPrefix(h, "Access-Control-") {
				t.Errorf("CORS header %s without an allow list", h)
			}
		}
	})
}

// TestHSTSOverTLS serves the API over TLS (the vault's test certificates are
// for loopback) and checks Strict-Transport-Security.
func TestHSTSOverTLS(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		certs := filepath.Join(t.TempDir(), "certs")
		if code, out, errOut := runCLI(t, config.Config{}, "", "vault", "certs", "--dir", certs); code != 0 {
			t.Fatalf("vault certs exited %d: %s %s", code, out, errOut)
		}
		s := startServer(t, db, func(c *config.Config) {
			c.TLSCert = filepath.Join(certs, vaultapi.ServerCertFile)
			c.TLSKey = filepath.Join(certs, vaultapi.ServerKeyFile)
		})
		ca, err := os.ReadFile(filepath.Join(certs, vaultapi.CAFile))
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		res, err := client.Get(strings.Replace(s.URL, "http://", "https://", 1) + "/healthz")
		if err != nil {
			t.Fatalf("GET over TLS: %v", err)
		}
		res.Body.Close()
		if got := res.Header.Get("Strict-Transport-Security"); got != "max-age=31536000; includeSubDomains" {
			t.Errorf("HSTS = %q", got)
		}
	})
}

// mustBlocked checks the edge's refusal: 403 request_blocked carrying the request id.
func mustBlocked(t *testing.T, res response) {
	t.Helper()
	if res.Status != 403 || res.Code(t) != "request_blocked" {
		t.Fatalf("= %d %s, want 403 request_blocked", res.Status, res.Body)
	}
	var p struct {
		RequestID string `json:"request_id"`
	}
	res.JSON(t, &p)
	if p.RequestID == "" || p.RequestID != res.Header.Get("X-Request-Id") {
		t.Errorf("request id %q, header %q", p.RequestID, res.Header.Get("X-Request-Id"))
	}
	checkIsolation(t, res)
}

func TestIPLists(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		products := req{method: "GET", path: "/api/v1/products"}

		t.Run("a denied address is refused everywhere, others get in", func(t *testing.T) {
			s := startServer(t, db, func(c *config.Config) { c.IPDeny = "10.0.0.0/8, 127.0.0.2" })
			mustBlocked(t, s.from("127.0.0.2").do(products))
			mustBlocked(t, s.from("127.0.0.2").do(req{method: "GET", path: "/healthz"}))
			s.must(200, products)
		})

		t.Run("with an allow list only its addresses get in", func(t *testing.T) {
			s := startServer(t, db, func(c *config.Config) { c.IPAllow = "127.0.0.1/32,::1" })
			s.must(200, products)
			mustBlocked(t, s.from("127.0.0.2").do(products))
		})

		t.Run("the admin allow list guards admin routes only", func(t *testing.T) {
			s := startServer(t, db, func(c *config.Config) { c.AdminIPAllow = "127.0.0.1" })
			admin := s.createAdmin("edge-admin@example.com")
			other := s.from("127.0.0.2")
			list := req{method: "GET", path: "/api/v1/admin/orders", token: admin}
			s.must(200, list)
			mustBlocked(t, other.do(list))
			mustBlocked(t, other.do(req{method: "GET", path: "/api/v1//admin/orders", token: admin}))
			mustBlocked(t, other.do(req{method: "GET", path: "/api/v1/products/../admin/orders", token: admin}))
			other.must(200, products)
			other.must(200, req{method: "GET", path: "/api/v1/me", token: admin})
		})

		t.Run("a dynamic block refuses the address until it expires", func(t *testing.T) {
			s := startServer(t, db)
			if err := s.App.Edge.Block(context.Background(), "127.0.0.2", time.Hour); err != nil {
				t.Fatal(err)
			}
			mustBlocked(t, s.from("127.0.0.2").do(products))
			s.must(200, products)
			s.Clock.Advance(59 * time.Minute)
			mustBlocked(t, s.from("127.0.0.2").do(products))
			s.Clock.Advance(time.Minute)
			s.from("127.0.0.2").must(200, products)
		})
	})
}

// TestDynamicBlockSharedThroughRedis blocks an address on one instance and
// finds it blocked on another that shares the Redis server.
func TestDynamicBlockSharedThroughRedis(t *testing.T) {
	url := testenv.RedisURL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "test:" + hex.EncodeToString(b[:]) + ":"
	withRedis := func(c *config.Config) { c.RedisURL, c.RedisKeyPrefix = url, prefix }
	one := startServer(t, testenv.Database{Engine: "sqlite", DataDir: t.TempDir()}, withRedis)
	two := startServer(t, testenv.Database{Engine: "sqlite", DataDir: t.TempDir()}, withRedis)
	products := req{method: "GET", path: "/api/v1/products"}
	if err := one.App.Edge.Block(context.Background(), "127.0.0.2", time.Hour); err != nil {
		t.Fatal(err)
	}
	mustBlocked(t, two.from("127.0.0.2").do(products))
	two.must(200, products)
	two.Clock.Advance(time.Hour)
	two.from("127.0.0.2").must(200, products)
}

func auditActions(t *testing.T, s *server) []audit.Record {
	t.Helper()
	var recs []audit.Record
	if _, err := s.App.DB.ScanAudit(context.Background(), func(r audit.Record) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestBotTraps(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		// The loopback is never blocked, so the bot comes through a trusted
		// proxy on 127.0.0.1 that names a public address.
		s := startServer(t, db, func(c *config.Config) { c.BotBlock = 2 * time.Hour; c.TrustedProxies = "127.0.0.1/32" })
		products := req{method: "GET", path: "/api/v1/products"}

		t.Run("robots.txt disallows the API, and so the trap, without naming it", func(t *testing.T) {
			res := s.must(200, req{method: "GET", path: "/robots.txt"})
			if !strings.Contains(string(res.Body), "Disallow: /api/\n") || strings.Contains(string(res.Body), edge.TrapPath) || !strings.HasPrefix(string(res.Body), "User-agent: *\n") {
				t.Errorf("robots.txt:\n%s", res.Body)
			}
			if ct := res.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
		})

		t.Run("the trap blocks its caller for bot-block, audited, then lets it back", func(t *testing.T) {
			xff := map[string]string{"X-Forwarded-For": "203.0.113.2"}
			if s.must(404, req{method: "GET", path: edge.TrapPath, header: xff}).Code(t) != "not_found" {
				t.Error("the trap does not look like an unknown path")
			}
			mustBlocked(t, s.do(req{method: "GET", path: "/api/v1/products", header: xff}))
			s.must(200, products)
			var found bool
			for _, r := range auditActions(t, s) {
				if r.Action == edge.ActionBotTrap && r.Target == "203.0.113.2" && r.IP == "203.0.113.2" {
					found = true
				}
			}
			if !found {
				t.Error("no edge.bot_trap audit record for 203.0.113.2")
			}
			s.Clock.Advance(2*time.Hour - time.Second)
			mustBlocked(t, s.do(req{method: "GET", path: "/api/v1/products", header: xff}))
			s.Clock.Advance(time.Second)
			s.must(200, req{method: "GET", path: "/api/v1/products", header: xff})
		})

		t.Run("a filled honeypot looks like a success and creates nothing", func(t *testing.T) {
			before := len(auditActions(t, s))
			res := s.must(202, req{method: "POST", path: "/api/v1/auth/register", body: map[string]string{
				"email": "Bot@Example.com", "password": testPassword, "name": "Bot", "website": "http://spam.example"}})
			if strings.TrimSpace(string(res.Body)) != `{"status":"verification_sent"}` {
				t.Errorf("honeypot answer %s is not a registration's", res.Body)
			}
			if r := s.tryLogin("bot@example.com", testPassword); r.Status != 401 {
				t.Errorf("login with the bot's account = %d, want 401: no account was made", r.Status)
			}
			// The failed login above is audited; nothing else may be.
			for _, r := range auditActions(t, s)[before:] {
				if r.Action != audit.ActionLogin {
					t.Errorf("the honeypot registration left audit record %s %s", r.Action, r.Outcome)
				}
			}
			// A person (empty field) registers normally with the same email.
			s.registerAs("bot@example.com", testPassword, "Person")
			s.must(200, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "bot@example.com", "password": testPassword}})
		})
	})
}

// A load balancer's plain health check (HTTP/1.0, no Host header, which the
// firewall's rules refuse elsewhere) is answered: the probes are served
// ahead of the firewall, so a balancer configured the simple way does not
// take every instance out, nor count as probing the shop.
func TestHealthProbesAheadOfTheFirewall(t *testing.T) {
	s := startServer(t, testenv.Databases(t)[0])
	addr := strings.TrimPrefix(s.URL, "http://")
	raw := func(request string) string {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write([]byte(request)); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(line)
	}
	for _, path := range []string{"/readyz", "/healthz"} {
		if got := raw("GET " + path + " HTTP/1.0\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.0 200") {
			t.Errorf("HTTP/1.0 check of %s without Host: %q", path, got)
		}
	}
	// Anything else without a Host still meets the firewall.
	if got := raw("GET /api/v1/products HTTP/1.0\r\n\r\n"); strings.HasPrefix(got, "HTTP/1.0 200") {
		t.Errorf("a product read without Host went past the firewall: %q", got)
	}
	if got := raw("GET /readyz?x=%27%20OR%201=1-- HTTP/1.0\r\n\r\n"); strings.HasPrefix(got, "HTTP/1.0 200") {
		t.Errorf("a probe with a query went past the firewall: %q", got)
	}
}
