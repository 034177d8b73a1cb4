package app_test

import (
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// The in-test provider's client registration (its example storage keeps
// clients in a package variable, so it is registered once).
const (
	oidcClientID     = "bulwark"
	oidcClientSecret = "test-client-secret"
	oidcRedirect     = "http://localhost:9999/api/v1/auth/oidc/callback"
	// oidcPageRedirect is the storefront's page that finishes a social login.
	oidcPageRedirect = "http://localhost:9999/signin/oidc"
)

var registerOIDCClient sync.Once

// startProvider runs zitadel/oidc's example OpenID provider on loopback.
func startProvider(t *testing.T) (issuer, username string) {
	t.Helper()
	registerOIDCClient.Do(func() {
		storage.RegisterClients(storage.WebClient(oidcClientID, oidcClientSecret, oidcRedirect, oidcPageRedirect))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer = "http://" + ln.Addr().String()
	router := exampleop.SetupServer(issuer, storage.NewStorage(providerUsers{}), nil, false)
	srv := &http.Server{Handler: router, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return issuer, "verified"
}

// providerUsers are the provider's accounts: one whose email the provider
// verified, one whose email it did not.
type providerUsers struct{}

var providerAccounts = map[string]*storage.User{
	"u1": {ID: "u1", Username: "verified", Password: "verysecure", FirstName: "Vera", LastName: "Fied",
		Email: "test-user@zitadel.ch", EmailVerified: true},
	"u2": {ID: "u2", Username: "unverified", Password: "verysecure", FirstName: "Un", LastName: "Verified",
		Email: "unverified@example.com", EmailVerified: false},
}

func (providerUsers) GetUserByID(id string) *storage.User { return providerAccounts[id] }
func (providerUsers) GetUserByUsername(name string) *storage.User {
	for _, u := range providerAccounts {
		if u.Username == name {
			return u
		}
	}
	return nil
}
func (providerUsers) ExampleClientID() string { return "service" }

// oidcLogin walks the browser's part: Bulwark's begin, the provider's login
// form, and back to Bulwark's callback, which it returns as a request to make.
func oidcLogin(t *testing.T, s *server, username, password string) (callback *url.URL, binding string) {
	t.Helper()
	return oidcLoginVia(t, s, username, password, oidcRedirect)
}

// oidcLoginVia is oidcLogin for a shop whose redirect URL is redirect.
func oidcLoginVia(t *testing.T, s *server, username, password, redirect string) (callback *url.URL, binding string) {
	t.Helper()
	noFollow := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Get(s.URL + "/api/v1/auth/oidc/begin")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 302 {
		t.Fatalf("begin = %d", res.StatusCode)
	}
	for _, c := range res.Cookies() {
		if c.Name == "__Host-bulwark_oidc" {
			binding = c.Value
		}
	}
	// At the provider: follow its redirects to the login form.
	follow := &http.Client{Timeout: 10 * time.Second}
	form, err := follow.Get(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	form.Body.Close()
	authRequestID := form.Request.URL.Query().Get("authRequestID")
	if authRequestID == "" {
		t.Fatalf("no login form at the provider: %s", form.Request.URL)
	}
	// Submit the form, and follow the provider's redirects until it sends the
	// browser back to the shop.
	back := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), redirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	loginURL := *form.Request.URL
	loginURL.RawQuery = ""
	done, err := back.PostForm(loginURL.String(), url.Values{"username": {username}, "password": {password}, "id": {authRequestID}})
	if err != nil {
		t.Fatal(err)
	}
	done.Body.Close()
	loc, err := url.Parse(done.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), redirect) {
		t.Fatalf("the provider did not send the browser back: %d %q", done.StatusCode, done.Header.Get("Location"))
	}
	target, _ := url.Parse(s.URL + loc.Path)
	target.RawQuery = loc.RawQuery
	return target, binding
}

func (s *server) callback(u *url.URL, binding string) response {
	s.t.Helper()
	h := map[string]string{}
	if binding != "" {
		h["Cookie"] = "__Host-bulwark_oidc=" + binding
	}
	return s.do(req{method: "GET", path: strings.TrimPrefix(u.String(), s.URL), header: h})
}

func TestOIDCLogin(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		issuer, username := startProvider(t)
		s := startServer(t, db, func(c *config.Config) {
			c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret, c.OIDCRedirectURL = issuer, oidcClientID, oidcClientSecret, oidcRedirect
		})
		// An account with the provider's verified email exists: the login links to it.
		existing := s.register("test-user@zitadel.ch")

		t.Run("code flow with PKCE links by verified email", func(t *testing.T) {
			cb, binding := oidcLogin(t, s, username, "verysecure")
			res := s.callback(cb, binding)
			if res.Status != 200 {
				t.Fatalf("callback = %d %s", res.Status, res.Body)
			}
			var out struct {
				Token string
				User  user
			}
			res.JSON(t, &out)
			if out.User.ID != existing.ID {
				t.Fatalf("logged in as %s, want the linked account %s", out.User.ID, existing.ID)
			}
			s.must(200, req{method: "GET", path: "/api/v1/me", token: out.Token})
			if s.countAudit("user.oidc_link") != 1 {
				t.Fatal("the link was not audited")
			}
		})

		t.Run("the same identity logs in again, no second link", func(t *testing.T) {
			cb, binding := oidcLogin(t, s, username, "verysecure")
			if res := s.callback(cb, binding); res.Status != 200 {
				t.Fatalf("second login = %d %s", res.Status, res.Body)
			}
			if s.countAudit("user.oidc_link") != 1 {
				t.Fatal("linked twice")
			}
		})

		t.Run("a callback replayed is refused", func(t *testing.T) {
			cb, binding := oidcLogin(t, s, username, "verysecure")
			if res := s.callback(cb, binding); res.Status != 200 {
				t.Fatalf("first use = %d %s", res.Status, res.Body)
			}
			if res := s.callback(cb, binding); res.Status != 401 || res.Code(t) != "oidc_failed" {
				t.Fatalf("replayed callback = %d %s", res.Status, res.Body)
			}
		})

		t.Run("a forged state is refused", func(t *testing.T) {
			cb, binding := oidcLogin(t, s, username, "verysecure")
			q := cb.Query()
			q.Set("state", "forged-state")
			cb.RawQuery = q.Encode()
			if res := s.callback(cb, binding); res.Status != 401 || res.Code(t) != "oidc_failed" {
				t.Fatalf("forged state = %d %s", res.Status, res.Body)
			}
		})

		t.Run("another browser cannot finish the login (login CSRF)", func(t *testing.T) {
			cb, _ := oidcLogin(t, s, username, "verysecure")
			if res := s.callback(cb, ""); res.Status != 401 {
				t.Fatalf("callback without the binding cookie = %d", res.Status)
			}
		})

		t.Run("a code from another login does not pass this login's PKCE check", func(t *testing.T) {
			first, binding := oidcLogin(t, s, username, "verysecure")
			second, _ := oidcLogin(t, s, username, "verysecure")
			q := first.Query()
			q.Set("code", second.Query().Get("code"))
			first.RawQuery = q.Encode()
			if res := s.callback(first, binding); res.Status != 401 || res.Code(t) != "oidc_failed" {
				t.Fatalf("swapped code = %d %s", res.Status, res.Body)
			}
		})

		t.Run("an ID token with another login's nonce is refused", func(t *testing.T) {
			cb, binding := oidcLogin(t, s, username, "verysecure")
			// The provider put this login's nonce in the token; make the shop expect
			// another, as if the token had been issued for a different login.
			if _, err := rawDB(t, s.Config).Exec("UPDATE oidc_logins SET nonce = $1 WHERE state = $2", "some-other-nonce", cb.Query().Get("state")); err != nil {
				t.Fatal(err)
			}
			if res := s.callback(cb, binding); res.Status != 401 || res.Code(t) != "oidc_failed" {
				t.Fatalf("wrong nonce = %d %s", res.Status, res.Body)
			}
		})

		t.Run("an email the provider has not verified links nothing", func(t *testing.T) {
			s.register("unverified@example.com") // an account an attacker would like to take over
			cb, binding := oidcLogin(t, s, "unverified", "verysecure")
			if res := s.callback(cb, binding); res.Status != 422 || res.Code(t) != "oidc_email_unverified" {
				t.Fatalf("unverified email = %d %s", res.Status, res.Body)
			}
		})
	})
}

// TestOIDCSignInPage: with oidc-redirect-url on the storefront's page, a
// social login ends signed in on the account page; an account with a second
// factor gets the second step's form, and the code finishes it — the API's
// one gate decides, the page only carries the ticket.
func TestOIDCSignInPage(t *testing.T) {
	onEngine(t, "sqlite", func(t *testing.T, db testenv.Database) {
		issuer, username := startProvider(t)
		s := startServer(t, db, func(c *config.Config) {
			c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret, c.OIDCRedirectURL = issuer, oidcClientID, oidcClientSecret, oidcPageRedirect
		})
		s.register("test-user@zitadel.ch")
		visit := func(cb *url.URL, binding string) (*visitor, pageAnswer) {
			v := newVisitor(t, s)
			v.cookies["__Host-bulwark_oidc"] = binding
			return v, v.get(strings.TrimPrefix(cb.String(), s.URL))
		}
		if a := newVisitor(t, s).get("/signin"); !strings.Contains(a.Body, `href="/api/v1/auth/oidc/begin"`) {
			t.Fatal("the sign-in page does not offer the provider")
		}
		v, a := visit(oidcLoginVia(t, s, username, "verysecure", oidcPageRedirect))
		if a.Status != http.StatusSeeOther || a.Header.Get("Location") != "/account?done=signed-in" || v.cookies["__Host-bulwark_session"] == "" {
			t.Fatalf("the page's callback: %d %s\n%s", a.Status, a.Header.Get("Location"), a.Body)
		}
		if a := v.get("/account"); a.Status != http.StatusOK || !strings.Contains(a.Body, "test-user@zitadel.ch") {
			t.Fatalf("the account after a social login: %d", a.Status)
		}

		secret := s.enableMFA(s.login("test-user@zitadel.ch", testPassword))
		v, a = visit(oidcLoginVia(t, s, username, "verysecure", oidcPageRedirect))
		m := regexp.MustCompile(`name="ticket" value="([^"]+)"`).FindStringSubmatch(a.Body)
		if a.Status != http.StatusOK || m == nil || v.cookies["__Host-bulwark_session"] != "" {
			t.Fatalf("a social login of an account with a second factor: %d, session %q\n%s", a.Status, v.cookies["__Host-bulwark_session"], a.Body)
		}
		code, err := totp.GenerateCode(secret, s.now().Add(30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if a := v.post("/signin/mfa", url.Values{"ticket": {m[1]}, "otp": {code}}); a.Status != http.StatusSeeOther || v.cookies["__Host-bulwark_session"] == "" {
			t.Fatalf("the second step: %d\n%s", a.Status, a.Body)
		}
		// A wrong code spends the ticket (the API's rule): the form says so.
		v, a = visit(oidcLoginVia(t, s, username, "verysecure", oidcPageRedirect))
		m = regexp.MustCompile(`name="ticket" value="([^"]+)"`).FindStringSubmatch(a.Body)
		if a := v.post("/signin/mfa", url.Values{"ticket": {m[1]}, "otp": {"000000"}}); a.Status == http.StatusSeeOther || v.cookies["__Host-bulwark_session"] != "" {
			t.Fatalf("a wrong code finished the sign-in: %d", a.Status)
		}
	})
}
