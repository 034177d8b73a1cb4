package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/app"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/logging"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// outage records every response of an outage window, so that a test can say
// that none of them was a 500, not only the ones it looked at.
type outage struct {
	t   *testing.T
	s   *server
	all []response
}

func (o *outage) do(r req) response {
	o.t.Helper()
	res := o.s.do(r)
	o.all = append(o.all, res)
	return res
}

// unavailable asserts that r answers 503 unavailable with Retry-After.
func (o *outage) unavailable(what string, r req) {
	o.t.Helper()
	res := o.do(r)
	if res.Status != 503 || res.Code(o.t) != "unavailable" || res.Header.Get("Retry-After") == "" {
		o.t.Fatalf("%s during the outage = %d %s (Retry-After %q), want 503 unavailable with Retry-After",
			what, res.Status, res.Body, res.Header.Get("Retry-After"))
	}
}

// until repeats r until it answers want (a 503 meanwhile is fine), for the
// few seconds a dependency takes to be found again.
func (o *outage) until(what string, want int, r req) response {
	o.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res := o.do(r)
		if res.Status == want {
			return res
		}
		if res.Status != 503 || time.Now().After(deadline) {
			o.t.Fatalf("%s after recovery = %d %s, want %d", what, res.Status, res.Body, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// noServerErrors asserts that no response of the window was a 500 or carried
// internal_error.
func (o *outage) noServerErrors() {
	o.t.Helper()
	for _, r := range o.all {
		if r.Status == 500 || strings.Contains(string(r.Body), "internal_error") {
			o.t.Fatalf("a response during the outage was %d %s", r.Status, r.Body)
		}
	}
	if len(o.all) == 0 {
		o.t.Fatal("no response was recorded: the test proves nothing")
	}
}

// readiness is /readyz's body.
type readiness struct {
	Status       string
	Code         string
	Dependencies map[string]string
}

func (s *server) readiness(want int) readiness {
	s.t.Helper()
	var r readiness
	s.must(want, req{method: "GET", path: "/readyz"}).JSON(s.t, &r)
	return r
}

// logCount counts the log lines holding every one of parts.
func logCount(s *server, parts ...string) int {
	n := 0
	for _, line := range strings.Split(s.Logs.String(), "\n") {
		all := line != ""
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

func redisPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "test:" + hex.EncodeToString(b[:]) + ":"
}

// TestRedisOutage stops the shop's Redis (a private redis-server, never the
// shared one) under a running shop. Login still works (it answered 500
// before: its lockout counters were in Redis), rate limits still hold through
// each instance's memory (they failed fully open before), the instance stays
// ready, and the outage is logged once, not twice per request (10,554 lines
// in 38 s before). When Redis is back, the shop finds it again.
func TestRedisOutage(t *testing.T) {
	r := testenv.StartRedis(t)
	reads := edge.Limit{Count: 20, Period: time.Minute, Burst: 20}
	s := startServer(t, sqliteDB(t), func(c *config.Config) {
		c.RedisURL, c.RedisKeyPrefix = r.URL, redisPrefix()
		c.RateLimit.Reads = reads
	})
	s.register("redis-out@example.com")
	s.login("redis-out@example.com", testPassword)
	if up := s.metric(`bulwark_dependency_up{name="redis"}`); up != 1 {
		t.Fatalf("bulwark_dependency_up{redis} = %v with Redis up", up)
	}
	r.Stop()
	o := &outage{t: t, s: s}
	if res := o.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "redis-out@example.com", "password": testPassword}}); res.Status != 200 {
		t.Fatalf("login with Redis down = %d %s", res.Status, res.Body)
	}
	if res := o.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "redis-out@example.com", "password": "wrong wrong wrong"}}); res.Status != 401 {
		t.Fatalf("a wrong password with Redis down = %d %s", res.Status, res.Body)
	}
	limited := 0
	for range reads.Burst + 10 {
		switch res := o.do(req{method: "GET", path: "/api/v1/products"}); res.Status {
		case 200:
		case 429:
			limited++
			if res.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		default:
			t.Fatalf("a product list with Redis down = %d %s", res.Status, res.Body)
		}
	}
	if limited == 0 {
		t.Fatalf("%d reads with Redis down and a limit of %d: none was limited, the limits failed open", reads.Burst+10, reads.Burst)
	}
	rd := s.readiness(200)
	if rd.Status != "ready" || rd.Dependencies["redis"] != "down" || rd.Dependencies["database"] != "up" {
		t.Fatalf("readyz with Redis down = %+v, want ready with redis down", rd)
	}
	o.noServerErrors()
	if up := s.metric(`bulwark_dependency_up{name="redis"}`); up != 0 {
		t.Fatalf("bulwark_dependency_up{redis} = %v with Redis down", up)
	}
	if n := logCount(s, "dependency down", `"dependency":"redis"`); n != 1 {
		t.Fatalf("%d requests logged Redis down %d times, want once:\n%s", len(o.all), n, s.Logs.String())
	}
	if n := logCount(s, `"level":"ERROR"`); n != 0 {
		t.Fatalf("%d error lines with Redis down, want none:\n%s", n, s.Logs.String())
	}
	warnings := logCount(s, `"level":"WARN"`) - logCount(s, `"level":"WARN"`, `"msg":"rate limited"`)
	if warnings > 2 {
		t.Fatalf("%d requests with Redis down logged %d warnings, want O(1):\n%s", len(o.all), warnings, s.Logs.String())
	}

	r.Start()
	deadline := time.Now().Add(10 * time.Second)
	for s.readiness(200).Dependencies["redis"] != "up" || s.metric(`bulwark_dependency_up{name="redis"}`) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("Redis was not found again after it came back")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := logCount(s, "dependency up", `"dependency":"redis"`); n != 1 {
		t.Fatalf("Redis coming back was logged %d times, want once", n)
	}
	s.login("redis-out@example.com", testPassword)
}

// TestLockoutSurvivesRedisRestart locks an email, then restarts the shop's
// Redis without persistence (its data gone): the lock holds, since it lives in
// the database. Before, the lock vanished with Redis's memory.
func TestLockoutSurvivesRedisRestart(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		r := testenv.StartRedis(t)
		s := startServer(t, db, func(c *config.Config) { c.RedisURL, c.RedisKeyPrefix = r.URL, redisPrefix() })
		s.register("locked@example.com")
		for range 10 {
			s.tryLogin("locked@example.com", "wrong wrong wrong")
		}
		if res := s.tryLogin("locked@example.com", testPassword); res.Status != 429 {
			t.Fatalf("login after 10 failures = %d %s, want 429", res.Status, res.Body)
		}
		r.Stop()
		if res := s.tryLogin("locked@example.com", testPassword); res.Status != 429 || res.Header.Get("Retry-After") == "" {
			t.Fatalf("login of a locked email with Redis down = %d %s, want 429 with Retry-After", res.Status, res.Body)
		}
		r.Start() // empty: --save '' --appendonly no
		if res := s.tryLogin("locked@example.com", testPassword); res.Status != 429 {
			t.Fatalf("login after Redis restarted empty = %d %s, want the lock to hold (429)", res.Status, res.Body)
		}
	})
}

// proxied returns db with its PostgreSQL URLs pointed through a proxy the
// test can cut; it skips on SQLite.
func proxied(t *testing.T, db testenv.Database) (testenv.Database, *testenv.Proxy) {
	t.Helper()
	u, err := url.Parse(db.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	p := testenv.NewProxy(t, u.Host)
	through := func(raw string) string {
		v, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		v.Host = p.Addr()
		q := v.Query()
		q.Set("connect_timeout", "2")
		v.RawQuery = q.Encode()
		return v.String()
	}
	db.DatabaseURL, db.VaultDatabaseURL = through(db.DatabaseURL), through(db.VaultDatabaseURL)
	return db, p
}

// TestDatabaseOutage cuts the connection between a running shop and its
// PostgreSQL (through a proxy: the shared server is never stopped). Login,
// product reads, carts and checkout answer 503 unavailable with Retry-After,
// never 500; /readyz says not ready; once the database is back each answers
// 2xx again. (SQLite's outage is a full disk: TestDiskFull.)
func TestDatabaseOutage(t *testing.T) {
	dbs := testenv.Databases(t)
	if len(dbs) < 2 {
		t.Skip("no PostgreSQL: " + testenv.DatabaseURLVar + " is not set")
	}
	db, proxy := proxied(t, dbs[1])
	s := startServer(t, db)
	admin := s.createAdmin("db-admin@example.com")
	p := s.createProduct(admin, "DBOUT-1", 5)
	pat := s.shopper("db-pat@example.com", "4242424242424242")
	cart := s.cartWith(pat, 1, p.ID)
	staffPage := newVisitor(t, s)
	staffPage.signIn("db-admin@example.com")

	proxy.Cut()
	o := &outage{t: t, s: s}
	// The pages answer the outage as the API they call does: 503 with
	// Retry-After, drawn as a page, never a 500.
	for path, v := range map[string]*visitor{"/": newVisitor(t, s), "/products/" + p.ID: newVisitor(t, s), "/console/findings": staffPage, "/account": staffPage} {
		a := v.get(path)
		if a.Status != 503 || a.Header.Get("Retry-After") == "" || !strings.HasPrefix(a.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("page %s during the outage = %d (Retry-After %q, %s), want a 503 page with Retry-After",
				path, a.Status, a.Header.Get("Retry-After"), a.Header.Get("Content-Type"))
		}
	}
	o.unavailable("login", req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "db-pat@example.com", "password": testPassword}})
	o.unavailable("product read", req{method: "GET", path: "/api/v1/products/" + p.ID})
	o.unavailable("cart read", req{method: "GET", path: "/api/v1/carts/" + cart, token: pat.token})
	o.unavailable("cart change", req{method: "PUT", path: "/api/v1/carts/" + cart + "/items/" + p.ID, token: pat.token, body: map[string]int{"quantity": 2}})
	o.unavailable("checkout", checkoutReq(pat, "db-out-key", cart, "123"))
	o.unavailable("findings list", req{method: "GET", path: "/api/v1/admin/findings", token: admin})
	o.unavailable("finding resolve", req{method: "POST", path: "/api/v1/admin/findings/fnd_aaaaaaaaaaaaaaaaaaaaaaaaaa/resolve", token: admin})
	o.unavailable("blocks list", req{method: "GET", path: "/api/v1/admin/blocks", token: admin})
	o.unavailable("block lift", req{method: "POST", path: "/api/v1/admin/blocks/rbk_aaaaaaaaaaaaaaaaaaaaaaaaaa/lift", token: admin})
	o.unavailable("audit log", req{method: "GET", path: "/api/v1/admin/audit", token: admin})
	o.unavailable("audit checkpoint", req{method: "GET", path: "/api/v1/admin/audit/checkpoint", token: admin})
	// The trail's readers seal what is waiting first (PostgreSQL): that
	// failing is the same outage, not a server error.
	o.unavailable("audit proof", req{method: "GET", path: "/api/v1/admin/audit/records/1/proof", token: admin})
	o.unavailable("audit consistency", req{method: "GET", path: "/api/v1/admin/audit/consistency?from=1", token: admin})
	o.unavailable("posture", req{method: "GET", path: "/api/v1/admin/posture", token: admin})
	o.unavailable("posture history", req{method: "GET", path: "/api/v1/admin/posture/history", token: admin})
	o.unavailable("discovery", req{method: "GET", path: "/api/v1/admin/discovery", token: admin})
	if rd := s.readiness(503); rd.Code != "not_ready" || rd.Dependencies["database"] != "down" {
		t.Fatalf("readyz with the database down = %+v", rd)
	}
	if up := s.metric(`bulwark_dependency_up{name="database"}`); up != 0 {
		t.Fatalf("bulwark_dependency_up{database} = %v with the database down", up)
	}

	proxy.Restore()
	o.until("product read", 200, req{method: "GET", path: "/api/v1/products/" + p.ID})
	o.until("login", 200, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "db-pat@example.com", "password": testPassword}})
	o.until("cart change", 200, req{method: "PUT", path: "/api/v1/carts/" + cart + "/items/" + p.ID, token: pat.token, body: map[string]int{"quantity": 2}})
	o.until("checkout", 201, checkoutReq(pat, "db-out-key", cart, "123"))
	o.noServerErrors()
	if got := s.stock(p.ID); got != 3 {
		t.Fatalf("stock %d after one order of 2 from 5", got)
	}
	s.readiness(200)
	if n := logCount(s, "dependency down", `"dependency":"database"`); n < 1 || n > 3 {
		t.Fatalf("the database outage was logged down %d times over %d requests, want once or so", n, len(o.all))
	}
}

// TestDiskFull runs the shop on SQLite on a small disk of its own (a tmpfs;
// root only) and fills it: writes answer 503 unavailable with Retry-After,
// never 500, reads still serve, /readyz says not ready (disk); once space is
// freed the shop takes orders again.
func TestDiskFull(t *testing.T) {
	dir := testenv.SmallDisk(t, "24m")
	s := startServer(t, testenv.Database{Engine: "sqlite", DataDir: dir})
	admin := s.createAdmin("disk-admin@example.com")
	p := s.createProduct(admin, "DISK-1", 5)
	pat := s.shopper("disk-pat@example.com", "4242424242424242")
	cart := s.cartWith(pat, 1, p.ID)
	s.readiness(200)

	free := testenv.FillDisk(t, dir)
	o := &outage{t: t, s: s}
	o.unavailable("registration", req{method: "POST", path: "/api/v1/auth/register",
		body: map[string]string{"email": "disk-new@example.com", "password": testPassword, "name": "New"}})
	o.unavailable("login", req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "disk-pat@example.com", "password": testPassword}})
	o.unavailable("cart change", req{method: "PUT", path: "/api/v1/carts/" + cart + "/items/" + p.ID, token: pat.token, body: map[string]int{"quantity": 2}})
	o.unavailable("checkout", checkoutReq(pat, "disk-key", cart, "123"))
	if res := o.do(req{method: "GET", path: "/api/v1/products/" + p.ID}); res.Status != 200 {
		t.Fatalf("a product read on a full disk = %d %s", res.Status, res.Body)
	}
	if rd := s.readiness(503); rd.Dependencies["disk"] != "down" {
		t.Fatalf("readyz on a full disk = %+v", rd)
	}

	free()
	deadline := time.Now().Add(10 * time.Second)
	for o.do(req{method: "GET", path: "/readyz"}).Status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("not ready again after the disk was freed")
		}
		time.Sleep(200 * time.Millisecond)
	}
	o.until("cart change", 200, req{method: "PUT", path: "/api/v1/carts/" + cart + "/items/" + p.ID, token: pat.token, body: map[string]int{"quantity": 2}})
	o.until("checkout", 201, checkoutReq(pat, "disk-key", cart, "123"))
	o.until("login", 200, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "disk-pat@example.com", "password": testPassword}})
	o.noServerErrors()
}

// restartVault starts the vault process again where it listened, after
// v.Stop, with the same data directory and database.
func restartVault(t *testing.T, v *vaultServer) {
	t.Helper()
	cfg := v.Config
	u, err := url.Parse(v.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.VaultListen = u.Host
	ctx, cancel := context.WithCancel(context.Background())
	va, err := app.NewVault(ctx, cfg, logging.New(v.Logs, -4), time.Now)
	if err != nil {
		cancel()
		t.Fatalf("restart vault: %v", err)
	}
	l, err := va.Listen()
	if err != nil {
		cancel()
		va.Close()
		t.Fatalf("vault listen again: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- va.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("vault serve: %v", err)
		}
		va.Close()
	})
}
