package app_test

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// Rate limits need no database of their own: SQLite is enough.
func sqliteDB(t *testing.T) testenv.Database {
	return testenv.Database{Engine: "sqlite", DataDir: t.TempDir()}
}

// realLimits puts back the shipped defaults that testConfig raises.
func realLimits(c *config.Config) { c.RateLimit = config.Defaults().RateLimit }

// authTry is one request of the auth class that the handler refuses cheaply
// (invalid input; no login lockout counts it), so only the rate limit decides whether it is a 429.
func authTry(header map[string]string) req {
	return req{method: "POST", path: "/api/v1/auth/password-reset/confirm", body: map[string]string{}, header: header}
}

// exhaustAuth spends the auth burst (10 at the default) and fails unless each
// request got through the limiter.
func (s *server) exhaustAuth(header map[string]string) {
	s.t.Helper()
	for i := range 10 {
		if r := s.do(authTry(header)); r.Status == 429 {
			s.t.Fatalf("request %d of the burst was rate limited: %s", i+1, r.Body)
		}
	}
}

func mustBeLimited(t *testing.T, r response, name string, retryAfter string) {
	t.Helper()
	if r.Status != 429 || r.Code(t) != "rate_limited" {
		t.Fatalf("got %d %s, want 429 rate_limited", r.Status, r.Body)
	}
	if got := r.Header.Get("Retry-After"); got != retryAfter {
		t.Fatalf("Retry-After = %q, want %q", got, retryAfter)
	}
	if got, want := r.Header.Values("RateLimit"), `"`+name+`";r=0;t=`+retryAfter; !slices.Contains(got, want) {
		t.Fatalf("RateLimit = %q, want %q among them", got, want)
	}
	if got := r.Header.Values("RateLimit-Policy"); len(got) == 0 || !strings.HasPrefix(got[len(got)-1], `"`+name+`";q=`) {
		t.Fatalf("RateLimit-Policy = %q, want the %s policy", got, name)
	}
}

func TestRateLimits(t *testing.T) {
	s := startServer(t, sqliteDB(t), realLimits)

	t.Run("an allowed request carries the policy and what remains", func(t *testing.T) {
		r := s.do(authTry(nil))
		if r.Status == 429 {
			t.Fatalf("first request limited: %s", r.Body)
		}
		if got := r.Header.Get("RateLimit-Policy"); got != `"auth";q=20;w=60` {
			t.Fatalf("RateLimit-Policy = %q", got)
		}
		if got := r.Header.Get("RateLimit"); got != `"auth";r=9;t=3` {
			t.Fatalf("RateLimit = %q", got)
		}
	})

	t.Run("past the burst of 10 the address gets 429 with Retry-After and the headers", func(t *testing.T) {
		for range 9 {
			s.do(authTry(nil))
		}
		mustBeLimited(t, s.do(authTry(nil)), "auth", "3")
	})

	t.Run("a spoofed X-Forwarded-For from an untrusted peer gains nothing", func(t *testing.T) {
		mustBeLimited(t, s.do(authTry(map[string]string{"X-Forwarded-For": "198.51.100.9"})), "auth", "3")
	})

	t.Run("another address keeps its own budget", func(t *testing.T) {
		s.from("127.0.0.2").exhaustAuth(nil)
	})

	t.Run("other classes are limited apart", func(t *testing.T) {
		s.must(200, req{method: "GET", path: "/api/v1/products"})
	})

	t.Run("the limit recovers as time passes: one request per 3 seconds", func(t *testing.T) {
		s.Clock.Advance(2 * time.Second)
		mustBeLimited(t, s.do(authTry(nil)), "auth", "1")
		s.Clock.Advance(time.Second)
		if r := s.do(authTry(nil)); r.Status == 429 {
			t.Fatalf("after 3s still limited: %s", r.Body)
		}
		mustBeLimited(t, s.do(authTry(nil)), "auth", "3")
		s.Clock.Advance(time.Minute)
		s.exhaustAuth(nil)
	})

	t.Run("refusals are counted by class and logged", func(t *testing.T) {
		if n := s.metric(`bulwark_rate_limited_total{class="auth",scope="address"}`); n < 4 {
			t.Fatalf("counted %v refusals, want at least 4", n)
		}
		if !strings.Contains(s.Logs.String(), `"msg":"rate limited"`) {
			t.Fatal("no rate limited log line")
		}
	})

	t.Run("reads allow a burst of 100", func(t *testing.T) {
		c := s.from("127.0.0.5")
		for i := range 100 {
			if r := c.do(req{method: "GET", path: "/api/v1/products"}); r.Status != 200 {
				t.Fatalf("read %d = %d %s", i+1, r.Status, r.Body)
			}
		}
		mustBeLimited(t, c.do(req{method: "GET", path: "/api/v1/products"}), "reads", "1")
	})

	t.Run("probing unknown paths is limited too", func(t *testing.T) {
		c := s.from("127.0.0.9")
		for i := range 30 {
			if r := c.do(req{method: "POST", path: "/api/v1/nope"}); r.Status != 404 {
				t.Fatalf("probe %d = %d %s", i+1, r.Status, r.Body)
			}
		}
		mustBeLimited(t, c.do(req{method: "POST", path: "/api/v1/nope"}), "writes", "1")
	})

	t.Run("health probes are never limited", func(t *testing.T) {
		for range 120 {
			s.must(200, req{method: "GET", path: "/healthz"})
		}
	})

	t.Run("checkout is limited per account across addresses", func(t *testing.T) {
		c := s.from("127.0.0.3")
		c.register("limited@example.com")
		token := c.login("limited@example.com", testPassword)
		try := func(from string) response {
			return s.from(from).do(req{method: "POST", path: "/api/v1/checkout", token: token, body: map[string]string{}})
		}
		for i := range 10 {
			if r := try([]string{"127.0.0.6", "127.0.0.7"}[i%2]); r.Status == 429 {
				t.Fatalf("checkout %d limited: %s", i+1, r.Body)
			}
		}
		mustBeLimited(t, try("127.0.0.8"), "checkout-account", "2")
	})
}

func TestRateLimitsBehindTrustedProxy(t *testing.T) {
	s := startServer(t, sqliteDB(t), realLimits, func(c *config.Config) { c.TrustedProxies = "127.0.0.0/8" })
	xff := func(v string) map[string]string { return map[string]string{"X-Forwarded-For": v} }

	t.Run("the forwarded client is the one limited", func(t *testing.T) {
		s.exhaustAuth(xff("198.51.100.7"))
		mustBeLimited(t, s.do(authTry(xff("198.51.100.7"))), "auth", "3")
	})
	t.Run("another forwarded client through the same proxy is not", func(t *testing.T) {
		s.exhaustAuth(xff("198.51.100.8"))
	})
	t.Run("a client prepending addresses gains nothing", func(t *testing.T) {
		mustBeLimited(t, s.do(authTry(xff("203.0.113.50, 198.51.100.7"))), "auth", "3")
	})
	t.Run("the proxy itself, without the header, is its own client", func(t *testing.T) {
		s.exhaustAuth(nil)
	})
}

func TestRateLimitsOff(t *testing.T) {
	s := startServer(t, sqliteDB(t), realLimits, func(c *config.Config) { c.RateLimits = false })
	for i := range 30 {
		if r := s.do(authTry(nil)); r.Status == 429 || r.Header.Get("RateLimit") != "" {
			t.Fatalf("request %d with limits off: %d %q", i+1, r.Status, r.Header.Get("RateLimit"))
		}
	}
	if !strings.Contains(s.Logs.String(), "rate limits are off") {
		t.Fatal("limits off was not logged as unsafe")
	}
}

// TestRateLimitsSharedThroughRedis spends a budget on one instance and finds
// it spent on another that shares the Redis server.
func TestRateLimitsSharedThroughRedis(t *testing.T) {
	url := testenv.RedisURL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "test:" + hex.EncodeToString(b[:]) + ":"
	withRedis := func(c *config.Config) { c.RedisURL, c.RedisKeyPrefix = url, prefix }
	one := startServer(t, sqliteDB(t), realLimits, withRedis)
	two := startServer(t, sqliteDB(t), realLimits, withRedis)
	// The budget is kept on the servers' clocks, which stand still in tests:
	// one time for both, or the one started later (more than the 3 s the
	// auth limit takes to give a request back, on a loaded machine) finds
	// the budget refilled.
	two.Clock.Set(one.Clock.Now())
	for i := range 10 {
		if r := []*server{one, two}[i%2].do(authTry(nil)); r.Status == 429 {
			t.Fatalf("request %d of the shared burst limited: %s", i+1, r.Body)
		}
	}
	for _, s := range []*server{one, two} {
		if r := s.do(authTry(nil)); r.Status != 429 || r.Header.Get("Retry-After") == "" {
			t.Fatalf("past the shared burst = %d %s, want 429 on either instance", r.Status, r.Body)
		}
	}
}
