package app_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// consoleSignin signs email in on the console's sign-in page in the
// browser: the password, and the code of the next time step (as
// loginWithMFA: the current one may have confirmed the enrolment). The
// password alone gets the form again, asking for the code.
func (b *browser) consoleSignin(s *server, email string, shot string) {
	b.t.Helper()
	b.visit("/console/signin", shot)
	b.fill("#email", email)
	b.fill("#password", testPassword)
	b.submit("#password")
	b.check("")
	b.mustSee("needs its second factor")
	code, err := totp.GenerateCode(s.secrets[email], s.now().Add(30*time.Second))
	if err != nil {
		b.t.Fatal(err)
	}
	b.fill("#password", testPassword)
	b.fill("#signin-otp", code)
	b.submit("#signin-otp")
}

// bruteForceFinding raises a brute-force finding against a new account:
// ten wrong passwords from four addresses (the server trusts loopback as
// its proxy) and returns the finding's id.
func (s *server) bruteForceFinding(admin, email string) string {
	s.t.Helper()
	victim := s.register(email)
	for i := range 10 {
		s.must(401, req{method: "POST", path: "/api/v1/auth/login", header: map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", 1+i%4)},
			body: map[string]string{"email": victim.Email, "password": "not the password " + fmt.Sprint(i)}})
	}
	return s.waitFinding(admin, "subject=account:"+victim.ID).ID
}

// heldOrder places, as a new customer, an order fraud scoring holds for
// review (a new account's big order, as in TestFraudReview).
func (s *server) heldOrder(admin, email, sku string) scoredOrder {
	s.t.Helper()
	p := s.createProduct(admin, sku, 1000)
	buyer := s.shopper(email, "4242424242424242")
	var held scoredOrder
	s.must(201, checkoutReq(buyer, "held-"+sku, s.cartWith(buyer, 60, p.ID), "123")).JSON(s.t, &held)
	if held.Status != "pending_review" {
		s.t.Fatalf("the order was not held for review: %s", held.Status)
	}
	return held
}

// TestStaffJourneyInBrowser: a finance staff member signs in on the
// console with password and code, finds a held order in the review queue
// and approves it; an admin then reads the approval in the audit log, with
// the finance member as its actor, verified against a signed checkpoint;
// and walks the security pages. Every page passes the browser's checks
// (CSP, no inline script or style, labels, axe-core WCAG 2.1 AA).
func TestStaffJourneyInBrowser(t *testing.T) {
	onEngine(t, "postgres", func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, func(c *config.Config) { c.TrustedProxies = "127.0.0.0/8" })
		const adminEmail, financeEmail = "console-admin@example.com", "console-finance@example.com"
		admin := s.createAdmin(adminEmail)
		var finance user
		s.must(200, req{method: "GET", path: "/api/v1/me", token: s.staff(admin, financeEmail, "finance")}).JSON(t, &finance)
		held := s.heldOrder(admin, "console-buyer@example.com", "CONSOLE-1")
		findingID := s.bruteForceFinding(admin, "console-victim@example.com")

		b := newBrowser(t, s)
		b.consoleSignin(s, financeEmail, "console-signin")
		if got := b.location(); !strings.HasPrefix(got, "/console") {
			t.Fatalf("after the sign-in: %s", got)
		}
		b.check("console-home")
		b.mustSee("Orders awaiting review")
		if strings.Contains(b.text(), "Open findings") {
			t.Fatal("finance sees the findings tile (findings:read is admin-only)")
		}

		b.visit("/console/reviews", "console-reviews")
		b.mustSee(held.ID, "new_account_big_order", "default-3")
		b.visit("/console/reviews/"+held.ID, "")
		b.mustSee("account_age_hours", "Approve and capture")
		b.click("#approve")
		b.check("")
		b.mustSee("The order is approved.", "No order is waiting for review.")
		var o scoredOrder
		s.must(200, req{method: "GET", path: "/api/v1/admin/orders/" + held.ID, token: admin}).JSON(t, &o)
		if o.Status != "paid" || o.Label != "legitimate" {
			t.Fatalf("the approved order: %s, label %q", o.Status, o.Label)
		}
		// Finance may not read the audit log (audit:read is admin-only): the
		// menu does not offer it (the page is the API's 403: the HTTP tests).
		if eval[bool](b, `!!document.querySelector('nav.side a[href="/console/audit"]')`) {
			t.Fatal("finance is offered the audit log")
		}
		b.click("header form button")
		b.check("")

		// The admin reads the approval, checked against a signed checkpoint.
		auditCheckpoint(t, s.Config)
		b.consoleSignin(s, adminEmail, "")
		b.check("")
		b.mustSee("Open findings", "Findings first seen, last 14 days", "The latest orders by outcome")
		b.visit("/console/audit?actor="+finance.ID, "console-audit")
		b.mustSee(finance.ID, held.ID, "Verified against checkpoint")
		if !strings.Contains(b.text(), "order.") {
			t.Fatalf("no order record of the approval in the audit page:\n%s", b.text())
		}

		b.visit("/console/findings?status=active", "console-findings")
		b.mustSee("CredentialAccess:Account/BruteForce")
		b.visit("/console/findings/"+findingID, "console-finding")
		b.mustSee("threshold")
		b.click("#resolve")
		b.check("")
		b.mustSee("The finding is resolved.")
		b.visit("/console/blocks", "console-blocks")
		b.visit("/console/posture", "console-posture")
		b.mustSee("Failing controls", "Score history")
		b.visit("/console/assurance", "console-assurance")
		b.mustSee("File integrity", "Sensitive-data discovery", "Backups and restore drills")
		b.visit("/console/encryption", "console-encryption")
		b.mustSee("Key-encryption key", "Keyset pii", "primary (encrypts)", "Re-encryption:")
		b.visit("/console/fraud-rules", "console-fraud-rules")
		b.mustSee("new_account_big_order")
		b.visit("/console", "console-home-admin")
	})
}

// consoleGet fetches a console page with the session token as the
// browser's cookie and extra headers, and returns the status and the page.
func (s *server) consoleGet(token, path string, header map[string]string) (int, string) {
	s.t.Helper()
	return s.consoleDo(http.MethodGet, token, path, nil, header)
}

func (s *server) consoleDo(method, token, path string, form url.Values, header map[string]string) (int, string) {
	s.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		r.AddCookie(&http.Cookie{Name: "__Host-bulwark_session", Value: token})
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	c := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(r)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// TestSecurityConsoleRefusals: the console's security pages show only what
// the API lets the visitor read, refuse forged forms, and answer no
// navigation from another site with staff data.
func TestSecurityConsoleRefusals(t *testing.T) {
	onEngine(t, "sqlite", func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, func(c *config.Config) { c.TrustedProxies = "127.0.0.0/8" })
		admin := s.createAdmin("refusals-admin@example.com")
		support := s.staff(admin, "refusals-support@example.com", "support")
		s.staff(admin, "refusals-finance@example.com", "finance")
		finance := s.loginWithMFA("refusals-finance@example.com", s.secrets["refusals-finance@example.com"])
		held := s.heldOrder(admin, "refusals-buyer@example.com", "REFUSE-1")
		findingID := s.bruteForceFinding(admin, "refusals-victim@example.com")

		t.Run("support opening the review queue gets the API's 403 and no order", func(t *testing.T) {
			status, page := s.consoleGet(support, "/console/reviews", nil)
			if status != 403 || strings.Contains(page, held.ID) || strings.Contains(page, "new_account_big_order") {
				t.Fatalf("support on /console/reviews: %d\n%s", status, page)
			}
			// The order itself support may read (orders:read), never its risk.
			if _, page := s.consoleGet(support, "/console/reviews/"+held.ID, nil); strings.Contains(page, "account_age_hours") ||
				strings.Contains(page, "new_account_big_order") || strings.Contains(page, "Approve") {
				t.Fatalf("support on the held order's review:\n%s", page)
			}
		})

		t.Run("a customer opening the findings gets 403 and no finding", func(t *testing.T) {
			customer := s.login(s.register("refusals-customer@example.com").Email, testPassword)
			for _, path := range []string{"/console/findings", "/console/findings/" + findingID, "/console/audit", "/console/posture", "/console/assurance", "/console"} {
				status, page := s.consoleGet(customer, path, nil)
				if status != 403 || strings.Contains(page, findingID) || strings.Contains(page, "BruteForce") {
					t.Fatalf("a customer on %s: %d\n%s", path, status, page)
				}
			}
		})

		t.Run("signed out, a console page sends to the sign-in", func(t *testing.T) {
			status, page := s.consoleGet("", "/console/findings", nil)
			if status != 303 || strings.Contains(page, findingID) {
				t.Fatalf("signed out: %d\n%s", status, page)
			}
		})

		t.Run("the approve form without the CSRF token changes nothing", func(t *testing.T) {
			csrf := "c" + strings.Repeat("x", 42)
			for _, form := range []url.Values{{}, {"csrf": {"forged" + strings.Repeat("y", 37)}}} {
				status, _ := s.consoleDo(http.MethodPost, finance, "/console/reviews/"+held.ID+"/approve", form,
					map[string]string{"Cookie": "__Host-bulwark_session=" + finance + "; __Host-bulwark_csrf=" + csrf})
				if status != 403 {
					t.Fatalf("approve with csrf %q: %d", form.Get("csrf"), status)
				}
			}
			// From another site, even with the right token.
			status, _ := s.consoleDo(http.MethodPost, finance, "/console/reviews/"+held.ID+"/approve", url.Values{"csrf": {csrf}},
				map[string]string{"Cookie": "__Host-bulwark_session=" + finance + "; __Host-bulwark_csrf=" + csrf, "Sec-Fetch-Site": "cross-site"})
			if status != 403 {
				t.Fatalf("approve from another site: %d", status)
			}
			var o scoredOrder
			s.must(200, req{method: "GET", path: "/api/v1/admin/orders/" + held.ID, token: admin}).JSON(t, &o)
			if o.Status != "pending_review" {
				t.Fatalf("a forged approval changed the order: %s", o.Status)
			}
			// The same form with the token approves: the refusal above was the token's.
			status, _ = s.consoleDo(http.MethodPost, finance, "/console/reviews/"+held.ID+"/approve", url.Values{"csrf": {csrf}},
				map[string]string{"Cookie": "__Host-bulwark_session=" + finance + "; __Host-bulwark_csrf=" + csrf})
			s.must(200, req{method: "GET", path: "/api/v1/admin/orders/" + held.ID, token: admin}).JSON(t, &o)
			if status != 303 || o.Status != "paid" {
				t.Fatalf("approve with the token: %d, order %s", status, o.Status)
			}
		})

		t.Run("staff without a second factor see the enrolment message, not data", func(t *testing.T) {
			u := s.register("refusals-unenrolled@example.com")
			s.grantRoles(admin, u.ID, "admin")
			token := s.login(u.Email, testPassword)
			for _, path := range []string{"/console/findings", "/console/reviews", "/console/audit"} {
				status, page := s.consoleGet(token, path, nil)
				if status != 403 || !strings.Contains(page, "two-factor authentication") || strings.Contains(page, findingID) {
					t.Fatalf("unenrolled staff on %s: %d\n%s", path, status, page)
				}
			}
			status, page := s.consoleGet(token, "/console", nil)
			if status != 200 || !strings.Contains(page, "two-factor authentication") || strings.Contains(page, "Open findings") {
				t.Fatalf("unenrolled staff on the overview: %d\n%s", status, page)
			}
		})

		t.Run("a navigation from another site shows no staff data", func(t *testing.T) {
			cross := map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
			for _, path := range []string{"/console/findings", "/console/findings/" + findingID, "/console/audit", "/console/blocks"} {
				status, page := s.consoleGet(admin, path, cross)
				if status != 403 || strings.Contains(page, findingID) || strings.Contains(page, "BruteForce") {
					t.Fatalf("cross-site navigation to %s: %d\n%s", path, status, page)
				}
			}
			status, page := s.consoleGet(admin, "/console", cross)
			if strings.Contains(page, "Open findings") || strings.Contains(page, "Needs attention") {
				t.Fatalf("cross-site navigation to the overview: %d\n%s", status, page)
			}
			// The same page from this site shows them.
			if status, page := s.consoleGet(admin, "/console/findings", map[string]string{"Sec-Fetch-Site": "same-origin"}); status != 200 || !strings.Contains(page, findingID) {
				t.Fatalf("same-origin findings: %d\n%s", status, page)
			}
		})

		// Last: the step-up ends the admin's session it replaces.
		t.Run("a change needing a recent sign-in asks for the password and code, and signs in anew", func(t *testing.T) {
			s.Clock.Advance(6 * time.Minute)
			csrf := "s" + strings.Repeat("z", 42)
			cookies := map[string]string{"Cookie": "__Host-bulwark_session=" + admin + "; __Host-bulwark_csrf=" + csrf}
			path := "/console/findings/" + findingID + "/resolve"
			status, page := s.consoleDo(http.MethodPost, admin, path, url.Values{"csrf": {csrf}}, cookies)
			if status != 403 || !strings.Contains(page, "Confirm it is you") || !strings.Contains(page, `action="`+path+`"`) {
				t.Fatalf("a resolve with a sign-in 6 minutes old: %d\n%s", status, page)
			}
			status, page = s.consoleDo(http.MethodPost, admin, path, url.Values{"csrf": {csrf}, "password": {"not the password"}, "otp": {"123456"}}, cookies)
			if status != 403 || !strings.Contains(page, "Confirm it is you") {
				t.Fatalf("a resolve with a wrong password: %d\n%s", status, page)
			}
			code, err := totp.GenerateCode(s.secrets["refusals-admin@example.com"], s.now().Add(30*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			status, _ = s.consoleDo(http.MethodPost, admin, path, url.Values{"csrf": {csrf}, "password": {testPassword}, "otp": {code}}, cookies)
			var f struct{ Status string }
			s.Clock.Advance(30 * time.Second) // the next code: each works once
			fresh := s.loginWithMFA("refusals-admin@example.com", s.secrets["refusals-admin@example.com"])
			s.must(200, req{method: "GET", path: "/api/v1/admin/findings/" + findingID, token: fresh}).JSON(t, &f)
			if status != 303 || f.Status != "resolved" {
				t.Fatalf("a resolve with the password and code: %d, finding %s", status, f.Status)
			}
			s.must(401, req{method: "GET", path: "/api/v1/me", token: admin}) // the replaced session ended
		})
	})
}

// TestConsoleAuditBadgeIsHonest: the audit page's badge says the records
// verify against the signed checkpoint only while they do: a record
// edited in the database behind the server's back makes it say "Does not
// verify", naming the record.
func TestConsoleAuditBadgeIsHonest(t *testing.T) {
	onEngine(t, "sqlite", func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("badge-admin@example.com")
		for i := range 3 {
			s.createProduct(admin, fmt.Sprintf("BADGE-%d", i), 1)
		}
		_, page := s.consoleGet(admin, "/console/audit", nil)
		if !strings.Contains(page, "No checkpoint yet") && !strings.Contains(page, "Verified against checkpoint") {
			t.Fatalf("before a checkpoint the page says neither:\n%s", page)
		}
		auditCheckpoint(t, s.Config)
		status, page := s.consoleGet(admin, "/console/audit?action=product.create", nil)
		if status != 200 || !strings.Contains(page, "Verified against checkpoint") || strings.Contains(page, "Does not verify") {
			t.Fatalf("after the checkpoint: %d\n%s", status, page)
		}
		_, page = s.consoleGet(admin, "/console/audit", nil)
		if !strings.Contains(page, "Verified against checkpoint") {
			t.Fatalf("the whole log after the checkpoint:\n%s", page)
		}

		raw := rawDB(t, s.Config)
		dropTriggers(t, raw, db.Engine)
		var seq int64
		if err := raw.QueryRow("SELECT seq FROM audit_records WHERE action = 'product.create' ORDER BY seq LIMIT 1 OFFSET 1").Scan(&seq); err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec("UPDATE audit_records SET detail = 'nothing happened' WHERE seq = $1", seq); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/console/audit?action=product.create", "/console/audit"} {
			_, page = s.consoleGet(admin, path, nil)
			if !strings.Contains(page, "Does not verify") || !strings.Contains(page, fmt.Sprintf("record %d does not match its hash", seq)) ||
				strings.Contains(page, "Verified against checkpoint") {
				t.Fatalf("%s after record %d was edited:\n%s", path, seq, page)
			}
		}
	})
}
