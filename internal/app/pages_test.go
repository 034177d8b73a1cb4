package app_test

import (
	"crypto/sha512"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/testenv"
	"github.com/bulwark-shop/bulwark/internal/waf"
)

// visitor is a browser without a browser: it keeps the cookies the pages
// set (Secure ones too: the test server is plain HTTP on loopback), sends
// the headers a browser sends on a same-origin form, and follows no
// redirect, so a test sees each answer.
type visitor struct {
	t       *testing.T
	s       *server
	cookies map[string]string
	client  *http.Client
}

func newVisitor(t *testing.T, s *server) *visitor {
	return &visitor{t: t, s: s, cookies: map[string]string{},
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is one answer of the pages.
type pageAnswer struct {
	Status int
	Header http.Header
	Body   string
}

// request sends method path with form (nil for none) and extra headers.
func (v *visitor) request(method, path string, form url.Values, header map[string]string) pageAnswer {
	v.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r, err := http.NewRequest(method, v.s.URL+path, body)
	if err != nil {
		v.t.Fatal(err)
	}
	r.Header.Set("Accept", "text/html,application/xhtml+xml")
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Origin", v.s.URL)
		r.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for name, value := range v.cookies {
		r.AddCookie(&http.Cookie{Name: name, Value: value})
	}
	for k, val := range header {
		r.Header.Set(k, val)
	}
	res, err := v.client.Do(r)
	if err != nil {
		v.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		v.t.Fatal(err)
	}
	for _, c := range res.Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			delete(v.cookies, c.Name)
		} else {
			v.cookies[c.Name] = c.Value
		}
	}
	return pageAnswer{Status: res.StatusCode, Header: res.Header, Body: string(b)}
}

func (v *visitor) get(path string) pageAnswer {
	v.t.Helper()
	return v.request(http.MethodGet, path, nil, nil)
}

// post sends a form with the visitor's CSRF token (taken from a page it
// got), as a page of this site would.
func (v *visitor) post(path string, form url.Values) pageAnswer {
	v.t.Helper()
	if _, ok := v.cookies["__Host-bulwark_csrf"]; !ok {
		v.get("/signin")
	}
	form.Set("csrf", v.cookies["__Host-bulwark_csrf"])
	return v.request(http.MethodPost, path, form, nil)
}

// signIn signs in through the sign-in form, with the account's TOTP code
// when it has one (the password and the code go together).
func (v *visitor) signIn(email string) {
	v.t.Helper()
	form := url.Values{"email": {email}, "password": {testPassword}}
	if secret := v.s.secrets[email]; secret != "" {
		form.Set("otp", totpAt(v.t, v.s, secret))
	}
	if a := v.post("/signin", form); a.Status != http.StatusSeeOther {
		v.t.Fatalf("sign-in as %s: %d\n%s", email, a.Status, a.Body)
	}
}

// TestPages runs the pages' HTTP tests that need only a server as shipped on
// one server (each server start costs seconds under -race).
func TestPages(t *testing.T) {
	onEngine(t, "sqlite", func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		t.Run("headers", func(t *testing.T) { testPagesHeaders(t, s) })
		t.Run("assets", func(t *testing.T) { testPagesAssets(t, s) })
		t.Run("forms", func(t *testing.T) { testPagesForms(t, s) })
		t.Run("CSP reports", func(t *testing.T) { testPagesCSPReports(t, s) })
		t.Run("reset and erasure", func(t *testing.T) { testPagesResetAndErasure(t, s) })
	})
}

// testPagesHeaders: every page carries the pages' strict policy, and the
// API keeps its own; / is a page for a browser and JSON for anyone else.
func testPagesHeaders(t *testing.T, s *server) {
	v := newVisitor(t, s)
	for _, path := range []string{"/", "/signin", "/signup", "/console/signin", "/reset-password", "/verify-email", "/no-such-page/x"} {
		a := v.get(path)
		if path != "/no-such-page/x" && a.Status != http.StatusOK {
			t.Fatalf("GET %s = %d", path, a.Status)
		}
		if path == "/no-such-page/x" {
			continue // not a page: the API's 404
		}
		csp := a.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'", "report-uri /csp-report"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: CSP %q allows something unsafe", path, csp)
		}
		if ct := a.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
		if a.Header.Get("X-Frame-Options") != "DENY" || a.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: framing or caching headers %v", path, a.Header)
		}
		if strings.Contains(a.Body, "<script>") || strings.Contains(a.Body, " style=") || regexp.MustCompile(`<[^>]+ on[a-z]+=`).MatchString(a.Body) {
			t.Errorf("GET %s: inline script, style or handler in the page", path)
		}
		for _, m := range regexp.MustCompile(`<(?:script|link)[^>]+(?:src|href)="(/assets/[^"]+)"[^>]*>`).FindAllStringSubmatch(a.Body, -1) {
			if !strings.Contains(m[0], `integrity="sha384-`) && !strings.Contains(m[0], `rel="icon"`) {
				t.Errorf("GET %s: asset without integrity: %s", path, m[0])
			}
		}
	}
	c := s.do(req{method: "GET", path: "/csp-report"})
	if c.Status != http.StatusMethodNotAllowed {
		t.Errorf("GET /csp-report = %d, want 405", c.Status)
	}
	api := s.must(200, req{method: "GET", path: "/"})
	var root struct{ OpenAPI string }
	api.JSON(t, &root)
	if root.OpenAPI == "" || api.Header.Get("Content-Security-Policy") != "default-src 'none'; frame-ancestors 'none'" {
		t.Errorf("GET / without Accept: text/html is the API's JSON with its policy: %s %v", api.Body, api.Header)
	}
}

// testPagesAssets: an asset's URL carries its version; that URL is cached
// for good, another version is not served, and the integrity value in the
// page is the file's SHA-384.
func testPagesAssets(t *testing.T, s *server) {
	v := newVisitor(t, s)
	page := v.get("/")
	m := regexp.MustCompile(`href="(/assets/site\.css\?v=[0-9a-f]+)" integrity="(sha384-[^"]+)"`).FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("no stylesheet link in the page:\n%s", page.Body)
	}
	css := v.get(strings.ReplaceAll(m[1], "&amp;", "&"))
	if css.Status != 200 || !strings.Contains(css.Header.Get("Cache-Control"), "immutable") || css.Header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Fatalf("stylesheet: %d %v", css.Status, css.Header)
	}
	if got := sriOf([]byte(css.Body)); got != strings.ReplaceAll(m[2], "&#43;", "+") {
		t.Errorf("integrity %s, the file's is %s", m[2], got)
	}
	if a := v.get("/assets/site.css?v=0000"); a.Status != http.StatusNotFound {
		t.Errorf("another version: %d, want 404", a.Status)
	}
	if a := v.get("/assets/..%2fgo.mod"); a.Status != http.StatusNotFound && a.Status != http.StatusForbidden {
		t.Errorf("a path out of the assets: %d, want 404 (or the firewall's 403)", a.Status)
	}
}

// testPagesForms: a form needs the visitor's CSRF token and must come from
// this origin; a sign-in's "next" cannot send anyone to another site.
func testPagesForms(t *testing.T, s *server) {
	s.register("forms@example.com")
	v := newVisitor(t, s)
	v.get("/signin")
	good := url.Values{"email": {"forms@example.com"}, "password": {testPassword}}

	t.Run("no token", func(t *testing.T) {
		a := v.request(http.MethodPost, "/signin", good, nil)
		if a.Status != http.StatusForbidden || v.cookies["__Host-bulwark_session"] != "" {
			t.Fatalf("a sign-in without the token: %d, session %q", a.Status, v.cookies["__Host-bulwark_session"])
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		f := url.Values{"csrf": {strings.Repeat("A", 43)}}
		for k, vals := range good {
			f[k] = vals
		}
		if a := v.request(http.MethodPost, "/signin", f, nil); a.Status != http.StatusForbidden {
			t.Fatalf("a sign-in with another token: %d", a.Status)
		}
	})
	t.Run("another site's form", func(t *testing.T) {
		f := url.Values{"csrf": {v.cookies["__Host-bulwark_csrf"]}}
		for k, vals := range good {
			f[k] = vals
		}
		a := v.request(http.MethodPost, "/signin", f, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
		if a.Status != http.StatusForbidden || v.cookies["__Host-bulwark_session"] != "" {
			t.Fatalf("a cross-site sign-in (login CSRF): %d", a.Status)
		}
	})
	t.Run("next stays on the site", func(t *testing.T) {
		for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"} {
			w := newVisitor(t, s)
			a := w.post("/signin", url.Values{"email": {"forms@example.com"}, "password": {testPassword}, "next": {next}})
			if a.Status == http.StatusForbidden && strings.Contains(next, "javascript:") {
				continue // the firewall refused it first (CRS: an XSS vector)
			}
			if a.Status != http.StatusSeeOther || !strings.HasPrefix(a.Header.Get("Location"), "/account") {
				t.Errorf("next=%q: %d to %q", next, a.Status, a.Header.Get("Location"))
			}
		}
		w := newVisitor(t, s)
		a := w.post("/signin", url.Values{"email": {"forms@example.com"}, "password": {testPassword}, "next": {"/search?q=mug"}})
		if a.Header.Get("Location") != "/search?q=mug&done=signed-in" {
			t.Errorf("a next on the site: %q", a.Header.Get("Location"))
		}
	})
	t.Run("a wrong password", func(t *testing.T) {
		w := newVisitor(t, s)
		a := w.post("/signin", url.Values{"email": {"forms@example.com"}, "password": {"not the password at all"}})
		if a.Status != http.StatusUnauthorized && a.Status != http.StatusUnprocessableEntity {
			t.Errorf("a wrong password: %d", a.Status)
		}
		if strings.Contains(a.Body, "not the password at all") || w.cookies["__Host-bulwark_session"] != "" {
			t.Errorf("a refused sign-in shows the password or signs in")
		}
	})
}

// TestPagesEscape: what staff or customers type is text on every page, and
// a product description is rendered from its sanitized form only.
func TestPagesEscape(t *testing.T) {
	onEngine(t, "sqlite", func(t *testing.T, db testenv.Database) {
		// The firewall would refuse these bodies; the pages must not depend
		// on it (a row restored from a backup, a rule set in detect mode).
		s := startServer(t, db, func(c *config.Config) { c.WAF = waf.Off })
		admin := s.createAdmin("escape-admin@example.com")
		var p product
		s.must(201, req{method: "POST", path: "/api/v1/admin/products", token: admin, body: map[string]any{
			"sku": "ESC-1", "name": `<img src=x onerror=alert(1)>"'`, "price": map[string]any{"amount": 100, "currency": "EUR"}, "stock": 5,
			"description": `<p>fine</p><script>alert(1)</script><a href="javascript:alert(2)">x</a><b onclick="alert(3)">b</b>`,
		}}).JSON(t, &p)
		v := newVisitor(t, s)
		for _, path := range []string{"/", "/products/" + p.ID, "/search?q=" + url.QueryEscape(`<script>alert(4)</script>`)} {
			a := v.get(path)
			for _, bad := range []string{"<img src=x", "<script>alert", "javascript:", "onclick"} {
				if strings.Contains(a.Body, bad) {
					t.Errorf("GET %s: the page holds %q", path, bad)
				}
			}
			if m := regexp.MustCompile(`<[^>]+ on[a-z]+=`).FindString(a.Body); m != "" {
				t.Errorf("GET %s: an element with an event handler: %s", path, m)
			}
		}
		if a := v.get("/products/" + p.ID); !strings.Contains(a.Body, "<p>fine</p>") || !strings.Contains(a.Body, "&lt;img src=x") {
			t.Errorf("the description's allowed HTML or the escaped name is missing:\n%s", a.Body)
		}
	})
}

// testPagesCSPReports: a violation report is counted by directive, in
// either format browsers send; anything else is a 400 and counts nothing.
func testPagesCSPReports(t *testing.T, s *server) {
	send := func(ctype, body string) int {
		return s.do(req{method: "POST", path: "/csp-report", body: body, header: map[string]string{"Content-Type": ctype}}).Status
	}
	if got := send("application/csp-report", `{"csp-report":{"document-uri":"http://localhost/","violated-directive":"script-src-elem","effective-directive":"script-src-elem","blocked-uri":"inline"}}`); got != 204 {
		t.Fatalf("a report-uri report: %d\n%s", got, s.Logs.String())
	}
	if got := send("application/reports+json", `[{"type":"csp-violation","body":{"documentURL":"http://localhost/","effectiveDirective":"style-src-attr","blockedURL":"inline"}}]`); got != 204 {
		t.Fatalf("a Reporting API report: %d", got)
	}
	if got := send("application/csp-report", `{"csp-report":{"effective-directive":"made-up-directive"}}`); got != 204 {
		t.Fatalf("a report of an unknown directive: %d", got)
	}
	if got := send("application/csp-report", `not json`); got != 400 {
		t.Errorf("a malformed report: %d, want 400", got)
	}
	if got := send("application/csp-report", `{"csp-report":{"blocked-uri":"`+strings.Repeat("x", 8<<10)+`"}}`); got != 413 {
		t.Errorf("an oversized report: %d, want 413", got)
	}
	for directive, want := range map[string]float64{"script-src-elem": 1, "style-src-attr": 1, "other": 1} {
		if got := s.metric(`bulwark_csp_violations_total{directive="` + directive + `"}`); got != want {
			t.Errorf("violations of %s: %v, want %v", directive, got, want)
		}
	}
}

// TestPagesTheme: web-theme-dir replaces a template and the stylesheet; the
// page names the theme's stylesheet with the theme file's integrity.
func TestPagesTheme(t *testing.T) {
	onEngine(t, "sqlite", func(t *testing.T, db testenv.Database) {
		theme := t.TempDir()
		css := "body { background: #fffbe6; }\n"
		if err := os.WriteFile(filepath.Join(theme, "site.css"), []byte(css), 0o644); err != nil {
			t.Fatal(err)
		}
		tmpl := `{{define "title"}}Sign in{{end}}{{define "content"}}<h1>Welcome to the themed shop</h1>{{end}}`
		if err := os.WriteFile(filepath.Join(theme, "signin.html"), []byte(tmpl), 0o644); err != nil {
			t.Fatal(err)
		}
		s := startServer(t, db, func(c *config.Config) { c.WebThemeDir = theme; c.ShopName = "Théâtre <Shop>" })
		v := newVisitor(t, s)
		a := v.get("/signin")
		if !strings.Contains(a.Body, "Welcome to the themed shop") || !strings.Contains(a.Body, "Théâtre &lt;Shop&gt;") {
			t.Fatalf("the theme's template or the shop's name is not used:\n%s", a.Body)
		}
		if !strings.Contains(a.Body, strings.ReplaceAll(sriOf([]byte(css)), "+", "&#43;")) {
			t.Errorf("the page does not name the theme's stylesheet by its integrity")
		}
	})
}

// TestPagesOff: with pages off, / and the page paths are the API's alone.
func TestPagesOff(t *testing.T) {
	onEngine(t, "sqlite", func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, func(c *config.Config) { c.Pages = false })
		v := newVisitor(t, s)
		if a := v.get("/"); !strings.HasPrefix(a.Header.Get("Content-Type"), "application/json") {
			t.Errorf("GET / with pages off: %s", a.Header.Get("Content-Type"))
		}
		if a := v.get("/signin"); a.Status != http.StatusNotFound {
			t.Errorf("GET /signin with pages off: %d", a.Status)
		}
	})
}

// TestConsoleBehindAdminAllowList: admin-ip-allow keeps the console's pages
// from every other address, as it does the staff API they call.
func TestConsoleBehindAdminAllowList(t *testing.T) {
	onEngine(t, "sqlite", func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, func(c *config.Config) { c.AdminIPAllow = "192.0.2.0/24" })
		v := newVisitor(t, s)
		for _, path := range []string{"/console", "/console/signin"} {
			if a := v.get(path); a.Status != http.StatusForbidden {
				t.Errorf("GET %s from outside admin-ip-allow: %d, want 403", path, a.Status)
			}
		}
		if a := v.get("/signin"); a.Status != http.StatusOK {
			t.Errorf("the storefront's sign-in is not behind admin-ip-allow: %d", a.Status)
		}
	})
}

// sriOf is the Subresource Integrity value of b.
func sriOf(b []byte) string {
	sum := sha512.Sum384(b)
	return "sha384-" + base64.StdEncoding.EncodeToString(sum[:])
}

// totpAt is the TOTP code of secret for the next time step on the server's
// clock (each code works once; the current step's may have been used).
func totpAt(t *testing.T, s *server, secret string) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, s.now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// testPagesResetAndErasure: a password reset and an erasure through the
// pages do what the API's do: the new password signs in and the old one
// does not; an erased account's session and sign-in end.
func testPagesResetAndErasure(t *testing.T, s *server) {
	const email = "reset-page@example.com"
	s.register(email)
	v := newVisitor(t, s)
	if a := v.post("/reset-password", url.Values{"email": {email}}); a.Status != http.StatusSeeOther {
		t.Fatalf("ask for a reset: %d", a.Status)
	}
	token := resetLink.FindStringSubmatch(s.takeMail(email, "#token=bwr_"))[1]
	const fresh = "a brand new passphrase for the page"
	if a := v.post("/reset-password/confirm", url.Values{"token": {token}, "password": {fresh}}); a.Status != http.StatusSeeOther ||
		a.Header.Get("Location") != "/signin?done=reset-done" {
		t.Fatalf("set the new password: %d %s", a.Status, a.Header.Get("Location"))
	}
	s.must(401, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": email, "password": testPassword}})
	if a := v.post("/signin", url.Values{"email": {email}, "password": {fresh}}); a.Status != http.StatusSeeOther {
		t.Fatalf("sign in with the new password: %d", a.Status)
	}
	if a := v.post("/account/erase", url.Values{"password": {"not the password"}}); a.Status == http.StatusSeeOther {
		t.Fatal("an erasure with a wrong password went through")
	}
	if a := v.post("/account/erase", url.Values{"password": {fresh}}); a.Status != http.StatusSeeOther || v.cookies["__Host-bulwark_session"] != "" {
		t.Fatalf("erase: %d, session %q", a.Status, v.cookies["__Host-bulwark_session"])
	}
	s.must(401, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": email, "password": fresh}})
	if a := v.get("/account"); a.Status != http.StatusSeeOther {
		t.Errorf("the account page after erasure: %d", a.Status)
	}
}
