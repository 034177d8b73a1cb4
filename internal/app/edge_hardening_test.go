package app_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// TestRequestSmugglingCLTE sends a request with both Content-Length and
// Transfer-Encoding: chunked whose chunked body ends early, with a second
// request behind it: a front proxy that frames by Content-Length would pass
// both bytes as one request, and a server that frames by chunked encoding
// would answer the smuggled second one. The shop must refuse the first with
// 400 and close the connection, so the second is never read (RFC 9112 6.1).
func TestRequestSmugglingCLTE(t *testing.T) {
	s := startServer(t, testenv.Database{Engine: "sqlite", DataDir: t.TempDir()})
	host := strings.TrimPrefix(s.URL, "http://")
	smuggled := "GET /api/v1/products HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
	body := "0\r\n\r\n" + smuggled
	send := func(t *testing.T, raw string) []*http.Response {
		t.Helper()
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		var out []*http.Response
		for {
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				// io.EOF: the server closed the connection; a timeout would
				// mean it kept the connection open waiting for more.
				if err != io.EOF && err != io.ErrUnexpectedEOF {
					t.Fatalf("after %d responses: %v (the connection was left open)", len(out), err)
				}
				return out
			}
			_, _ = io.ReadAll(res.Body)
			res.Body.Close()
			out = append(out, res)
		}
	}

	for _, tc := range []struct{ name, headers string }{
		{"Content-Length before Transfer-Encoding", "Content-Length: %d\r\nTransfer-Encoding: chunked\r\n"},
		{"Transfer-Encoding before Content-Length", "Transfer-Encoding: chunked\r\nContent-Length: %d\r\n"},
		{"lower-case names", "transfer-encoding: chunked\r\ncontent-length: %d\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := strings.Replace(tc.headers, "%d", strconv.Itoa(len(body)), 1)
			raw := "POST /api/v1/carts HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\n" + h + "\r\n" + body
			got := send(t, raw)
			if len(got) != 1 {
				t.Fatalf("%d responses, want 1 (the smuggled request was answered)", len(got))
			}
			if got[0].StatusCode != 400 || !got[0].Close {
				t.Errorf("= %d, Connection close %v; want 400 and close", got[0].StatusCode, got[0].Close)
			}
		})
	}

	t.Run("a chunked request alone is served, and its connection closed after it", func(t *testing.T) {
		raw := "GET /api/v1/products HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled
		got := send(t, raw)
		if len(got) != 1 || !got[0].Close {
			t.Fatalf("%d responses (close %v), want 1 and the connection closed", len(got), len(got) > 0 && got[0].Close)
		}
	})

	t.Run("Content-Length alone keeps the connection for the next request", func(t *testing.T) {
		raw := "GET /api/v1/products HTTP/1.1\r\nHost: " + host + "\r\n\r\n" + strings.Replace(smuggled, "\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1)
		if got := send(t, raw); len(got) != 2 || got[0].StatusCode != 200 || got[1].StatusCode != 200 {
			t.Fatalf("%d responses, want two 200s", len(got))
		}
	})
}

// TestWAFCostBounded sends the bodies that made the firewall burn seconds of
// CPU (one long string just under 1 MiB) and their cousins to unauthenticated
// routes: each is refused with a 4xx before the firewall runs its rules over
// it (the firewall's request counter does not move), or by the firewall's own
// argument bounds. CPU is measured in bulwark-bench -worst, not here.
func TestWAFCostBounded(t *testing.T) {
	s := startServer(t, testenv.Database{Engine: "sqlite", DataDir: t.TempDir()}, func(c *config.Config) {
		c.RateLimit.Auth = edge.Limit{Count: 10, Period: time.Minute, Burst: 10}
	})
	longString := func(n int) []byte {
		return []byte(`{"email":"a@example.com","password":"a long passphrase nobody guesses","name":"` + strings.Repeat("a", n) + `"}`)
	}
	inspected := func() float64 { return s.metricSum("bulwark_waf_requests_total") }

	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   []byte
		status int
	}{
		{"a body on a GET", "GET", "/api/v1/products", longString(1<<20 - 200), 413},
		{"a small body on a GET", "GET", "/api/v1/products", []byte(`{}`), 413},
		{"a body on an unknown path", "POST", "/api/v1/nope", longString(1 << 10), 413},
		{"registration past its limit", "POST", "/api/v1/auth/register", longString(1<<20 - 200), 413},
		{"login past its limit", "POST", "/api/v1/auth/login", longString(5 << 10), 413},
		{"a catalog write past its limit", "POST", "/api/v1/admin/products", longString(1<<20 - 200), 413},
		{"a catalog write from a stranger", "POST", "/api/v1/admin/products", longString(60 << 10), 401},
		{"a cart write past its limit", "POST", "/api/v1/carts", longString(6 << 10), 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := inspected()
			res := s.do(req{method: tc.method, path: tc.path, body: tc.body})
			if res.Status != tc.status {
				t.Fatalf("= %d %s, want %d", res.Status, res.Body, tc.status)
			}
			if after := inspected(); after != before {
				t.Errorf("the firewall inspected the request (%v → %v)", before, after)
			}
		})
	}

	t.Run("many arguments or deep nesting within the limit are refused by the firewall's bounds", func(t *testing.T) {
		keys := "{" + strings.TrimSuffix(strings.Repeat(`"a":1,`, 600), ",") + "}"
		deep := strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)
		for _, b := range []string{keys, deep} {
			res := s.from("127.0.0.3").do(req{method: "POST", path: "/api/v1/auth/login", body: b})
			if res.Status != 400 && res.Status != 403 {
				t.Errorf("%.20s…: = %d %s, want 400 or 403", b, res.Status, res.Body)
			}
		}
	})

	t.Run("a URL or a header past its bound is refused before the firewall", func(t *testing.T) {
		before := inspected()
		s.must(414, req{method: "GET", path: "/api/v1/products?q=" + strings.Repeat("a", 5000)})
		s.must(431, req{method: "GET", path: "/api/v1/products", header: map[string]string{"X-Long": strings.Repeat("a", 9000)}})
		if after := inspected(); after != before {
			t.Errorf("the firewall inspected them (%v → %v)", before, after)
		}
	})

	t.Run("a big body drains the address's rate limit by its cost", func(t *testing.T) {
		c := s.from("127.0.0.4")
		// About 4000 bytes cost 4 requests' worth (edge.Cost): two such logins
		// take 8 of the burst of 10, the third is refused until 2 more
		// intervals of 6 s have passed (12 s).
		body := longString(4000 - 100)
		for i := range 2 {
			if r := c.do(req{method: "POST", path: "/api/v1/auth/login", body: body}); r.Status == 429 {
				t.Fatalf("login %d refused early: %s", i+1, r.Body)
			}
		}
		mustBeLimited(t, c.do(req{method: "POST", path: "/api/v1/auth/login", body: body}), "auth", "12")
		// A small request from another address is not affected.
		if r := s.from("127.0.0.5").do(req{method: "POST", path: "/api/v1/auth/login", body: longString(10)}); r.Status == 429 {
			t.Fatalf("another address limited: %s", r.Body)
		}
	})
}

// TestBotTrapNoWebsiteCanFire is the attack on the old trap: a page of any
// site embeds <img src=".../api/v1/private/export">, and each visitor's
// address was blocked for a day; the developer's own 127.0.0.1 too, with no
// reason logged and no way out. Now a request a third-party page could have
// caused blocks nothing, the loopback and trusted proxies are never blocked,
// a block logs its reason, and blocks are listed and lifted through the API
// and the CLI (audited), on the store the server enforces.
func TestBotTrapNoWebsiteCanFire(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, func(c *config.Config) { c.TrustedProxies = "127.0.0.1/32" })
		admin := s.createAdmin("blocks-admin@example.com")
		via := func(ip string, h map[string]string) map[string]string {
			out := map[string]string{"X-Forwarded-For": ip}
			for k, v := range h {
				out[k] = v
			}
			return out
		}
		trap := func(ip string, h map[string]string) {
			t.Helper()
			s.must(404, req{method: "GET", path: edge.TrapPath, header: via(ip, h)})
		}
		products := func(ip string) response {
			return s.do(req{method: "GET", path: "/api/v1/products", header: via(ip, nil)})
		}

		t.Run("a request another site's page could cause blocks nothing", func(t *testing.T) {
			for i, h := range []map[string]string{
				{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image", "Sec-Fetch-Mode": "no-cors"},     // <img>
				{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}, // a link
				{"Sec-Fetch-Site": "same-site", "Sec-Fetch-Dest": "empty"},                                   // a sibling host
				{"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": "script"},                                // a script load
				{"Referer": "https://evil.example/page"},                                                     // an old browser
				{"Origin": "null"},
			} {
				ip := "203.0.113." + strconv.Itoa(10+i)
				trap(ip, h)
				if r := products(ip); r.Status != 200 {
					t.Errorf("%v: the visitor %s was blocked: %d", h, ip, r.Status)
				}
			}
			if !strings.Contains(s.Logs.String(), `"outcome":"cross_site"`) {
				t.Error("no log line for the cross-site hits")
			}
		})

		t.Run("the loopback and a trusted proxy are never blocked", func(t *testing.T) {
			// Straight from 127.0.0.1 (the trusted proxy itself), and from 127.0.0.2.
			s.must(404, req{method: "GET", path: edge.TrapPath})
			s.must(200, req{method: "GET", path: "/api/v1/products"})
			s.from("127.0.0.2").must(404, req{method: "GET", path: edge.TrapPath})
			s.from("127.0.0.2").must(200, req{method: "GET", path: "/api/v1/products"})
			if !strings.Contains(s.Logs.String(), `"outcome":"exempt"`) {
				t.Error("no log line for the exempt hits")
			}
		})

		var id string
		t.Run("a bot is blocked, with the reason logged and listed", func(t *testing.T) {
			trap("198.51.100.7", map[string]string{"User-Agent": "evilscan/1.0"})
			mustBlocked(t, products("198.51.100.7"))
			logs := s.Logs.String()
			for _, want := range []string{`"outcome":"blocked"`, `"user_agent":"evilscan/1.0"`, `"path":"/api/v1/private/export"`, `"ip":"198.51.100.7"`} {
				if !strings.Contains(logs, want) {
					t.Errorf("the log lacks %s", want)
				}
			}
			var list struct {
				Items []struct{ ID, Address, Reason, Until string }
			}
			s.must(200, req{method: "GET", path: "/api/v1/admin/blocks", token: admin}).JSON(t, &list)
			if len(list.Items) != 1 || list.Items[0].Address != "198.51.100.7" || !strings.Contains(list.Items[0].Reason, "evilscan/1.0") ||
				!strings.HasPrefix(list.Items[0].ID, "blk_") {
				t.Fatalf("blocks = %+v, want the bot's with its reason", list.Items)
			}
			id = list.Items[0].ID
			customer := s.login(s.register("blocks-customer@example.com").Email, testPassword)
			s.must(403, req{method: "GET", path: "/api/v1/admin/blocks", token: customer})
			s.must(403, req{method: "DELETE", path: "/api/v1/admin/blocks/" + id, token: customer})
			mustBlocked(t, products("198.51.100.7"))
		})

		t.Run("an admin lifts it through the API, audited", func(t *testing.T) {
			s.must(204, req{method: "DELETE", path: "/api/v1/admin/blocks/" + id, token: admin})
			s.must(200, req{method: "GET", path: "/api/v1/products", header: via("198.51.100.7", nil)})
			s.must(404, req{method: "DELETE", path: "/api/v1/admin/blocks/" + id, token: admin})
			s.must(404, req{method: "DELETE", path: "/api/v1/admin/blocks/nonsense", token: admin})
			var found bool
			for _, r := range auditActions(t, s) {
				found = found || (r.Action == edge.ActionBlockLifted && r.Target == "198.51.100.7" && strings.HasPrefix(r.Actor, "usr_") && strings.HasPrefix(r.Detail, "lifted by user usr_"))
			}
			if !found {
				t.Error("no edge.block_lifted audit record naming the admin")
			}
		})

		t.Run("the CLI lists and lifts the blocks the running server enforces", func(t *testing.T) {
			trap("2001:db8::7", nil)
			mustBlocked(t, products("2001:db8::7"))
			code, out, errOut := runCLI(t, s.Config, "", "blocks", "list")
			if code != 0 || !strings.Contains(out, "2001:db8::7") || !strings.Contains(out, "bot trap: GET /api/v1/private/export") {
				t.Fatalf("blocks list = %d %q %q", code, out, errOut)
			}
			cliID := strings.Fields(out)[0]
			if code, out, errOut := runCLI(t, s.Config, "", "blocks", "lift", cliID); code != 0 {
				t.Fatalf("blocks lift = %d %q %q", code, out, errOut)
			}
			// The server re-reads the database's blocks every 2 s.
			s.Clock.Advance(3 * time.Second)
			s.must(200, req{method: "GET", path: "/api/v1/products", header: via("2001:db8::7", nil)})
			if code, _, errOut := runCLI(t, s.Config, "", "blocks", "lift", cliID); code == 0 || !strings.Contains(errOut, "no block") {
				t.Errorf("lifting it again = %d %q, want a failure", code, errOut)
			}
			if code, out, _ := runCLI(t, s.Config, "", "blocks", "list"); code != 0 || !strings.Contains(out, "no blocks in force") {
				t.Errorf("blocks list after the lift = %d %q", code, out)
			}
		})
	})
}
