package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/app"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/testenv"
	"github.com/bulwark-shop/bulwark/internal/throttle"
)

type findingOut struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Severity int    `json:"severity"`
	Status   string `json:"status"`
	Subject  struct {
		Kind string `json:"kind"`
		ID   string `json:"id"`
	} `json:"subject"`
	Count          int64             `json:"count"`
	Evidence       map[string]string `json:"evidence"`
	Response       string            `json:"response"`
	DetectionPoint string            `json:"detection_point"`
}

// waitFinding lists findings with query until one appears: detection runs
// beside the requests, a moment after them.
func (s *server) waitFinding(token, query string) findingOut {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var page struct{ Items []findingOut }
		s.must(200, req{method: "GET", path: "/api/v1/admin/findings?" + query, token: token}).JSON(s.t, &page)
		if len(page.Items) > 0 {
			return page.Items[0]
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no finding for %s within 10s", query)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitResponse reads the finding's response until the responder has set it
// (it acts a moment after the finding is stored).
func (s *server) waitResponse(token, findingID string) string {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var f findingOut
		s.must(200, req{method: "GET", path: "/api/v1/admin/findings/" + findingID, token: token}).JSON(s.t, &f)
		if f.Response != "log" || time.Now().After(deadline) {
			return f.Response
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFindingsFromRealSignals drives attacks at a real server and reads,
// through the API and the command line, the findings they raise.
func TestFindingsFromRealSignals(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, func(c *config.Config) { c.TrustedProxies = "127.0.0.0/8" })
		admin := s.createAdmin("admin@example.com")
		victim := s.register("victim@example.com")
		from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }

		t.Run("failed sign-ins to one account from several addresses raise a brute-force finding", func(t *testing.T) {
			q := "type=" + url.QueryEscape("CredentialAccess:Account/BruteForce") + "&subject=account:" + victim.ID
			for i := range 10 {
				if i == 9 {
					var page struct{ Items []findingOut }
					s.must(200, req{method: "GET", path: "/api/v1/admin/findings?" + q, token: admin}).JSON(t, &page)
					if len(page.Items) != 0 {
						t.Fatalf("a finding after 9 failures, below the threshold: %+v", page.Items)
					}
				}
				res := s.do(req{method: "POST", path: "/api/v1/auth/login", header: from(fmt.Sprintf("198.51.100.%d", 1+i%4)),
					body: map[string]string{"email": victim.Email, "password": "not the password " + fmt.Sprint(i)}})
				if res.Status != 401 || res.Code(t) != "invalid_credentials" {
					t.Fatalf("failure %d answered %d %s", i+1, res.Status, res.Body)
				}
			}
			f := s.waitFinding(admin, q)
			if f.Status != "active" || f.Severity != 60 || f.DetectionPoint != "AE3" || f.Subject.Kind != "account" ||
				f.Subject.ID != victim.ID || f.Count != 1 || f.Evidence["threshold"] != "10" {
				t.Fatalf("finding %+v", f)
			}
			// The response follows the finding a moment later: step-up, as
			// a lock strangers could set off would keep the customer out.
			if got := s.waitResponse(admin, f.ID); got != "step-up 24h0m0s (repeat 1)" {
				t.Fatalf("response %q", got)
			}
			if strings.Contains(fmt.Sprint(f.Evidence), victim.Email) || strings.Contains(fmt.Sprint(f.Evidence), "not the password") {
				t.Fatalf("evidence holds the email or the password tried: %v", f.Evidence)
			}
			var got findingOut
			s.must(200, req{method: "GET", path: "/api/v1/admin/findings/" + f.ID, token: admin}).JSON(t, &got)
			if got.ID != f.ID || got.Type != "CredentialAccess:Account/BruteForce" {
				t.Fatalf("get %+v", got)
			}

			s.must(200, req{method: "POST", path: "/api/v1/admin/findings/" + f.ID + "/resolve", token: admin}).JSON(t, &got)
			if got.Status != "resolved" {
				t.Fatalf("resolved: %+v", got)
			}
			s.must(200, req{method: "POST", path: "/api/v1/admin/findings/" + f.ID + "/resolve", token: admin}).JSON(t, &got)
			if got.Status != "resolved" {
				t.Fatalf("resolved again: %+v", got)
			}
			res := s.must(409, req{method: "POST", path: "/api/v1/admin/findings/" + f.ID + "/suppress", token: admin})
			if res.Code(t) != "illegal_transition" {
				t.Fatalf("suppress a resolved finding: %s", res.Body)
			}
			var resolves []string
			for _, r := range auditActions(t, s) {
				if r.Action == "finding.resolve" && r.Target == f.ID {
					resolves = append(resolves, r.Actor+" "+r.Detail)
				}
				if r.Action == "finding.suppress" && r.Target == f.ID {
					t.Fatalf("a refused suppress was audited: %+v", r)
				}
			}
			var me user
			s.must(200, req{method: "GET", path: "/api/v1/me", token: admin}).JSON(t, &me)
			if len(resolves) != 1 || !strings.HasPrefix(resolves[0], me.ID+" ") || !strings.Contains(resolves[0], "was active") {
				t.Fatalf("resolve records %q, want one by %s", resolves, me.ID)
			}
			if s.metricSum("bulwark_findings_total") < 1 {
				t.Fatal("bulwark_findings_total did not count the finding")
			}
		})

		t.Run("failed sign-ins with unknown emails from one address raise a stuffing finding", func(t *testing.T) {
			for i := range 6 {
				res := s.do(req{method: "POST", path: "/api/v1/auth/login", header: from("203.0.113.44"),
					body: map[string]any{"email": fmt.Sprintf("nobody-%d@example.net", i), "password": "a guess from a leaked list"}})
				if res.Status != 401 {
					t.Fatalf("sign-in %d: %d %s", i, res.Status, res.Body)
				}
			}
			f := s.waitFinding(admin, "type="+url.QueryEscape("CredentialAccess:Ip/CredentialStuffing")+"&subject=ip:203.0.113.44")
			if f.DetectionPoint != "AE12" || f.Evidence["distinct"] != "account" {
				t.Fatalf("finding %+v", f)
			}
			for k, v := range f.Evidence {
				if strings.Contains(v, "nobody") || strings.Contains(v, "leaked") {
					t.Fatalf("evidence %s holds what was tried: %q", k, v)
				}
			}
		})

		t.Run("404s from one address raise a scanning finding", func(t *testing.T) {
			// Another site's page making a visitor's browser ask for missing
			// paths (a cross-site <img>) is counted — a scanner could send the
			// header to go unseen — but marked as not the visitor's doing.
			for i := range 40 {
				s.must(404, req{method: "GET", path: fmt.Sprintf("/api/v1/pixel-%d.gif", i),
					header: map[string]string{"X-Forwarded-For": "203.0.113.6", "Sec-Fetch-Site": "cross-site"}})
			}
			for i := range 29 {
				s.must(404, req{method: "GET", path: fmt.Sprintf("/api/v1/backup-%d.zip", i), header: from("203.0.113.5")})
			}
			// The thirtieth path carries a terminal escape sequence: kept escaped.
			s.must(404, req{method: "GET", path: "/api/v1/x%1b%5b2Jhidden", header: from("203.0.113.5")})
			f := s.waitFinding(admin, "type="+url.QueryEscape("Recon:Ip/Scanning")+"&subject=ip:203.0.113.5")
			if path := f.Evidence["path"]; f.DetectionPoint != "ACE3" || f.Severity != 40 || !strings.HasPrefix(path, "/api/v1/x%1") ||
				strings.Contains(path, "\x1b") {
				t.Fatalf("finding %+v", f)
			}
			if f.Evidence["site"] != "" {
				t.Fatalf("a scanner's own requests marked %q", f.Evidence["site"])
			}
			if cross := s.waitFinding(admin, "type="+url.QueryEscape("Recon:Ip/Scanning")+"&subject=ip:203.0.113.6"); cross.Evidence["site"] != "cross-site" {
				t.Fatalf("cross-site requests raised %+v, not marked as another site's", cross)
			}

			t.Run("and the command line lists, shows and resolves it", func(t *testing.T) {
				code, out, stderr := runCLI(t, s.Config, "", "findings", "list", "--type", "Recon:Ip/Scanning", "--severity-min", "medium")
				if code != 0 || !strings.Contains(out, f.ID) || !strings.Contains(out, "ip:203.0.113.5") {
					t.Fatalf("list exited %d: %s%s", code, out, stderr)
				}
				code, out, stderr = runCLI(t, s.Config, "", "findings", "show", f.ID)
				if code != 0 || !strings.Contains(out, "detection point: ACE3") || !strings.Contains(out, `path: "/api/v1/x%1`) || strings.Contains(out, "\x1b") {
					t.Fatalf("show exited %d: %s%s", code, out, stderr)
				}
				code, out, stderr = runCLI(t, s.Config, "", "findings", "resolve", f.ID, "--suppress")
				if code != 0 || !strings.Contains(out, "is suppressed") {
					t.Fatalf("suppress exited %d: %s%s", code, out, stderr)
				}
				code, out, stderr = runCLI(t, s.Config, "", "findings", "resolve", f.ID)
				if code != 0 || !strings.Contains(out, "is resolved") {
					t.Fatalf("resolve exited %d: %s%s", code, out, stderr)
				}
				if code, _, stderr = runCLI(t, s.Config, "", "findings", "resolve", f.ID, "--suppress"); code != 1 || !strings.Contains(stderr, "cannot be suppressed") {
					t.Fatalf("suppress a resolved finding exited %d: %s", code, stderr)
				}
				if code, _, _ = runCLI(t, s.Config, "", "findings", "list", "--status", "open"); code != 2 {
					t.Fatalf("a bad status exited %d, want 2", code)
				}
				if code, _, _ = runCLI(t, s.Config, "", "findings", "show", "fnd_aaaaaaaaaaaaaaaaaaaaaaaaaa"); code != 1 {
					t.Fatalf("an unknown finding exited %d, want 1", code)
				}
				var actor string
				for _, r := range auditActions(t, s) {
					if r.Action == "finding.resolve" && r.Target == f.ID {
						actor = r.Actor + " " + r.Detail
					}
				}
				if !strings.HasPrefix(actor, "system ") || !strings.Contains(actor, "from the command line") {
					t.Fatalf("resolve from the command line recorded as %q", actor)
				}
			})
		})

		t.Run("WAF refusals from one address raise a probe finding with the rule ids", func(t *testing.T) {
			attack := req{method: "GET", path: "/api/v1/products?q=" + url.QueryEscape("1' UNION SELECT password FROM users--"), header: from("203.0.113.77")}
			for range 10 {
				s.must(403, attack)
			}
			f := s.waitFinding(admin, "type="+url.QueryEscape("Recon:Ip/WafProbe")+"&subject=ip:203.0.113.77")
			if f.DetectionPoint != "CIE1" || !strings.Contains(f.Evidence["rules"], "942") || f.Evidence["outcome"] != "blocked" {
				t.Fatalf("finding %+v", f)
			}
			// The change routes take no body: an oversized one is refused
			// before anything changes.
			huge := map[string]string{"note": strings.Repeat("a", 2<<20)}
			if res := s.do(req{method: "POST", path: "/api/v1/admin/findings/" + f.ID + "/suppress", token: admin, body: huge}); res.Status != 413 {
				t.Fatalf("a 2 MiB body to suppress: %d %s", res.Status, res.Body)
			}
			var after findingOut
			if s.must(200, req{method: "GET", path: "/api/v1/admin/findings/" + f.ID, token: admin}).JSON(t, &after); after.Status != "active" {
				t.Fatalf("after a refused suppress: %+v", after)
			}
		})

		t.Run("bad filters are refused and nothing else is listed", func(t *testing.T) {
			for q, code := range map[string]string{
				"status=open":          "validation_failed",
				"type=Recon:Ip/Nope":   "validation_failed",
				"severity_min=101":     "validation_failed",
				"severity_min=severe":  "validation_failed",
				"limit=0":              "validation_failed",
				"cursor=not-a-cursor!": "invalid_cursor",
			} {
				res := s.do(req{method: "GET", path: "/api/v1/admin/findings?" + q, token: admin})
				if (res.Status != 422 && res.Status != 400) || res.Code(t) != code {
					t.Errorf("%s answered %d %s, want %s", q, res.Status, res.Body, code)
				}
			}
			s.must(404, req{method: "GET", path: "/api/v1/admin/findings/fnd_aaaaaaaaaaaaaaaaaaaaaaaaaa", token: admin})
			s.must(404, req{method: "POST", path: "/api/v1/admin/findings/nope/resolve", token: admin})
		})

		t.Run("a customer sees no findings", func(t *testing.T) {
			customer := s.login(victim.Email, testPassword)
			s.must(403, req{method: "GET", path: "/api/v1/admin/findings", token: customer})
		})
	})
}

// failingCounter is detection's shared counter (Redis) out of reach.
type failingCounter struct{}

func (failingCounter) Incr(context.Context, string, time.Duration) (int64, error) {
	return 0, errors.New("dial tcp 127.0.0.1:6379: connection refused")
}

func (failingCounter) Count(context.Context, string) (int64, error) {
	return 0, errors.New("dial tcp 127.0.0.1:6379: connection refused")
}

// TestSignInsDoNotDependOnDetection: with detection failing on every
// signal, sign-ins answer exactly as they do without it, and the failures
// are counted and logged.
func TestSignInsDoNotDependOnDetection(t *testing.T) {
	s := startServerOpts(t, sqliteDB(t), []app.Option{app.WithDetectionCounter(failingCounter{})})
	u := s.register("calm@example.com")
	res := s.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": u.Email, "password": "wrong wrong wrong"}})
	if res.Status != 401 || res.Code(t) != "invalid_credentials" {
		t.Fatalf("wrong password answered %d %s", res.Status, res.Body)
	}
	if token := s.login(u.Email, testPassword); token == "" {
		t.Fatal("no session")
	}
	s.must(404, req{method: "GET", path: "/api/v1/no-such-thing"})
	deadline := time.Now().Add(10 * time.Second)
	// The failed sign-in and the 404 fail in detection's counter (the
	// session started is counted by no default detector).
	for s.failedSignals() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("failed signals = %v, want 2 (a failed sign-in, a 404)", s.failedSignals())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Logged once, not per signal: with Redis down every signal fails.
	if n := strings.Count(s.Logs.String(), "threat: signal not processed"); n != 1 {
		t.Fatalf("the failures were logged %d times, want once", n)
	}
}

func (s *server) failedSignals() float64 {
	return s.metric(`bulwark_signals_total{outcome="failed"}`)
}

// TestTakeoverSuspected: a customer signs in from home and changes a
// password there (nothing); a sign-in from a new network followed by a
// password change from it raises Impact:Account/TakeoverSuspected about the
// account, whose response asks for step-up; on both engines.
func TestTakeoverSuspected(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, func(c *config.Config) { c.TrustedProxies = "127.0.0.0/8" })
		admin := s.createAdmin("takeover-admin@example.com")
		u := s.register("takeover-victim@example.com")
		loginFrom := func(ip, password string) string {
			var out struct{ Token string }
			s.must(200, req{method: "POST", path: "/api/v1/auth/login", header: map[string]string{"X-Forwarded-For": ip},
				body: map[string]string{"email": "takeover-victim@example.com", "password": password}}).JSON(t, &out)
			return out.Token
		}
		changeFrom := func(ip, token, from, to string) {
			s.must(204, req{method: "PUT", path: "/api/v1/me/password", token: token, header: map[string]string{"X-Forwarded-For": ip},
				body: map[string]string{"current_password": from, "new_password": to}})
		}
		home := loginFrom("198.51.100.20", testPassword)
		loginFrom("198.51.100.21", testPassword)
		changeFrom("198.51.100.21", home, testPassword, "a new passphrase of the owner")
		time.Sleep(300 * time.Millisecond) // detection runs beside the requests
		var none struct{ Items []findingOut }
		s.must(200, req{method: "GET", path: "/api/v1/admin/findings?type=" + url.QueryEscape("Impact:Account/TakeoverSuspected"), token: admin}).JSON(t, &none)
		if len(none.Items) != 0 {
			t.Fatalf("a change from the home network raised %+v", none.Items)
		}

		thief := loginFrom("203.0.113.66", "a new passphrase of the owner")
		changeFrom("203.0.113.66", thief, "a new passphrase of the owner", "the thief's passphrase now")
		f := s.waitFinding(admin, "type="+url.QueryEscape("Impact:Account/TakeoverSuspected")+"&subject=account:"+u.ID)
		if f.Evidence["change"] != "password" || f.Evidence["network"] != "203.0.113.0/24" || f.Severity != 80 {
			t.Fatalf("finding %+v", f)
		}
		if got := s.waitResponse(admin, f.ID); got != "step-up 24h0m0s (repeat 1)" {
			t.Fatalf("response %q", got)
		}
		// Step-up: the sessions begun before the finding must sign in again
		// for what needs a recent login; a new sign-in may.
		export := func(token string) response {
			return s.do(req{method: "GET", path: "/api/v1/me/export", token: token, header: map[string]string{"X-Forwarded-For": "203.0.113.66"}})
		}
		if res := export(thief); res.Status != 401 || res.Code(t) != "reauthentication_required" {
			t.Fatalf("the session that made the change exports: %d %s", res.Status, res.Body)
		}
		s.must(200, req{method: "GET", path: "/api/v1/me", token: thief}) // browsing goes on
		s.Clock.Advance(time.Second)                                      // the shop's clock stands still otherwise
		fresh := loginFrom("198.51.100.20", "the thief's passphrase now")
		if res := export(fresh); res.Status != 200 {
			t.Fatalf("a new sign-in after the step-up: %d %s", res.Status, res.Body)
		}
	})
}

// TestFindingAlerts: a finding raised at or above alert-severity is sent to
// a webhook endpoint subscribed to finding.raised (signed as every
// delivery) and mailed to alert-email; one below it is neither; on both
// engines.
func TestFindingAlerts(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, allowLoopback, func(c *config.Config) {
			c.TrustedProxies, c.AlertSeverity, c.AlertEmail = "127.0.0.0/8", 50, "security@example.com"
		})
		recv := newHookReceiver(t)
		admin := s.createAdmin("alerts-admin@example.com")
		var hook webhookJSON
		s.must(201, req{method: "POST", path: "/api/v1/admin/webhooks", token: admin,
			body: map[string]any{"url": hookURL(recv.Server), "events": []string{"finding.raised"}}}).JSON(t, &hook)

		// Scanning (severity 40): below the threshold.
		for i := range 30 {
			s.do(req{method: "GET", path: fmt.Sprintf("/api/v1/nothing-here-%d", i), header: map[string]string{"X-Forwarded-For": "198.51.100.40"}})
		}
		scan := s.waitFinding(admin, "type="+url.QueryEscape("Recon:Ip/Scanning"))
		// WAF probing (severity 60): above it.
		for i := range 10 {
			s.do(req{method: "GET", path: "/api/v1/products?q=%3Cscript%3Ealert(" + fmt.Sprint(i) + ")%3C%2Fscript%3E",
				header: map[string]string{"X-Forwarded-For": "198.51.100.41"}})
		}
		probe := s.waitFinding(admin, "type="+url.QueryEscape("Recon:Ip/WafProbe"))

		call := recv.next(t)
		if err := verifyHook(hook.Secret, call, s.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		var event struct {
			Type string
			Data struct {
				ID, Type    string
				SubjectKind string `json:"subject_kind"`
				SubjectID   string `json:"subject_id"`
				Severity    int
			}
		}
		if err := json.Unmarshal(call.Body, &event); err != nil {
			t.Fatal(err)
		}
		if event.Type != "finding.raised" || event.Data.ID != probe.ID || event.Data.Type != "Recon:Ip/WafProbe" ||
			event.Data.SubjectID != "198.51.100.41" || event.Data.Severity != 60 {
			t.Fatalf("the alert event %s", call.Body)
		}
		mailed := s.waitMail("security@example.com", probe.ID)
		if !strings.Contains(mailed, "Recon:Ip/WafProbe") || strings.Contains(mailed, scan.ID) {
			t.Fatalf("the alert mail: %s", mailed)
		}
		select {
		case c := <-recv.Calls:
			t.Fatalf("a second alert (the scan is below the threshold?): %s", c.Body)
		case <-time.After(500 * time.Millisecond):
		}
		for _, m := range s.mailsTo("security@example.com") {
			if strings.Contains(m, scan.ID) {
				t.Fatalf("the scan below the threshold was mailed: %s", m)
			}
		}
	})
}

// signalsOf reads bulwark_signals_received_total for kind.
func (s *server) signalsOf(kind string) float64 {
	return s.metric(`bulwark_signals_received_total{kind="` + kind + `"}`)
}

// TestEveryLayerReportsSignals: registrations, password resets, lockouts,
// refused authorizations (401 and 403) and bot-trap fetches reach threat
// detection as signals of their kinds, beside sign-ins, 404s, WAF refusals,
// declines and account changes (whose detectors test them).
func TestEveryLayerReportsSignals(t *testing.T) {
	s := startServer(t, sqliteDB(t), func(c *config.Config) { c.TrustedProxies = "127.0.0.0/8" })
	u := s.register("signals-customer@example.com")
	token := s.login(u.Email, testPassword)
	from := map[string]string{"X-Forwarded-For": "198.51.100.77"}

	s.do(req{method: "GET", path: "/api/v1/admin/findings", header: from})               // 401: no session
	s.do(req{method: "GET", path: "/api/v1/admin/findings", token: token, header: from}) // 403: a customer
	s.must(202, req{method: "POST", path: "/api/v1/auth/register", header: from,
		body: map[string]string{"email": "signals-new@example.com", "password": testPassword, "name": "New"}})
	s.must(202, req{method: "POST", path: "/api/v1/auth/password-reset", header: from, body: map[string]string{"email": u.Email}})
	for i := range throttle.PairFailures {
		s.do(req{method: "POST", path: "/api/v1/auth/login", header: from,
			body: map[string]string{"email": u.Email, "password": fmt.Sprintf("wrong %d", i)}})
	}
	s.do(req{method: "GET", path: edge.TrapPath, header: from})
	admin := s.createAdmin("signals-admin@example.com")
	buyer := s.shopper("signals-buyer@example.com", "4242424242424242")
	var o struct{ ID string }
	s.must(201, checkoutReq(buyer, "signals-1", s.cartWith(buyer, 1, s.createProduct(admin, "SIGNALS-1", 10).ID), "123")).JSON(t, &o)
	s.must(200, req{method: "POST", path: "/api/v1/admin/orders/" + o.ID + "/refund", token: admin,
		header: map[string]string{"Idempotency-Key": "signals-refund"}, body: map[string]any{}})
	deadline := time.Now().Add(5 * time.Second)
	for _, kind := range []string{"http.access_refused", "account.registration_asked", "account.reset_asked", "login.locked", "edge.bot_trap", "login.failed",
		"payment.refunded", "payment.authorized"} {
		for s.signalsOf(kind) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no %s signal", kind)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if n := s.signalsOf("http.access_refused"); n < 2 {
		t.Fatalf("%v access-refused signals, want the 401 and the 403", n)
	}
}
