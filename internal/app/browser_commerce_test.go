package app_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// dialogs accepts every confirmation a page asks for (the console's
// data-confirm forms) as a person clicking OK would, and keeps every
// dialog's type and message, so a test can see that no alert ever opened.
type dialogs struct {
	mu   sync.Mutex
	seen []string
}

func (b *browser) answerDialogs() *dialogs {
	d := &dialogs{}
	opening := chromedp.Events(b.ctx, page.JavascriptDialogOpening)
	go func() {
		for e, err := range opening {
			if err != nil {
				return
			}
			d.mu.Lock()
			d.seen = append(d.seen, string(e.Type)+": "+e.Message)
			d.mu.Unlock()
			// Answered from another goroutine than the one reading events.
			go func() {
				_ = chromedp.Do(b.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
					_, err := cdp.Call(ctx, t, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
					return err
				}))
			}()
		}
	}()
	return d
}

// alerts are the dialogs seen that were not the console's confirmations.
func (d *dialogs) alerts() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, s := range d.seen {
		if !strings.HasPrefix(s, string(page.DialogTypeConfirm)+": ") {
			out = append(out, s)
		}
	}
	return out
}

// consoleSignIn signs email in on the console's sign-in page with its
// password and the code of its authenticator (the next time step's, as
// loginWithMFA: the current one may have confirmed the enrolment). The
// API's password login takes the second factor with the password (it gives
// an MFA ticket only to a social login), so the console's form has both.
func consoleSignIn(b *browser, s *server, email string) {
	b.t.Helper()
	b.visit("/console/signin", "")
	code, err := totp.GenerateCode(s.secrets[email], s.now().Add(30*time.Second))
	if err != nil {
		b.t.Fatal(err)
	}
	b.fill("#email", email)
	b.fill("#password", testPassword)
	b.fill("#signin-otp", code)
	b.submit("#signin-otp")
	b.check("")
	if loc := b.location(); !strings.HasPrefix(loc, "/console?") {
		b.t.Fatalf("signed in to %s, want the console:\n%s", loc, b.text())
	}
}

// selectValue chooses value in the select sel, as a person would.
func (b *browser) selectValue(sel, value string) {
	b.t.Helper()
	if !eval[bool](b, `(() => { const s = document.querySelector(`+jsonOf(sel)+`);
	  if (![...s.options].some((o) => o.value === `+jsonOf(value)+`)) return false;
	  s.value = `+jsonOf(value)+`; s.dispatchEvent(new Event("change", {bubbles: true})); return true; })()`) {
		b.t.Fatalf("select %s has no option %q", sel, value)
	}
}

// tick checks the checkbox sel (no navigation).
func (b *browser) tick(sel string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(sel)))
}

// TestCommerceConsoleInBrowser walks the console's commerce pages as an
// admin: a category and a product (whose description carries a script that
// must never run), a second variant, a stock delivery, a discount code; a
// customer's order fulfilled and partly refunded on its page; an API key
// whose secret is shown once. Every page passes the browser checks.
func TestCommerceConsoleInBrowser(t *testing.T) {
	onEngine(t, "sqlite", func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		const email = "console-admin@example.com"
		admin := s.createAdmin(email)
		b := newBrowser(t, s)
		seen := b.answerDialogs()
		consoleSignIn(b, s, email)
		b.mustSee("Overview")

		// A category, then a product in it.
		b.visit("/console/catalog/categories", "")
		b.fill("#cat-name", "Shirts")
		b.fill("#cat-slug", "shirts")
		b.submit("#cat-slug")
		b.check("")
		b.mustSee("The category is created.", "Shirts")

		b.visit("/console/catalog/new", "")
		b.fill("#name", "Linen shirt")
		b.fill("#description", `<p>Soft linen.</p><script>alert(1)</script><b>bold</b>`)
		b.selectValue("#status", "active")
		b.tick(`input[name=category]`)
		b.fill("#options", "size: S, M")
		b.fill("#variant-options", "size=S")
		b.fill("#sku", "LS-S")
		b.fill("#prices", "19.99 EUR")
		b.fill("#stock", "5")
		b.click("#product-save")
		b.check("")
		b.mustSee("The product is created.", "Linen shirt", "Soft linen.", "bold")
		loc := b.location()
		productID, _, _ := strings.Cut(strings.TrimPrefix(loc, "/console/catalog/products/"), "?")
		if !strings.HasPrefix(productID, "prod_") {
			t.Fatalf("after creating the product: %s", loc)
		}
		noScript := `document.querySelectorAll("main script").length === 0 && !document.querySelector("main").innerHTML.includes("alert(1)")`
		if !eval[bool](b, noScript) {
			t.Fatal("the console's product page holds the description's script")
		}

		// A second variant, and a delivery of stock for the first.
		b.selectValue("#opt-size", "M")
		b.fill("#new-sku", "LS-M")
		b.fill("#new-prices", "21.00 EUR")
		b.fill("#new-stock", "3")
		b.click("#variant-add")
		b.check("")
		b.mustSee("The variant is added.", "M · LS-M · stock 3")
		first := eval[string](b, `document.querySelector("input[id^=delta-]").id.slice(6)`)
		b.fill("#delta-"+first, "7")
		b.fill("#reason-"+first, "Delivery from the weaver")
		b.submit("#reason-" + first)
		b.check("console-product")
		b.mustSee("The stock is adjusted.", "S · LS-S · stock 12")

		// The storefront shows the description without its script.
		b.visit("/products/"+productID, "")
		b.mustSee("Soft linen.", "bold")
		if !eval[bool](b, noScript) {
			t.Fatal("the storefront's product page holds the description's script")
		}

		b.visit("/console/catalog?status=active", "console-catalog")
		b.mustSee("Linen shirt", "LS-S")

		// A discount code.
		b.visit("/console/pricing", "")
		b.fill("#d-code", "spring-10")
		b.fill("#d-percent", "10")
		b.click("#discount-create")
		b.check("console-pricing")
		b.mustSee("The discount code is created.", "SPRING10", "10 %")

		// A customer's order, made through the API.
		var prod struct {
			Variants []struct{ ID, SKU string }
		}
		s.must(200, req{method: "GET", path: "/api/v1/products/" + productID}).JSON(t, &prod)
		sh := s.shopper("console-buyer@example.com", "4242424242424242")
		cart := s.cartWith(sh, 2, prod.Variants[0].ID)
		var o orderJSON
		s.must(201, checkoutReq(sh, "console-order-1", cart, "123")).JSON(t, &o)

		b.visit("/console/orders", "console-orders")
		b.mustSee(o.ID, "paid", "console-buyer@example.com")
		b.visit("/console/orders/"+o.ID, "")
		b.mustSee("Linen shirt", "39.98 EUR", "Visa ending in 4242")
		b.fill("#carrier", "DHL")
		b.fill("#tracking", "JD0001")
		b.click("#fulfil-submit")
		b.check("")
		b.mustSee("The fulfilment is recorded.", "fulfilled", "JD0001")
		b.fill("#refund-amount", "5.00")
		b.click("#refund-submit")
		b.check("console-order")
		b.mustSee("The refund is made.", "partially refunded", "5.00 EUR")
		var after orderJSON
		s.must(200, req{method: "GET", path: "/api/v1/admin/orders/" + o.ID, token: admin}).JSON(t, &after)
		if after.Status != "partially_refunded" || after.Refunded.Amount != 500 {
			t.Fatalf("after the page's refund the order is %s, refunded %d", after.Status, after.Refunded.Amount)
		}

		// An API key: its secret is shown once, and works.
		b.visit("/console/keys", "")
		b.fill("#key-name", "Warehouse")
		b.tick(`input[value="orders:read"]`)
		b.click("#key-create")
		b.check("console-keys")
		b.mustSee("Your new key", "Warehouse")
		key := eval[string](b, `document.querySelector("#new-key").textContent`)
		if !strings.HasPrefix(key, "bwk_") {
			t.Fatalf("key shown: %q", key)
		}
		s.must(200, req{method: "GET", path: "/api/v1/admin/orders", token: key})
		b.visit("/console/keys", "")
		if strings.Contains(b.text(), key) {
			t.Fatal("the key is shown again")
		}
		b.mustSee("Warehouse", "orders:read")

		b.visit("/console/webhooks", "console-webhooks")
		b.visit("/console/users", "console-users")
		b.mustSee("Staff accounts", "admin")
		b.visit("/console/mail", "")
		b.visit("/console/mail/confirmation", "")

		if a := seen.alerts(); len(a) > 0 {
			t.Fatalf("dialogs opened: %v", a)
		}
	})
}

// consolePost posts form to a console page as the holder of token (its
// session cookie), with a CSRF token unless csrf is false; it returns the
// status and the Location or body. No redirect is followed.
func (s *server) consolePost(token, path string, form url.Values, csrf bool) (int, string) {
	s.t.Helper()
	const csrfValue = "commerce-console-test-csrf-token-0123456789" // 43 characters, as the pages make
	cookies := "__Host-bulwark_session=" + token
	if csrf {
		form.Set("csrf", csrfValue)
		cookies += "; __Host-bulwark_csrf=" + csrfValue
	}
	r, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		s.t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Cookie", cookies)
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(r)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if loc := res.Header.Get("Location"); loc != "" {
		return res.StatusCode, loc
	}
	return res.StatusCode, string(b)
}

// TestCommerceConsoleRefusals: the console's forms decide nothing. A
// catalog member (no refund permission) and a support member (may read,
// not refund) refunding through the order page get the API's 403, and no
// money moves; an admin whose sign-in is older than the API's step-up
// window is sent to sign in again, and no money moves; a product form
// without its CSRF token creates nothing.
func TestCommerceConsoleRefusals(t *testing.T) {
	onEngine(t, "sqlite", func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("refusals-admin@example.com")
		catalog := s.staff(admin, "refusals-catalog@example.com", "catalog")
		support := s.staff(admin, "refusals-support@example.com", "support")
		prod := s.createProduct(admin, "REFUSE-1", 10)
		sh := s.shopper("refusals-buyer@example.com", "4242424242424242")
		var o orderJSON
		s.must(201, checkoutReq(sh, "refusals-order", s.cartWith(sh, 1, prod.ID), "123")).JSON(t, &o)
		refund := func() url.Values {
			return url.Values{"amount": {"1.00"}, "currency": {"EUR"}, "key": {"page-refund-" + time.Now().Format("150405.000000000")}}
		}
		refunded := func() int64 {
			var after orderJSON
			s.must(200, req{method: "GET", path: "/api/v1/admin/orders/" + o.ID, token: admin}).JSON(t, &after)
			return after.Refunded.Amount
		}

		t.Run("a catalog member's refund is the API's 403", func(t *testing.T) {
			status, body := s.consolePost(catalog, "/console/orders/"+o.ID+"/refund", refund(), true)
			if status != http.StatusForbidden || !strings.Contains(body, "permission") {
				t.Fatalf("refund as catalog: %d\n%s", status, body)
			}
			if n := refunded(); n != 0 {
				t.Fatalf("refunded %d", n)
			}
		})
		t.Run("a support member reads the order but its refund is the API's 403", func(t *testing.T) {
			status, body := s.consolePost(support, "/console/orders/"+o.ID+"/refund", refund(), true)
			if status != http.StatusForbidden || !strings.Contains(body, o.ID) || !strings.Contains(body, "permission") {
				t.Fatalf("refund as support: %d\n%s", status, body)
			}
			if n := refunded(); n != 0 {
				t.Fatalf("refunded %d", n)
			}
		})
		t.Run("a refund needs the API's recent sign-in", func(t *testing.T) {
			s.Clock.Advance(6 * time.Minute)
			status, loc := s.consolePost(admin, "/console/orders/"+o.ID+"/refund", refund(), true)
			want := "/console/signin?next=" + url.QueryEscape("/console/orders/"+o.ID) + "&done=reauth"
			if status != http.StatusSeeOther || loc != want {
				t.Fatalf("stale refund: %d %s, want 303 %s", status, loc, want)
			}
			if n := refunded(); n != 0 {
				t.Fatalf("refunded %d", n)
			}
			fresh := s.loginWithMFA("refusals-admin@example.com", s.secrets["refusals-admin@example.com"])
			if status, loc := s.consolePost(fresh, "/console/orders/"+o.ID+"/refund", refund(), true); status != http.StatusSeeOther ||
				!strings.HasSuffix(loc, "done=refunded") {
				t.Fatalf("fresh refund: %d %s", status, loc)
			}
			if n := refunded(); n != 100 {
				t.Fatalf("refunded %d, want 100", n)
			}
		})
		t.Run("a product form without its CSRF token creates nothing", func(t *testing.T) {
			form := url.Values{"name": {"Forged"}, "description": {"x"}, "status": {"active"}, "sku": {"FORGED-1"},
				"prices": {"1.00 EUR"}, "stock": {"1"}}
			if status, _ := s.consolePost(admin, "/console/catalog/products", form, false); status != http.StatusForbidden {
				t.Fatalf("product form without CSRF: %d", status)
			}
			var list struct{ Items []product }
			s.must(200, req{method: "GET", path: "/api/v1/admin/products?q=FORGED", token: admin}).JSON(t, &list)
			if len(list.Items) != 0 {
				t.Fatalf("a product was created: %+v", list.Items)
			}
		})
	})
}
