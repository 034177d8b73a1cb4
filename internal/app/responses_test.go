package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/finding"
	"github.com/bulwark-shop/bulwark/internal/id"
	resp "github.com/bulwark-shop/bulwark/internal/response"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

type responseBlockOut struct {
	ID      string `json:"id"`
	Subject struct {
		Kind string `json:"kind"`
		ID   string `json:"id"`
	} `json:"subject"`
	Action    string `json:"action"`
	FindingID string `json:"finding_id"`
	Repeat    int    `json:"repeat"`
	LiftedBy  string `json:"lifted_by"`
}

type blocksOut struct {
	Items []struct {
		ID      string `json:"id"`
		Address string `json:"address"`
		Reason  string `json:"reason"`
	} `json:"items"`
	Responses []responseBlockOut `json:"responses"`
}

// scanUntilBlocked requests missing paths from ip until the edge refuses
// it, and returns how many requests that took (failing past max).
func scanUntilBlocked(t *testing.T, s *server, ip string, max int) int {
	t.Helper()
	for i := 1; i <= max; i++ {
		res := s.do(req{method: "GET", path: fmt.Sprintf("/api/v1/wp-admin-%d.php", i), header: map[string]string{"X-Forwarded-For": ip}})
		if res.Status == 403 {
			if res.Code(t) != "request_blocked" {
				t.Fatalf("request %d refused with %s", i, res.Body)
			}
			return i
		}
		if res.Status != 404 {
			t.Fatalf("request %d answered %d %s", i, res.Status, res.Body)
		}
		if i >= 30 {
			// Detection runs beside the requests: the block follows the
			// thirtieth a moment later.
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Fatalf("%s not blocked within %d requests", ip, max)
	return 0
}

// TestResponsesBlockAScanner drives a scan at a real server: the address is
// refused at the edge within 50 requests, others are not, the block is
// listed with its finding, lifted through the API, and the address works again.
func TestResponsesBlockAScanner(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, func(c *config.Config) { c.TrustedProxies = "127.0.0.0/8" })
		admin := s.createAdmin("admin@example.com")
		from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }
		products := func(ip string) req { return req{method: "GET", path: "/api/v1/products", header: from(ip)} }

		n := scanUntilBlocked(t, s, "203.0.113.50", 50)
		t.Logf("blocked after %d requests", n)
		mustBlocked(t, s.do(products("203.0.113.50")))
		s.must(200, products("203.0.113.51"))

		f := s.waitFinding(admin, "type="+url.QueryEscape("Recon:Ip/Scanning")+"&subject=ip:203.0.113.50")
		deadline := time.Now().Add(5 * time.Second)
		for !strings.HasPrefix(f.Response, "block-ip 15m0s (repeat 1)") && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			s.must(200, req{method: "GET", path: "/api/v1/admin/findings/" + f.ID, token: admin}).JSON(t, &f)
		}
		if f.Response != "block-ip 15m0s (repeat 1)" {
			t.Fatalf("finding's response %q", f.Response)
		}

		var list blocksOut
		s.must(200, req{method: "GET", path: "/api/v1/admin/blocks", token: admin}).JSON(t, &list)
		var rb responseBlockOut
		for _, b := range list.Responses {
			if b.Subject.Kind == "ip" && b.Subject.ID == "203.0.113.50" {
				rb = b
			}
		}
		if rb.FindingID != f.ID || rb.Action != "block-ip" || rb.Repeat != 1 || !strings.HasPrefix(rb.ID, "rbk_") {
			t.Fatalf("listed %+v, want the block of finding %s", list, f.ID)
		}
		edgeListed := false
		for _, it := range list.Items {
			edgeListed = edgeListed || it.Address == "203.0.113.50" && strings.Contains(it.Reason, f.ID)
		}
		if !edgeListed {
			t.Fatalf("edge list %+v lacks the address with its finding", list.Items)
		}
		if s.metric("bulwark_blocks_active") < 1 {
			t.Fatal("bulwark_blocks_active does not count the block")
		}

		t.Run("bad lifts are refused and change nothing", func(t *testing.T) {
			s.must(404, req{method: "POST", path: "/api/v1/admin/blocks/rbk_aaaaaaaaaaaaaaaaaaaaaaaaaa/lift", token: admin})
			s.must(404, req{method: "POST", path: "/api/v1/admin/blocks/rbk_nope/lift", token: admin})
			s.must(404, req{method: "POST", path: "/api/v1/admin/blocks/blk_zz/lift", token: admin})
			customer := s.login(s.register("shopper@example.com").Email, testPassword)
			s.must(403, req{method: "POST", path: "/api/v1/admin/blocks/" + rb.ID + "/lift", token: customer})
			mustBlocked(t, s.do(products("203.0.113.50")))
		})

		var lifted responseBlockOut
		s.must(200, req{method: "POST", path: "/api/v1/admin/blocks/" + rb.ID + "/lift", token: admin}).JSON(t, &lifted)
		if lifted.ID != rb.ID || !strings.HasPrefix(lifted.LiftedBy, "user ") {
			t.Fatalf("lifted %+v", lifted)
		}
		s.must(200, products("203.0.113.50"))
		s.must(404, req{method: "POST", path: "/api/v1/admin/blocks/" + rb.ID + "/lift", token: admin}) // lifted already
		found := false
		for _, r := range auditActions(t, s) {
			found = found || r.Action == "response.block_lifted" && r.Target == rb.ID
		}
		if !found {
			t.Fatal("the lift was not audited")
		}

		t.Run("a scan again after the lift is blocked twice as long", func(t *testing.T) {
			scanUntilBlocked(t, s, "203.0.113.50", 50)
			var again blocksOut
			deadline := time.Now().Add(5 * time.Second)
			for {
				s.must(200, req{method: "GET", path: "/api/v1/admin/blocks", token: admin}).JSON(t, &again)
				for _, b := range again.Responses {
					if b.Subject.ID == "203.0.113.50" && b.Repeat == 2 {
						// The command line lists it and lifts it.
						code, out, stderr := runCLI(t, s.Config, "", "blocks", "list")
						if code != 0 || !strings.Contains(out, b.ID) || !strings.Contains(out, "ip:203.0.113.50") || !strings.Contains(out, "repeat 2") {
							t.Fatalf("blocks list exited %d: %s%s", code, out, stderr)
						}
						if code, _, stderr = runCLI(t, s.Config, "", "blocks", "lift", "rbk_aaaaaaaaaaaaaaaaaaaaaaaaaa"); code != 1 || !strings.Contains(stderr, "no block") {
							t.Fatalf("lift of an unknown block exited %d: %s", code, stderr)
						}
						mustBlocked(t, s.do(products("203.0.113.50")))
						if code, out, stderr = runCLI(t, s.Config, "", "blocks", "lift", b.ID); code != 0 || !strings.Contains(out, "lifted "+b.ID) {
							t.Fatalf("blocks lift exited %d: %s%s", code, out, stderr)
						}
						// The server's copy of the edge blocks (database) is at most a
						// second old on the shop's clock, which stands still in tests.
						s.Clock.Advance(time.Second)
						deadline := time.Now().Add(2 * time.Second)
						for s.do(products("203.0.113.50")).Status != 200 {
							if time.Now().After(deadline) {
								t.Fatal("the address is still refused after the command line lifted its block")
							}
							time.Sleep(50 * time.Millisecond)
						}
						return
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("no second block: %+v", again.Responses)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})

		t.Run("a third-party page cannot get its visitors blocked", func(t *testing.T) {
			// The attack: another site's page has its visitors' browsers
			// fetch 60 missing paths of the shop (<img> tags): the finding is
			// raised, and the visitor keeps shopping.
			for i := range 60 {
				s.must(404, req{method: "GET", path: fmt.Sprintf("/api/v1/lure-%d.gif", i),
					header: map[string]string{"X-Forwarded-For": "198.51.100.60", "Sec-Fetch-Site": "cross-site"}})
			}
			f := s.waitFinding(admin, "type="+url.QueryEscape("Recon:Ip/Scanning")+"&subject=ip:198.51.100.60")
			time.Sleep(300 * time.Millisecond)
			s.must(200, products("198.51.100.60"))
			s.must(200, req{method: "GET", path: "/api/v1/admin/findings/" + f.ID, token: admin}).JSON(t, &f)
			if !strings.Contains(f.Response, "third-party page") {
				t.Fatalf("finding's response %q", f.Response)
			}
		})

		t.Run("the loopback is never blocked", func(t *testing.T) {
			for i := range 60 {
				s.must(404, req{method: "GET", path: fmt.Sprintf("/api/v1/local-%d", i)})
			}
			time.Sleep(300 * time.Millisecond)
			s.must(200, req{method: "GET", path: "/api/v1/products"})
		})
	})
}

// TestResponseBlockSharedThroughRedis raises a block on one instance and
// finds it enforced on another that shares Redis within a second.
func TestResponseBlockSharedThroughRedis(t *testing.T) {
	redisURL := testenv.RedisURL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "test:" + hex.EncodeToString(b[:]) + ":"
	adjust := func(c *config.Config) {
		c.RedisURL, c.RedisKeyPrefix, c.TrustedProxies = redisURL, prefix, "127.0.0.0/8"
	}
	one := startServer(t, sqliteDB(t), adjust)
	two := startServer(t, sqliteDB(t), adjust)
	two.Clock.Set(one.Clock.Now())
	products := req{method: "GET", path: "/api/v1/products", header: map[string]string{"X-Forwarded-For": "203.0.113.90"}}
	two.must(200, products)
	scanUntilBlocked(t, one, "203.0.113.90", 50)
	blockedAt := time.Now()
	for {
		res := two.do(products)
		if res.Status == 403 {
			mustBlocked(t, res)
			break
		}
		if time.Since(blockedAt) > time.Second {
			t.Fatalf("the second instance still admits the address a second after the first refused it: %d", res.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	two.must(200, req{method: "GET", path: "/api/v1/products", header: map[string]string{"X-Forwarded-For": "203.0.113.91"}})
}

// TestNATCustomersKeepSigningIn: 50 customers share one NAT address; a few
// of them mistype their passwords, enough for a credential-stuffing finding
// on the address. The response prefers the accounts to the address: the
// address is only delayed (its sign-ins take the hash pool's spare
// capacity), so in a quiet shop every one of them still signs in, and no
// block names the address.
func TestNATCustomersKeepSigningIn(t *testing.T) {
	s := startServer(t, sqliteDB(t), func(c *config.Config) { c.TrustedProxies = "127.0.0.0/8" })
	admin := s.createAdmin("nat-admin@example.com")
	nat := map[string]string{"X-Forwarded-For": "192.0.2.10"}
	var emails []string
	for i := range 50 {
		emails = append(emails, s.register(fmt.Sprintf("nat-%d@example.com", i)).Email)
	}
	for _, e := range emails[:8] {
		if res := s.do(req{method: "POST", path: "/api/v1/auth/login", header: nat,
			body: map[string]string{"email": e, "password": "a typo"}}); res.Status != 401 {
			t.Fatalf("mistyped sign-in %d %s", res.Status, res.Body)
		}
	}
	f := s.waitFinding(admin, "type="+url.QueryEscape("CredentialAccess:Ip/CredentialStuffing")+"&subject=ip:192.0.2.10")
	if got := s.waitResponse(admin, f.ID); got != "delay 1h0m0s (repeat 1)" {
		t.Fatalf("response to stuffing from a shared address %q", got)
	}
	if !s.App.CardBlocks.Delayed("192.0.2.10") {
		t.Fatal("the address is not delayed")
	}
	for i, e := range emails {
		if res := s.do(req{method: "POST", path: "/api/v1/auth/login", header: nat,
			body: map[string]string{"email": e, "password": testPassword}}); res.Status != 200 {
			t.Fatalf("customer %d behind the NAT could not sign in: %d %s", i, res.Status, res.Body)
		}
	}
	var list blocksOut
	s.must(200, req{method: "GET", path: "/api/v1/admin/blocks", token: admin}).JSON(t, &list)
	// The delay is listed (and can be lifted) with the responses in force;
	// nothing blocks the address at the edge.
	if len(list.Items) != 0 || len(list.Responses) != 1 || list.Responses[0].Action != "delay" {
		t.Fatalf("blocks after stuffing from a shared address: %+v", list)
	}
}

// TestAccountLockedByResponse: an account block (a response rule that locks
// accounts) refuses sign-in at the login gate from memory, and lifting it
// through the API lets the owner in again.
func TestAccountLockedByResponse(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("lock-admin@example.com")
		u := s.register("locked@example.com")
		now := s.Clock.Now()
		b := resp.Block{ID: id.New(id.Block), Subject: finding.Subject{Kind: finding.Account, ID: u.ID},
			Action: resp.LockAccount, FindingID: id.New(id.Finding), CreatedAt: now, ExpiresAt: now.Add(time.Hour), Repeat: 1}
		if err := s.App.DB.RecordBlock(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		if err := s.App.CardBlocks.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		res := s.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": u.Email, "password": testPassword}})
		if res.Status != 429 || res.Header.Get("Retry-After") == "" {
			t.Fatalf("sign-in to a locked account = %d %s", res.Status, res.Body)
		}
		s.register("other@example.com")
		s.login("other@example.com", testPassword) // another account is not affected
		s.must(200, req{method: "POST", path: "/api/v1/admin/blocks/" + b.ID + "/lift", token: admin})
		s.login(u.Email, testPassword)
	})
}
