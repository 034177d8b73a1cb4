package app_test

import (
	"context"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// TestCustomerJourneyInBrowser is issue 17's customer, in Chromium, with the
// keyboard: signs up, confirms the address from the mailed link, signs in,
// finds a product by the header's search, picks its second variant, adds it
// to the cart, ships to a new address, pays with a new test card, sees the
// order, turns two-step sign-in on with the key the page shows, downloads
// their data; then signs out and in again with the code. Every page visited
// passes the page checks.
func TestCustomerJourneyInBrowser(t *testing.T) {
	onEngine(t, "sqlite", func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, withCurrencies("EUR,USD"))
		admin := s.createAdmin("journey-admin@example.com")
		var prod fullProduct
		s.must(201, req{method: "POST", path: "/api/v1/admin/products", token: admin, body: twoSizes("LINEN", "active")}).JSON(t, &prod)
		b := newBrowser(t, s)
		const email = "journey@example.com"

		b.visit("/signup", "storefront-signup")
		b.fill("#name", "Jo Journey")
		b.fill("#email", email)
		b.fill("#password", testPassword)
		b.submit("#password")
		b.check("")
		b.mustSee("Check your mail")
		b.visit("/verify-email#token="+s.takeVerification(email), "")
		// app.js takes the token from the fragment and sends the form.
		waitFor(t, "the mailed link to confirm the address", func() bool { return strings.HasPrefix(b.location(), "/signin") })
		b.check("")
		b.mustSee("Your address is confirmed")
		if strings.Contains(eval[string](b, `location.href`), "bwv_") {
			t.Error("the token stayed in the address bar")
		}

		b.fill("#email", email)
		b.fill("#password", testPassword)
		b.submit("#password")
		b.check("")
		b.mustSee("Your orders", "No orders yet")

		b.fill("#site-search", "Tee LINEN")
		b.submit("#site-search")
		b.check("storefront-search")
		b.mustSee(prod.Name)
		b.click(`a[href="/products/` + prod.ID + `"]`)
		b.check("")
		second := prod.Variants[1]
		b.do(chromedp.Click(chromedp.CSS("#v-" + second.ID)))
		b.fill("#qty", "2")
		b.submit("#qty")
		b.check("storefront-cart")
		b.mustSee("Added to your cart", "Tee LINEN", "size: M", "24.00 EUR")

		b.click(`a[href="/checkout"]`)
		b.check("")
		b.fill("#addr-name", "Jo Journey")
		b.fill("#addr-line1", "1 Test Street")
		b.fill("#addr-city", "Berlin")
		b.fill("#addr-postal", "10115")
		b.fill("#addr-country", "DE")
		b.submit("#addr-country")
		b.check("storefront-checkout")
		b.mustSee("2. Payment")
		b.fill("#card-number", "4242 4242 4242 4242")
		b.fill("#card-holder", "Jo Journey")
		b.fill("#card-month", "12")
		b.fill("#card-year", "2035")
		b.fill("#card-cvc", "123")
		b.submit("#card-cvc")
		b.check("storefront-order")
		b.mustSee("Thank you: your order is placed.", "Tee LINEN", "size: M", "ending 4242", "Berlin")
		orderID := strings.TrimPrefix(strings.SplitN(b.location(), "?", 2)[0], "/account/orders/")
		b.visit("/account", "storefront-account")
		b.mustSee(orderID)

		b.visit("/account/security", "")
		b.click(`form[action="/account/totp"] button`)
		b.check("")
		secret := eval[string](b, `document.getElementById("totp-secret").textContent`)
		code, err := totp.GenerateCode(secret, s.now())
		if err != nil {
			t.Fatal(err)
		}
		b.fill("#totp-confirm", code)
		b.submit("#totp-confirm")
		b.check("account-security")
		b.mustSee("Two-step sign-in is on.")
		if n := eval[int](b, `document.querySelectorAll("#recovery-codes li").length`); n != 10 {
			t.Errorf("%d recovery codes shown, want 10", n)
		}

		export := eval[string](b, `fetch("/account/export", {credentials: "same-origin"}).then((r) => r.status + " " + r.headers.get("Content-Disposition"))`)
		if !strings.HasPrefix(export, "200 attachment") {
			t.Fatalf("the export's answer: %q", export)
		}
		body := eval[string](b, `fetch("/account/export", {credentials: "same-origin"}).then((r) => r.text())`)
		if !strings.Contains(body, email) || !strings.Contains(body, orderID) {
			t.Fatalf("the export lacks the account's email or order:\n%.400s", body)
		}

		// Signed out, the account asks for the code with the password.
		b.click(`form[action="/signout"] button`)
		b.check("")
		b.visit("/signin", "storefront-signin")
		b.fill("#email", email)
		b.fill("#password", testPassword)
		b.submit("#password")
		b.check("")
		b.mustSee("two-step sign-in")
		code, err = totp.GenerateCode(secret, s.now().Add(30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		b.fill("#password", testPassword)
		b.fill("#signin-otp", code)
		b.submit("#signin-otp")
		b.check("")
		b.mustSee("Your orders", orderID)
	})
}

// TestShopPagesRefusals: the storefront's forms change nothing without the
// visitor's token or from another site, a customer sees only their own
// order, and a card number typed into the checkout never reaches the log.
func TestShopPagesRefusals(t *testing.T) {
	onEngine(t, "sqlite", func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("refusals-admin@example.com")
		p := s.createProduct(admin, "REFUSE-1", 10)
		s.register("alice@example.com")
		s.register("bob@example.com")
		alice, bob := newVisitor(t, s), newVisitor(t, s)
		alice.signIn("alice@example.com")
		bob.signIn("bob@example.com")

		if a := alice.post("/cart/items", urlValues("variant", p.ID, "quantity", "1")); a.Status != http.StatusSeeOther {
			t.Fatalf("add to cart: %d\n%s", a.Status, a.Body)
		}
		a := alice.post("/checkout/address", urlValues("address_id", "new", "name", "Alice", "line1", "1 Road", "city", "Paris", "postal_code", "75001", "country", "FR"))
		if a.Status != http.StatusSeeOther {
			t.Fatalf("ship to: %d\n%s", a.Status, a.Body)
		}
		form := alice.get(a.Header.Get("Location"))
		field := func(name string) string {
			m := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(form.Body)
			if m == nil {
				t.Fatalf("no %s in the checkout form:\n%s", name, form.Body)
			}
			return m[1]
		}
		pay := urlValues("idempotency_key", field("idempotency_key"), "expected_amount", field("expected_amount"),
			"expected_currency", field("expected_currency"), "address_id", field("address_id"),
			"payment_method", "new", "number", "4000 0566 5566 5556", "holder", "Alice", "exp_month", "12", "exp_year", "2035", "cvc", "737")

		t.Run("a checkout without the token orders nothing", func(t *testing.T) {
			if r := alice.request(http.MethodPost, "/checkout", pay, nil); r.Status != http.StatusForbidden {
				t.Fatalf("%d", r.Status)
			}
			if r := alice.request(http.MethodPost, "/checkout", withCSRF(pay, alice), map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}); r.Status != http.StatusForbidden {
				t.Fatalf("a cross-site checkout: %d", r.Status)
			}
			var orders struct{ Items []struct{ ID string } }
			s.must(200, req{method: "GET", path: "/api/v1/admin/orders", token: admin}).JSON(t, &orders)
			if len(orders.Items) != 0 {
				t.Fatalf("orders made: %+v", orders.Items)
			}
		})
		var orderPath string
		t.Run("the checkout orders once, even sent twice", func(t *testing.T) {
			r := alice.post("/checkout", pay)
			if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/account/orders/ord_") {
				t.Fatalf("checkout: %d %s\n%s", r.Status, r.Header.Get("Location"), r.Body)
			}
			orderPath = strings.SplitN(r.Header.Get("Location"), "?", 2)[0]
			again := alice.post("/checkout", pay) // the same form again
			if again.Status != http.StatusSeeOther || !strings.HasPrefix(again.Header.Get("Location"), "/account?done=") {
				t.Errorf("the form sent again: %d %s", again.Status, again.Header.Get("Location"))
			}
			var methods struct{ Items []struct{ ID string } }
			s.must(200, req{method: "GET", path: "/api/v1/payment-methods", token: s.login("alice@example.com", testPassword)}).JSON(t, &methods)
			if len(methods.Items) != 1 {
				t.Errorf("%d saved cards after the form was sent twice, want the one that paid", len(methods.Items))
			}
			var orders struct{ Items []struct{ ID string } }
			s.must(200, req{method: "GET", path: "/api/v1/admin/orders", token: admin}).JSON(t, &orders)
			if len(orders.Items) != 1 {
				t.Fatalf("%d orders after the form was sent twice", len(orders.Items))
			}
		})
		t.Run("only the owner sees an order", func(t *testing.T) {
			if r := alice.get(orderPath); r.Status != http.StatusOK || !strings.Contains(r.Body, "ending 5556") {
				t.Fatalf("the owner: %d", r.Status)
			}
			if r := bob.get(orderPath); r.Status != http.StatusNotFound || strings.Contains(r.Body, "Paris") {
				t.Fatalf("another customer: %d", r.Status)
			}
			if r := newVisitor(t, s).get(orderPath); r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/signin?next=") {
				t.Fatalf("a stranger: %d %s", r.Status, r.Header.Get("Location"))
			}
		})
		t.Run("a shipped line can be returned from the order page", func(t *testing.T) {
			orderID := strings.TrimPrefix(orderPath, "/account/orders/")
			var o struct {
				Items []struct {
					LineID string `json:"line_id"`
				}
			}
			s.must(200, req{method: "GET", path: "/api/v1/admin/orders/" + orderID, token: admin}).JSON(t, &o)
			if r := alice.get(orderPath); strings.Contains(r.Body, "Ask for a return") {
				t.Fatal("a return offered before anything shipped")
			}
			s.must(201, req{method: "POST", path: "/api/v1/admin/orders/" + orderID + "/fulfillments", token: admin,
				body: map[string]any{"lines": []any{line(o.Items[0].LineID, 1)}, "carrier": "DHL", "tracking_number": "JD0001"}})
			if r := bob.post(orderPath+"/returns", urlValues("qty-"+o.Items[0].LineID, "1", "reason", "not mine")); r.Status != http.StatusNotFound {
				t.Fatalf("another customer's return: %d", r.Status)
			}
			r := alice.post(orderPath+"/returns", urlValues("qty-"+o.Items[0].LineID, "1", "reason", "too small"))
			if r.Status != http.StatusSeeOther || !strings.HasSuffix(r.Header.Get("Location"), "done=return-requested") {
				t.Fatalf("the return: %d %s\n%s", r.Status, r.Header.Get("Location"), r.Body)
			}
			if page := alice.get(orderPath); !strings.Contains(page.Body, ": requested") {
				t.Errorf("the order page does not show the return")
			}
		})
		t.Run("the card number stays out of the log and the pages", func(t *testing.T) {
			for _, n := range []string{"4000056655665556", "4000 0566 5566 5556"} {
				if strings.Contains(s.Logs.String(), n) {
					t.Error("the card number is in the server's log")
				}
				if r := alice.get(orderPath); strings.Contains(r.Body, n) {
					t.Error("the card number is on the order page")
				}
			}
		})
	})
}

// freePort is a loopback port free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// urlValues makes form values from name, value pairs.
func urlValues(kv ...string) map[string][]string {
	out := map[string][]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = []string{kv[i+1]}
	}
	return out
}

// withCSRF is form with the visitor's token.
func withCSRF(form map[string][]string, v *visitor) map[string][]string {
	out := map[string][]string{"csrf": {v.cookies["__Host-bulwark_csrf"]}}
	for k, vals := range form {
		out[k] = vals
	}
	return out
}

// TestPasskeyInBrowser: a customer adds a passkey on the security page
// (app.js drives the browser's WebAuthn API against Chromium's virtual
// authenticator, user-verifying, as a phone's would), signs out, and signs
// in with the passkey alone: the API's one gate counts a user-verified
// passkey as both factors.
func TestPasskeyInBrowser(t *testing.T) {
	onEngine(t, "sqlite", func(t *testing.T, db testenv.Database) {
		// A passkey is bound to public-url's origin: the server listens
		// where the browser goes, http://localhost:<port>.
		port := freePort(t)
		s := startServer(t, db, func(c *config.Config) {
			c.Listen, c.PublicURL = "127.0.0.1:"+port, "http://localhost:"+port
		})
		const email = "passkey-shopper@example.com"
		s.register(email)
		b := newBrowser(t, s)
		authenticator := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if _, err := cdp.Call(ctx, tg, webauthn.Enable, webauthn.EnableParams{}); err != nil {
				return err
			}
			_, err := cdp.Call(ctx, tg, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
				Options: &webauthn.VirtualAuthenticatorOptions{Protocol: webauthn.AuthenticatorProtocolCtap2,
					Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
					IsUserVerified: true, AutomaticPresenceSimulation: true}})
			return err
		})
		b.do(authenticator)

		b.visit("/signin", "")
		b.fill("#email", email)
		b.fill("#password", testPassword)
		b.submit("#password")
		b.check("")
		b.visit("/account/security", "")
		b.mustSee("No passkeys yet.")
		b.click("#passkey-add")
		b.check("")
		b.mustSee("Passkey added")

		b.click(`form[action="/signout"] button`)
		b.check("")
		b.visit("/signin", "")
		b.click("#passkey-signin")
		b.check("")
		if loc := b.location(); loc != "/account" {
			t.Fatalf("after the passkey sign-in: %s\n%s", loc, b.text())
		}
		b.mustSee("Signed in as", email)
	})
}
